# The EKS control plane: pinned Kubernetes version, every control-plane log type, Secrets
# encrypted with our KMS key, API endpoint private (plus an optional public one restricted by
# CIDR), and access managed through EKS access entries rather than the aws-auth ConfigMap.

locals {
  cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  # kubernetes-versions.json is the single source of the Kubernetes version pins: the default
  # minor, the oldest minor still in EKS standard support, and the add-on versions of each minor.
  # tests/infra checks the kind node image, kubectl and the autoscaler tag in the docs against it.
  kubernetes_versions = jsondecode(file("${path.module}/kubernetes-versions.json"))
  kubernetes_version  = coalesce(var.kubernetes_version, local.kubernetes_versions.kubernetes.default)
}

# Created before the cluster so that we, not EKS, own its retention and encryption.
resource "aws_cloudwatch_log_group" "cluster" {
  name              = "/aws/eks/${var.name}/cluster"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
}

resource "aws_iam_role" "cluster" {
  name = "${var.name}-eks-cluster"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_iam_role_policy" "cluster_kms" {
  name = "secrets-encryption"
  role = aws_iam_role.cluster.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
      Resource = [aws_kms_key.eks.arn]
    }]
  })
}

resource "aws_eks_cluster" "this" {
  #checkov:skip=CKV_AWS_39:The public endpoint is a variable (endpoint_public_access) so that an operator without a VPN can run kubectl and helm; it only opens to endpoint_public_access_cidrs, which must be non-empty and may not contain 0.0.0.0/0.
  name     = var.name
  version  = local.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  enabled_cluster_log_types = local.cluster_log_types

  vpc_config {
    subnet_ids              = aws_subnet.private[*].id
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.endpoint_public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.eks.arn
    }
  }

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  # Standard support only: at the end of a version's standard support EKS upgrades the control
  # plane instead of moving it to extended support, which costs six times as much per hour.
  upgrade_policy {
    support_type = "STANDARD"
  }

  depends_on = [
    aws_cloudwatch_log_group.cluster,
    aws_iam_role_policy_attachment.cluster,
    aws_iam_role_policy.cluster_kms,
  ]
}

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.cluster_admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.cluster_admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.admin]
}
