# Customer-managed KMS keys, rotated yearly. Two keys so that the right to decrypt results does
# not imply the right to decrypt cluster secrets:
#   eks:  Kubernetes Secrets envelope encryption in the EKS control plane;
#   data: the results bucket, the ECR repositories and the CloudWatch log groups.
# Both policies keep the account root as administrator, so IAM policies decide who else may use
# them (the IRSA roles are granted the data key for S3 only, via kms:ViaService).

locals {
  # The first statement of every key policy: the account administers the key, so IAM policies
  # decide who else may use it.
  kms_account_administers = {
    Sid       = "AccountAdministers"
    Effect    = "Allow"
    Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }
}

resource "aws_kms_key" "eks" {
  description             = "${var.name}: EKS secrets encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.kms_account_administers]
  })
}

resource "aws_kms_alias" "eks" {
  name          = "alias/${var.name}-eks"
  target_key_id = aws_kms_key.eks.key_id
}

resource "aws_kms_key" "data" {
  description             = "${var.name}: results bucket, ECR and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.kms_account_administers,
      {
        Sid       = "CloudWatchLogsEncryptsOurLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.${local.dns_suffix}" }
        Action = [
          "kms:Encrypt*",
          "kms:Decrypt*",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/eks/${var.name}/*",
              "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/vpc/${var.name}/*",
            ]
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}
