# IAM roles for service accounts (IRSA). The cluster's OIDC issuer is registered with IAM; each
# role trusts exactly one Kubernetes service account (namespace and name in the token's sub).
#   govsim-worker:      what a task does under the results prefix (list, read, write, delete its
#                       failure marker, abort its own multipart uploads), nothing else;
#   govsim-controller:  what the controller does for adaptive sweeps (method optuna) between
#                       rounds: list and read under the results prefix (round files, task
#                       manifests and records), create round files (<prefix>/<sweep>/rounds/*),
#                       nothing else: no task results, no delete; grid and sampled sweeps make it
#                       no AWS call at all;
#   cluster-autoscaler: describe Auto Scaling groups, resize only this cluster's groups (only
#                       with batch_scaler = "cluster-autoscaler").
# Both govsim roles may also list the bucket with no prefix: S3 needs that grant to answer a read
# of a missing key with 404 rather than 403. Both use the results bucket's data key only through
# S3 (kms:ViaService).
#
# Both govsim policies follow from the code: tests/infra/test_worker_s3_policy.py runs workers
# through success, failure, retry, a held lease and an interrupted multipart upload, and
# tests/infra/test_controller_s3_policy.py runs the controller through a 3-round adaptive sweep
# (a tolerated failed task, a round file another planner stored first), against a real S3
# server; each records every S3 call, and checks each against its policy as Terraform renders
# it, and that the policy grants nothing the code never does.

locals {
  oidc_issuer_host = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  # Lets a role use the data key only when S3 calls KMS on its behalf (SSE-KMS objects).
  s3_kms_via_service = {
    StringEquals = { "kms:ViaService" = "s3.${var.region}.${local.dns_suffix}" }
  }

  list_results_prefix = {
    Sid      = "ListResultsPrefix"
    Effect   = "Allow"
    Action   = ["s3:ListBucket"]
    Resource = [local.results_bucket_arn]
    Condition = {
      StringLike = { "s3:prefix" = [var.results_prefix, "${var.results_prefix}/*"] }
    }
  }

  # S3 answers a read (GetObject, HeadObject) of a missing key with 404 only if the caller may
  # list the bucket, else with 403; that check's request context has no s3:prefix, so the
  # prefix-conditioned grant above does not cover it. Both roles read keys that may not exist
  # (a task's manifest, the next lease generation, round files) and must tell "not found" from
  # "denied". This grant lists key names anywhere in the bucket only in a listing with no
  # prefix; reads and writes stay under the results prefix.
  list_bucket_without_prefix = {
    Sid       = "ListBucketWithoutPrefix"
    Effect    = "Allow"
    Action    = ["s3:ListBucket"]
    Resource  = [local.results_bucket_arn]
    Condition = { Null = { "s3:prefix" = "true" } }
  }

  # The data key, only when S3 uses it for a read (decrypt) or a write (a new data key).
  use_data_key_through_s3 = {
    Sid       = "UseDataKeyThroughS3"
    Effect    = "Allow"
    Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
    Resource  = [aws_kms_key.data.arn]
    Condition = local.s3_kms_via_service
  }

  worker_policy = {
    Version = "2012-10-17"
    Statement = [
      local.list_results_prefix,
      local.list_bucket_without_prefix,
      {
        # GetObject also covers HeadObject; PutObject covers conditional puts (If-None-Match, the
        # lease) and the multipart calls (create, upload part, complete). DeleteObject removes a
        # task's failure marker once it commits; AbortMultipartUpload gives up an interrupted
        # upload of the worker's own.
        Sid      = "ReadWriteResultsPrefix"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = [local.results_prefix_arn]
      },
      local.use_data_key_through_s3,
    ]
  }

  controller_policy = {
    Version = "2012-10-17"
    Statement = [
      local.list_results_prefix,
      local.list_bucket_without_prefix,
      {
        # Round files, and the manifests and records of the rounds' tasks.
        Sid      = "ReadResultsPrefix"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = [local.results_prefix_arn]
      },
      {
        # A round's points, <prefix>/<sweep>/rounds/RRRR.json, created if absent (If-None-Match;
        # the first writer wins). An IAM wildcard also matches "/", so this names every key with
        # a "rounds" segment below the prefix: only round files have one (execution/layout.py).
        Sid      = "CreateRoundFiles"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = ["${local.results_bucket_arn}/${var.results_prefix}/*/rounds/*"]
      },
      local.use_data_key_through_s3,
    ]
  }

  # Least privilege for the cluster autoscaler on AWS, as its documentation lists it: describe
  # calls cannot be scoped by resource, the two mutating calls are limited to groups tagged as
  # owned by this cluster (EKS tags its managed node groups' Auto Scaling groups so).
  autoscaler_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "Describe"
        Effect = "Allow"
        Action = [
          "autoscaling:DescribeAutoScalingGroups",
          "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations",
          "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags",
          "ec2:DescribeImages",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions",
          "ec2:GetInstanceTypesFromInstanceRequirements",
        ]
        Resource = ["*"]
      },
      {
        Sid      = "DescribeOwnNodegroups"
        Effect   = "Allow"
        Action   = ["eks:DescribeNodegroup"]
        Resource = ["arn:${local.partition}:eks:${var.region}:${local.account_id}:nodegroup/${var.name}/*"]
      },
      {
        Sid      = "ResizeOwnGroups"
        Effect   = "Allow"
        Action   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
        Resource = ["*"]
        Condition = {
          StringEquals = { "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.name}" = "owned" }
        }
      },
    ]
  }

  # The cluster autoscaler's role exists only when it scales the batch pool (batch_scaler =
  # "cluster-autoscaler"); Karpenter has its own role (karpenter.tf).
  irsa_roles = { for k, v in local.all_irsa_roles : k => v if k != "cluster-autoscaler" || !local.karpenter_enabled }

  all_irsa_roles = {
    worker = {
      namespace       = local.k8s_namespace
      service_account = local.worker_service_account
      # The chart's controller.workerNamespaces create the same service account there.
      extra_namespaces = var.worker_namespaces
      policy           = local.worker_policy
    }
    controller = {
      namespace        = local.k8s_namespace
      service_account  = local.controller_service_account
      extra_namespaces = []
      policy           = local.controller_policy
    }
    cluster-autoscaler = {
      namespace        = local.autoscaler_namespace
      service_account  = local.autoscaler_service_account
      extra_namespaces = []
      policy           = local.autoscaler_policy
    }
  }
}

