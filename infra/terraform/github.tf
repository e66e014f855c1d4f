# GitHub Actions federation: workflows of one repository exchange their OIDC token for short-lived
# AWS credentials, so no access key is stored in GitHub.
#   release: jobs of .github/workflows/release.yml at a release tag (job_workflow_ref) that run in
#            the repository's `release` environment (sub); pushes the image and the chart to our
#            two ECR repositories.
#   plan:    runs on pull requests; reads the configuration of what this configuration manages
#            and the state object, for `terraform plan -lock=false`; writes nothing.
# Nothing is created when var.github_repository is null.

locals {
  github_enabled   = var.github_repository != null
  github_oidc_host = "token.actions.githubusercontent.com"
  github_oidc_arn = (
    var.create_github_oidc_provider
    ? one(aws_iam_openid_connect_provider.github[*].arn)
    : "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.github_oidc_host}"
  )

  # Each role: the token subjects it trusts, and (release only) the workflow files whose jobs
  # may use it. job_workflow_ref names the workflow file and ref that define the running job, so
  # another workflow on a release tag (or one called from elsewhere) cannot assume the role. A job
  # that runs in a GitHub environment gets the subject repo:<owner>/<repo>:environment:<name>
  # instead of its ref, so the release role requires both: the `release` environment (whose
  # required reviewers approve each run, and whose deployment rule admits only tags v*) and
  # release.yml at a release ref. A release.yml edited on a pushed tag still waits for approval.
  github_release_environment = "release"
  github_roles = local.github_enabled ? {
    release = {
      sub = ["repo:${var.github_repository}:environment:${local.github_release_environment}"]
      job_workflow_ref = [
        for ref in var.github_release_refs : "${var.github_repository}/.github/workflows/release.yml@${ref}"
      ]
    }
    plan = {
      sub              = ["repo:${var.github_repository}:pull_request"]
      job_workflow_ref = []
    }
  } : {}

  # What `terraform plan` reads: the configuration (never the data) of each kind of resource this
  # configuration manages, by service. AWS's ReadOnlyAccess would also read data: every S3
  # object in the account, CloudWatch log events, DynamoDB items, and more; these grants stop at
  # Describe/List/Get-configuration calls. tests/infra/test_github_roles.py fails when a
  # resource type appears whose service is not covered here.
  plan_read_actions = [
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeTags",
    "ec2:Describe*",
    "ecr:DescribeRepositories",
    "events:DescribeRule",
    "events:ListTagsForResource",
    "events:ListTargetsByRule",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource",
    "eks:Describe*",
    "eks:List*",
    "iam:GetInstanceProfile",
    "iam:GetOpenIDConnectProvider",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfileTags",
    "iam:ListOpenIDConnectProviderTags",
    "iam:ListPolicyTags",
    "iam:ListPolicyVersions",
    "iam:ListRolePolicies",
    "iam:ListRoleTags",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
    "logs:ListTagsLogGroup",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ListQueueTags",
  ]
  # Refreshing the results bucket: HeadBucket (s3:ListBucket) and its configuration subresources.
  plan_bucket_actions = [
    "s3:GetAccelerateConfiguration",
    "s3:GetBucket*",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:ListBucket",
  ]

  plan_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ReadConfiguration"
          Effect   = "Allow"
          Action   = local.plan_read_actions
          Resource = ["*"]
        },
        {
          Sid      = "ReadResultsBucketConfiguration"
          Effect   = "Allow"
          Action   = local.plan_bucket_actions
          Resource = [local.results_bucket_arn]
        },
      ],
      # The backend lists the bucket (workspaces) and reads the state object; -lock=false takes
      # no lock, so nothing is written.
      var.terraform_state_bucket == null ? [] : [
        {
          Sid      = "ListStateBucket"
          Effect   = "Allow"
          Action   = ["s3:ListBucket"]
          Resource = ["arn:${local.partition}:s3:::${var.terraform_state_bucket}"]
        },
        {
          Sid      = "ReadState"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = ["arn:${local.partition}:s3:::${var.terraform_state_bucket}/${var.terraform_state_key}"]
        },
      ],
    )
  }

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
        StringLike = merge(
          { "${local.github_oidc_host}:sub" = each.value.sub },
          length(each.value.job_workflow_ref) == 0 ? {} : {
            "${local.github_oidc_host}:job_workflow_ref" = each.value.job_workflow_ref
          },
        )
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

resource "aws_iam_role_policy" "github_plan" {
  count = local.github_enabled ? 1 : 0

  name   = "read-configuration-and-state"
  role   = aws_iam_role.github["plan"].id
  policy = jsonencode(local.plan_policy)
}
