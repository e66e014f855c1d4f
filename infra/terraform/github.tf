# GitHub Actions federation: workflows of one repository exchange their OIDC token for short-lived
# AWS credentials, so no access key is stored in GitHub.
#   release: runs on release tags only; pushes the image and the chart to our two ECR repositories.
#   plan:    runs on pull requests; read-only, for `terraform plan -lock=false`.
# Nothing is created when var.github_repository is null.

locals {
  github_enabled   = var.github_repository != null
  github_oidc_host = "token.actions.githubusercontent.com"
  github_oidc_arn = (
    var.create_github_oidc_provider
    ? one(aws_iam_openid_connect_provider.github[*].arn)
    : "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.github_oidc_host}"
  )

  github_roles = local.github_enabled ? {
    release = [for ref in var.github_release_refs : "repo:${var.github_repository}:ref:${ref}"]
    plan    = ["repo:${var.github_repository}:pull_request"]
  } : {}

  release_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "LogInToRegistry"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = ["*"]
      },
      {
        Sid    = "PushToOurRepositories"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:CompleteLayerUpload",
          "ecr:DescribeImageScanFindings",
          "ecr:DescribeImages",
          "ecr:GetDownloadUrlForLayer",
          "ecr:InitiateLayerUpload",
          "ecr:PutImage",
          "ecr:UploadLayerPart",
        ]
        Resource = [for r in aws_ecr_repository.this : r.arn]
      },
    ]
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github_enabled && var.create_github_oidc_provider ? 1 : 0

  url            = "https://${local.github_oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
}

resource "aws_iam_role" "github" {
  for_each = local.github_roles

  name                 = "${var.name}-github-${each.key}"
  max_session_duration = 3600

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = local.github_oidc_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = { "${local.github_oidc_host}:aud" = "sts.amazonaws.com" }
        StringLike   = { "${local.github_oidc_host}:sub" = each.value }
      }
    }]
  })
}

resource "aws_iam_role_policy" "github_release" {
  count = local.github_enabled ? 1 : 0

  name   = "push-image-and-chart"
  role   = aws_iam_role.github["release"].id
  policy = jsonencode(local.release_policy)
}

# terraform plan must read every resource this configuration manages; AWS's ReadOnlyAccess is the
# maintained list of those read calls. It grants no kms:Decrypt, so results stay unreadable.
resource "aws_iam_role_policy_attachment" "github_plan" {
  count = local.github_enabled ? 1 : 0

  role       = aws_iam_role.github["plan"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}
