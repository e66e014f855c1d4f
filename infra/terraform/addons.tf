# EKS managed add-ons, each pinned to the version kubernetes-versions.json lists for the cluster's
# minor version, so that an apply never upgrades one behind our back and a version bump is one
# reviewed change:
#   vpc-cni:            pod networking, with the network policy agent on, so that the chart's
#                       NetworkPolicies are enforced (without it they are accepted and ignored);
#   kube-proxy:         Service routing on every node;
#   coredns:            cluster DNS;
#   aws-ebs-csi-driver: PersistentVolumes on EBS (Prometheus and Pushgateway keep their data
#                       across a reschedule), with its own IRSA role.
#
# Conflicts: EKS installs self-managed vpc-cni, kube-proxy and CoreDNS with every new cluster.
# OVERWRITE on create lets the managed add-on take those objects over; OVERWRITE on update makes
# these pins and configuration values the truth (an edit made with kubectl is reverted on the next
# apply instead of silently blocking it). The networking add-ons are preserved if the resource is
# ever removed from Terraform, so that taking one out of management never cuts pod networking.

locals {
  addon_versions = local.kubernetes_versions.addons[local.kubernetes_version]

  # Fields of each add-on's configuration schema (aws eks describe-addon-configuration).
  # vpc-cni: enableNetworkPolicy (a string) runs the network policy agent on every node
  # (vpc-cni v1.14 or later; the control plane runs the policy controller).
  addon_configuration = {
    vpc-cni            = { enableNetworkPolicy = "true" }
    kube-proxy         = null
    coredns            = null
    aws-ebs-csi-driver = null
  }

  ebs_csi_namespace       = "kube-system"
  ebs_csi_service_account = "ebs-csi-controller-sa"
}

# Installed once the node groups exist: CoreDNS and the EBS CSI controller are Deployments that EKS
# reports ACTIVE only when their pods run. The nodes boot with the networking add-ons EKS installs
# with the cluster, which these then take over.
resource "aws_eks_addon" "this" {
  for_each = local.addon_configuration

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = local.addon_versions[each.key]
  configuration_values        = each.value == null ? null : jsonencode(each.value)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  preserve                    = each.key != "aws-ebs-csi-driver"
  service_account_role_arn    = each.key == "aws-ebs-csi-driver" ? aws_iam_role.ebs_csi.arn : null

  depends_on = [aws_eks_node_group.this, aws_iam_role_policy_attachment.ebs_csi, aws_iam_role_policy.ebs_csi_kms]
}

# --- EBS CSI driver: volumes encrypted with their own key, an IRSA role that can use only it ---

resource "aws_kms_key" "ebs" {
  description             = "${var.name}: EBS volumes of PersistentVolumes (Prometheus, Pushgateway)"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.kms_account_administers]
  })
}

resource "aws_kms_alias" "ebs" {
  name          = "alias/${var.name}-ebs"
  target_key_id = aws_kms_key.ebs.key_id
}

# Trusts exactly the controller's service account, which the add-on creates.
resource "aws_iam_role" "ebs_csi" {
  name               = "${var.name}-ebs-csi-driver"
  assume_role_policy = local.irsa_trust_policies["ebs-csi-driver"]
}

# The AWS managed policy the driver's documentation prescribes: create, attach, detach, snapshot
# and delete volumes, mutations limited to volumes and snapshots the driver tagged itself.
resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

# Encrypted volumes with a customer managed key need the key too: grants for EC2 (which attaches
# the volume to a node) and data keys, on this key only and only through EC2.
resource "aws_iam_role_policy" "ebs_csi_kms" {
  name = "encrypt-volumes"
  role = aws_iam_role.ebs_csi.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "GrantsForAttachedVolumes"
        Effect    = "Allow"
        Action    = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
        Resource  = [aws_kms_key.ebs.arn]
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
      {
        Sid       = "EncryptVolumesThroughEc2"
        Effect    = "Allow"
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = [aws_kms_key.ebs.arn]
        Condition = { StringEquals = { "kms:ViaService" = "ec2.${var.region}.${local.dns_suffix}" } }
      },
    ]
  })
}

output "ebs_kms_key_arn" {
  description = "KMS key for EBS-backed PersistentVolumes: the kmsKeyId of the encrypted gp3 StorageClass (docs/aws.md)."
  value       = aws_kms_key.ebs.arn
}

output "eks_addon_versions" {
  description = "Pinned versions of the EKS managed add-ons (from kubernetes-versions.json for the cluster's minor version)."
  value       = local.addon_versions
}