locals {
  # The service accounts each IRSA role trusts: the roles above, the EBS CSI driver's (addons.tf)
  # and Karpenter's (karpenter.tf).
  irsa_trusted_accounts = merge(
    {
      for k, v in local.irsa_roles : k => [
        for ns in concat([v.namespace], v.extra_namespaces) :
        "system:serviceaccount:${ns}:${v.service_account}"
      ]
    },
    { ebs-csi-driver = ["system:serviceaccount:${local.ebs_csi_namespace}:${local.ebs_csi_service_account}"] },
    {
      for k, v in {
        karpenter-controller = ["system:serviceaccount:${local.karpenter_namespace}:${local.karpenter_service_account}"]
      } : k => v if local.karpenter_enabled
    },
  )

  # Every IRSA trust policy: the cluster's OIDC provider, for exactly those service accounts (IAM
  # matches any of a list) and the STS audience.
  irsa_trust_policies = {
    for k, subjects in local.irsa_trusted_accounts : k => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Federated = aws_iam_openid_connect_provider.eks.arn }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "${local.oidc_issuer_host}:sub" = subjects
            "${local.oidc_issuer_host}:aud" = "sts.amazonaws.com"
          }
        }
      }]
    })
  }
}

resource "aws_iam_openid_connect_provider" "eks" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = length(var.eks_oidc_thumbprints) > 0 ? var.eks_oidc_thumbprints : null
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa_roles

  name               = "${var.name}-${each.key}"
  assume_role_policy = local.irsa_trust_policies[each.key]
}

resource "aws_iam_policy" "irsa" {
  for_each = { for k, v in local.irsa_roles : k => v if v.policy != null }

  name        = "${var.name}-${each.key}"
  description = "${var.name}: permissions of the ${each.value.namespace}/${each.value.service_account} service account"
  policy      = jsonencode(each.value.policy)
}

resource "aws_iam_role_policy_attachment" "irsa" {
  for_each = aws_iam_policy.irsa

  role       = aws_iam_role.irsa[each.key].name
  policy_arn = aws_iam_policy.irsa[each.key].arn
}
