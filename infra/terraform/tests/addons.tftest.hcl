# Managed add-ons: present, pinned to the versions kubernetes-versions.json lists for the cluster's
# minor version, network policy enforced, and an EBS CSI role that can do only its job.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
}

run "addons_are_present_and_pinned_for_the_default_version" {
  assert {
    condition     = toset(keys(aws_eks_addon.this)) == toset(["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"])
    error_message = "vpc-cni, kube-proxy, CoreDNS and the EBS CSI driver must be EKS managed add-ons."
  }
  assert {
    condition = alltrue([
      for name, addon in aws_eks_addon.this :
      addon.addon_version == jsondecode(file("kubernetes-versions.json")).addons[aws_eks_cluster.this.version][name]
    ])
    error_message = "Every add-on must be pinned to the version kubernetes-versions.json lists for the cluster's minor version."
  }
  assert {
    condition     = alltrue([for addon in aws_eks_addon.this : can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+-eksbuild\\.[0-9]+$", addon.addon_version))])
    error_message = "Add-on versions must be exact EKS builds (vX.Y.Z-eksbuild.N), never empty or latest."
  }
  assert {
    condition     = startswith(aws_eks_addon.this["kube-proxy"].addon_version, "v${aws_eks_cluster.this.version}.")
    error_message = "kube-proxy's minor version must be the cluster's."
  }
  assert {
    condition = alltrue([
      for addon in aws_eks_addon.this :
      addon.resolve_conflicts_on_create == "OVERWRITE" && addon.resolve_conflicts_on_update == "OVERWRITE" && addon.cluster_name == aws_eks_cluster.this.name
    ])
    error_message = "Add-ons must take over the self-managed objects on create and keep Terraform's configuration on update."
  }
  assert {
    condition     = aws_eks_addon.this["vpc-cni"].preserve && aws_eks_addon.this["kube-proxy"].preserve && aws_eks_addon.this["coredns"].preserve
    error_message = "Removing a networking add-on from Terraform must not remove it from the cluster."
  }
}

run "network_policy_agent_is_on" {
  assert {
    condition     = jsondecode(aws_eks_addon.this["vpc-cni"].configuration_values).enableNetworkPolicy == "true"
    error_message = "vpc-cni must run the network policy agent, or the chart's NetworkPolicies are not enforced."
  }
}

run "oldest_supported_version_gets_its_own_addons" {
  variables {
    kubernetes_version = "1.35"
  }

  assert {
    condition     = aws_eks_cluster.this.version == "1.35" && aws_eks_addon.this["kube-proxy"].addon_version == jsondecode(file("kubernetes-versions.json")).addons["1.35"]["kube-proxy"]
    error_message = "An explicit kubernetes_version must select that minor's add-on versions."
  }
  assert {
    condition     = startswith(aws_eks_addon.this["kube-proxy"].addon_version, "v1.35.")
    error_message = "kube-proxy must follow the cluster's minor version."
  }
}

run "ebs_csi_driver_has_a_least_privilege_role" {
  assert {
    condition     = aws_eks_addon.this["aws-ebs-csi-driver"].service_account_role_arn == aws_iam_role.ebs_csi.arn && alltrue([for name, addon in aws_eks_addon.this : addon.service_account_role_arn == null if name != "aws-ebs-csi-driver"])
    error_message = "Only the EBS CSI driver gets an IRSA role, its own."
  }
  assert {
    condition = jsondecode(aws_iam_role.ebs_csi.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Federated = aws_iam_openid_connect_provider.eks.arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:sub" = ["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
          "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:aud" = "sts.amazonaws.com"
        }
      }
    }]
    error_message = "The EBS CSI role must trust only kube-system/ebs-csi-controller-sa through the cluster's OIDC provider."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.ebs_csi.role == aws_iam_role.ebs_csi.name && aws_iam_role_policy_attachment.ebs_csi.policy_arn == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    error_message = "The EBS CSI role's volume permissions must be the AWS managed AmazonEBSCSIDriverPolicy."
  }
  assert {
    condition     = length(toset([aws_kms_key.ebs.arn, aws_kms_key.data.arn, aws_kms_key.eks.arn])) == 3
    error_message = "The keys must have distinct ARNs here (tests/mocks), or the next assertion tells no key from another."
  }
  assert {
    condition     = toset(flatten([for s in jsondecode(aws_iam_role_policy.ebs_csi_kms.policy).Statement : s.Resource])) == toset([aws_kms_key.ebs.arn])
    error_message = "The EBS CSI role may use only the EBS volume key."
  }
  assert {
    condition = toset(flatten([for s in jsondecode(aws_iam_role_policy.ebs_csi_kms.policy).Statement : s.Action])) == toset([
      "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant",
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
    ])
    error_message = "The EBS CSI role's KMS actions must be exactly what encrypted volumes need (no kms:*)."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.ebs_csi_kms.policy).Statement :
      contains(s.Action, "kms:CreateGrant")
      ? s.Condition.Bool["kms:GrantIsForAWSResource"] == "true"
      : s.Condition.StringEquals["kms:ViaService"] == "ec2.us-east-1.amazonaws.com"
    ])
    error_message = "Grants must be for AWS resources only, and data-key use only through EC2."
  }
  assert {
    condition     = aws_kms_key.ebs.enable_key_rotation && aws_kms_key.ebs.id != aws_kms_key.data.id
    error_message = "Volumes get their own rotated key."
  }
}
