# Karpenter, the default batch scaler (batch_scaler = "karpenter"): what it needs in AWS.
#
# Karpenter launches a node for pending worker pods directly through EC2 (no Auto Scaling group
# in between) and removes it once it is empty. Terraform creates its AWS side; Karpenter itself
# is installed with its Helm chart (version karpenter_chart_version) from the karpenter_helm_values
# output, and the govsim chart renders the NodePool and EC2NodeClass from helm_values.karpenter
# (docs/aws.md, "Batch scaling").
#
#   controller role (IRSA, kube-system/karpenter): the controller policy of Karpenter's reference
#       CloudFormation template for the pinned version, scoped to this cluster, region and account;
#   node role + instance profile: what Karpenter's nodes run as, admitted by an EC2_LINUX access
#       entry (the cluster uses access entries, not the aws-auth ConfigMap);
#   interruption queue: EventBridge sends spot interruption warnings, rebalance recommendations,
#       instance state changes and AWS Health scheduled changes to an encrypted SQS queue, so
#       Karpenter drains a node before EC2 takes it away;
#   discovery tags: karpenter.sh/discovery=<cluster> on the private subnets and on the cluster
#       security group, which the EC2NodeClass selects.
#
# Source of every policy statement below: Karpenter v1.14.1,
# website/content/en/v1.14/getting-started/getting-started-with-karpenter/cloudformation.yaml
# (https://github.com/aws/karpenter-provider-aws, identical to the file at tag v1.14.1). Where this
# file is narrower than that template it says so next to the statement.

locals {
  karpenter_enabled = var.batch_scaler == "karpenter"

  # Karpenter release: the Helm chart oci://public.ecr.aws/karpenter/karpenter and its CRDs
  # (tests/kit/karpenter.py pins the same version for the CRD schemas the NodePool is checked
  # against).
  karpenter_version = "1.14.1"

  # Requests and limits of one worker pod, sized so that a whole number of workers fills each
  # instance size the NodePool allows (docs/aws.md, "Batch scaling": the table and its formulas;
  # tests/charts/test_karpenter.py recomputes it). Equal to the chart's default worker.resources.
  worker_resources = {
    requests = { cpu = "950m", memory = "1600Mi" }
    limits   = { cpu = "1", memory = "1600Mi" }
  }

  # helm_values.karpenter: what the chart's NodePool and EC2NodeClass need from this stack.
  karpenter_chart_values = {
    enabled         = true
    clusterName     = var.name
    instanceProfile = try(aws_iam_instance_profile.karpenter_node[0].name, "")
    # The EC2NodeClass's AMI, one release for every node (kubernetes-versions.json).
    amiAlias       = local.kubernetes_versions.karpenter_ami_alias
    rootVolumeSize = "${var.node_disk_size_gb}Gi"
    limits = {
      cpu    = tostring(var.karpenter_limits.cpu)
      memory = "${var.karpenter_limits.memory_gib}Gi"
    }
  }

  # Values of Karpenter's own chart. The controller runs on the system pool (never on a node it
  # manages) with two replicas, one per zone, which its chart's default anti-affinity and zone
  # spread require: keep system_node_count.min at 2 or more.
  karpenter_helm_values = {
    settings = {
      clusterName       = var.name
      clusterEndpoint   = aws_eks_cluster.this.endpoint
      interruptionQueue = try(aws_sqs_queue.karpenter[0].name, "")
    }
    serviceAccount = {
      name        = local.karpenter_service_account
      annotations = { "eks.amazonaws.com/role-arn" = try(aws_iam_role.karpenter_controller[0].arn, "") }
    }
    nodeSelector = { "kubernetes.io/os" = "linux", "govsim.io/pool" = "system" }
    controller = {
      resources = {
        requests = { cpu = "250m", memory = "512Mi" }
        limits   = { memory = "1Gi" }
      }
    }
  }

  karpenter_namespace       = "kube-system"
  karpenter_service_account = "karpenter"

  # Tag key and value the EC2NodeClass selects subnets and security groups by.
  karpenter_discovery_tags = { for k, v in { "karpenter.sh/discovery" = var.name } : k => v if local.karpenter_enabled }

  # The four interruption event kinds of Karpenter's template, plus capacity-reservation
  # interruptions (the template's fifth rule; harmless when no reservation is used). Each key
  # ends a rule name, <name>-karpenter-<key>: EventBridge allows 64 characters, and name may have
  # 24, so keys stay within 21.
  karpenter_events = {
    spot-interruption = { source = "aws.ec2", detail_type = "EC2 Spot Instance Interruption Warning" }
    rebalance         = { source = "aws.ec2", detail_type = "EC2 Instance Rebalance Recommendation" }
    state-change      = { source = "aws.ec2", detail_type = "EC2 Instance State-change Notification" }
    scheduled-change  = { source = "aws.health", detail_type = "AWS Health Event" }
    capacity-reservation = {
      source = "aws.ec2", detail_type = "EC2 Capacity Reservation Instance Interruption Warning"
    }
  }

  karpenter_cluster_arn = "arn:${local.partition}:eks:${var.region}:${local.account_id}:cluster/${var.name}"
  ec2_arn_prefix        = "arn:${local.partition}:ec2:${var.region}:${local.account_id}"
  # What launching a node creates (and tags at creation), as Karpenter's reference policy lists it.
  karpenter_launched_arns = [
    for kind in ["fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request"] :
    "${local.ec2_arn_prefix}:${kind}/*"
  ]

  # Tags Karpenter puts on what it launches, which its policy requires (request) or checks
  # (resource) before a mutating call.
  karpenter_owned_request = {
    "aws:RequestTag/kubernetes.io/cluster/${var.name}" = "owned"
    "aws:RequestTag/eks:eks-cluster-name"              = var.name
  }
  karpenter_owned_resource = {
    "aws:ResourceTag/kubernetes.io/cluster/${var.name}" = "owned"
  }

  karpenter_controller_policy = {
    Version = "2012-10-17"
    Statement = [
      # NodeLifecyclePolicy. The template names the account of subnets, security groups,
      # capacity reservations and placement groups as "*"; here it is this account.
      {
        Sid    = "AllowScopedEC2InstanceAccessActions"
        Effect = "Allow"
        Resource = [
          "arn:${local.partition}:ec2:${var.region}::image/*",
          "arn:${local.partition}:ec2:${var.region}::snapshot/*",
          "${local.ec2_arn_prefix}:security-group/*",
          "${local.ec2_arn_prefix}:subnet/*",
          "${local.ec2_arn_prefix}:capacity-reservation/*",
          "${local.ec2_arn_prefix}:placement-group/*",
        ]
        Action = ["ec2:RunInstances", "ec2:CreateFleet"]
      },
      {
        Sid      = "AllowScopedEC2LaunchTemplateAccessActions"
        Effect   = "Allow"
        Resource = ["${local.ec2_arn_prefix}:launch-template/*"]
        Action   = ["ec2:RunInstances", "ec2:CreateFleet"]
        Condition = {
          StringEquals = local.karpenter_owned_resource
          StringLike   = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
        }
      },
      {
        Sid      = "AllowScopedEC2InstanceActionsWithTags"
        Effect   = "Allow"
        Resource = local.karpenter_launched_arns
        Action   = ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"]
        Condition = {
          StringEquals = local.karpenter_owned_request
          StringLike   = { "aws:RequestTag/karpenter.sh/nodepool" = "*" }
        }
      },
      {
        Sid      = "AllowScopedResourceCreationTagging"
        Effect   = "Allow"
        Resource = local.karpenter_launched_arns
        Action   = ["ec2:CreateTags"]
        Condition = {
          StringEquals = merge(local.karpenter_owned_request, {
            "ec2:CreateAction" = ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]
          })
          StringLike = { "aws:RequestTag/karpenter.sh/nodepool" = "*" }
        }
      },
      {
        Sid      = "AllowScopedResourceTagging"
        Effect   = "Allow"
        Resource = ["${local.ec2_arn_prefix}:instance/*"]
        Action   = ["ec2:CreateTags"]
        Condition = {
          StringEquals                = local.karpenter_owned_resource
          StringLike                  = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
          StringEqualsIfExists        = { "aws:RequestTag/eks:eks-cluster-name" = var.name }
          "ForAllValues:StringEquals" = { "aws:TagKeys" = ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"] }
        }
      },
      {
        Sid    = "AllowScopedDeletion"
        Effect = "Allow"
        Resource = [
          "${local.ec2_arn_prefix}:instance/*",
          "${local.ec2_arn_prefix}:launch-template/*",
        ]
        Action = ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"]
        Condition = {
          StringEquals = local.karpenter_owned_resource
          StringLike   = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
        }
      },
      # IAMIntegrationPolicy: only the PassRole statement. The node's instance profile is made
      # here (aws_iam_instance_profile.karpenter_node) and named in the EC2NodeClass
      # (spec.instanceProfile), so Karpenter never creates, tags or deletes instance profiles
      # and the template's three instance-profile statements are left out.
      {
        Sid      = "AllowPassingInstanceRole"
        Effect   = "Allow"
        Resource = [one(aws_iam_role.karpenter_node[*].arn)]
        Action   = ["iam:PassRole"]
        Condition = {
          StringEquals = { "iam:PassedToService" = ["ec2.${local.dns_suffix}"] }
        }
      },
      # EKSIntegrationPolicy.
      {
        Sid      = "AllowAPIServerEndpointDiscovery"
        Effect   = "Allow"
        Resource = [local.karpenter_cluster_arn]
        Action   = ["eks:DescribeCluster"]
      },
      # InterruptionPolicy.
      {
        Sid      = "AllowInterruptionQueueActions"
        Effect   = "Allow"
        Resource = [one(aws_sqs_queue.karpenter[*].arn)]
        Action   = ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
      },
      # ResourceDiscoveryPolicy. Describe calls and the price list cannot be scoped by
      # resource (the template uses "*" and limits the describe calls to the region).
      {
        Sid      = "AllowRegionalReadActions"
        Effect   = "Allow"
        Resource = ["*"]
        Action = [
          "ec2:DescribeCapacityReservations",
          "ec2:DescribeImages",
          "ec2:DescribeInstances",
          "ec2:DescribeInstanceStatus",
          "ec2:DescribeInstanceTypeOfferings",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplates",
          "ec2:DescribePlacementGroups",
          "ec2:DescribeSecurityGroups",
          "ec2:DescribeSpotPriceHistory",
          "ec2:DescribeSubnets",
        ]
        Condition = {
          StringEquals = { "aws:RequestedRegion" = var.region }
        }
      },
      {
        Sid      = "AllowSSMReadActions"
        Effect   = "Allow"
        Resource = ["arn:${local.partition}:ssm:${var.region}::parameter/aws/service/*"]
        Action   = ["ssm:GetParameter"]
      },
      {
        Sid      = "AllowPricingReadActions"
        Effect   = "Allow"
        Resource = ["*"]
        Action   = ["pricing:GetProducts"]
      },
      {
        Sid      = "AllowUnscopedInstanceProfileListAction"
        Effect   = "Allow"
        Resource = ["*"]
        Action   = ["iam:ListInstanceProfiles"]
      },
      # The template allows every instance profile of the account; only ours is read here.
      {
        Sid      = "AllowInstanceProfileReadActions"
        Effect   = "Allow"
        Resource = [one(aws_iam_instance_profile.karpenter_node[*].arn)]
        Action   = ["iam:GetInstanceProfile"]
      },
      # ZonalShiftPolicy is left out: the chart's settings.enableZonalShift stays false (its
      # default), so the controller never calls arc-zonal-shift.
    ]
  }
}

# --- controller role (IRSA) -------------------------------------------------------------------

resource "aws_iam_role" "karpenter_controller" {
  count = local.karpenter_enabled ? 1 : 0

  name               = "${var.name}-karpenter-controller"
  assume_role_policy = local.irsa_trust_policies["karpenter-controller"]
}

resource "aws_iam_policy" "karpenter_controller" {
  count = local.karpenter_enabled ? 1 : 0

  name        = "${var.name}-karpenter-controller"
  description = "${var.name}: Karpenter controller (${local.karpenter_namespace}/${local.karpenter_service_account}), launches and removes batch nodes of this cluster"
  policy      = jsonencode(local.karpenter_controller_policy)
}

resource "aws_iam_role_policy_attachment" "karpenter_controller" {
  count = local.karpenter_enabled ? 1 : 0

  role       = aws_iam_role.karpenter_controller[0].name
  policy_arn = aws_iam_policy.karpenter_controller[0].arn
}

# --- node role, instance profile, access entry -------------------------------------------------

resource "aws_iam_role" "karpenter_node" {
  count = local.karpenter_enabled ? 1 : 0

  name = "${var.name}-karpenter-node"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.${local.dns_suffix}" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# The template's node role has these three plus AmazonSSMManagedInstanceCore, left out here like
# on the managed node groups: nodes are not reachable through SSM sessions.
resource "aws_iam_role_policy_attachment" "karpenter_node" {
  for_each = local.karpenter_enabled ? toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
  ]) : toset([])

  role       = aws_iam_role.karpenter_node[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

resource "aws_iam_instance_profile" "karpenter_node" {
  count = local.karpenter_enabled ? 1 : 0

  name = "${var.name}-karpenter-node"
  role = aws_iam_role.karpenter_node[0].name
}

# Lets instances with the node role join the cluster as nodes.
resource "aws_eks_access_entry" "karpenter_node" {
  count = local.karpenter_enabled ? 1 : 0

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_iam_role.karpenter_node[0].arn
  type          = "EC2_LINUX"
}

# --- interruption queue ------------------------------------------------------------------------

# Messages are only useful for minutes (a spot warning comes two minutes ahead), hence the 300 s
# retention of Karpenter's template. Encrypted with SQS-managed keys as in the template:
# EventBridge can write to it without a KMS key policy.
resource "aws_sqs_queue" "karpenter" {
  #checkov:skip=CKV2_AWS_73:SQS-managed SSE (sqs_managed_sse_enabled) as in Karpenter's reference template; a customer-managed key would need a key policy for events.amazonaws.com and buys nothing for two-minute-lived EC2 event copies.
  count = local.karpenter_enabled ? 1 : 0

  name                      = "${var.name}-karpenter"
  message_retention_seconds = 300
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue_policy" "karpenter" {
  count = local.karpenter_enabled ? 1 : 0

  queue_url = aws_sqs_queue.karpenter[0].id

  # Narrower than the template (which lets events.amazonaws.com and sqs.amazonaws.com send
  # unconditionally): only EventBridge, and only for this deployment's rules.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridgeSendsInterruptionEvents"
        Effect    = "Allow"
        Principal = { Service = ["events.${local.dns_suffix}"] }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.karpenter[0].arn
        Condition = {
          ArnEquals = { "aws:SourceArn" = [for r in aws_cloudwatch_event_rule.karpenter : r.arn] }
        }
      },
      {
        Sid       = "DenyHTTP"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.karpenter[0].arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_cloudwatch_event_rule" "karpenter" {
  for_each = local.karpenter_enabled ? local.karpenter_events : {}

  name        = "${var.name}-karpenter-${each.key}"
  description = "${var.name}: ${each.value.detail_type} to Karpenter's interruption queue"

  event_pattern = jsonencode({
    source        = [each.value.source]
    "detail-type" = [each.value.detail_type]
  })
}

resource "aws_cloudwatch_event_target" "karpenter" {
  for_each = aws_cloudwatch_event_rule.karpenter

  rule      = each.value.name
  target_id = "KarpenterInterruptionQueueTarget"
  arn       = aws_sqs_queue.karpenter[0].arn
}

# --- discovery tag on the node security group ----------------------------------------------------

# Nodes use the security group EKS creates for the cluster (the launch templates name none), so
# that is the one the EC2NodeClass selects. EKS owns it, hence a tag resource rather than tags.
# The private subnets carry the same tag in network.tf.
resource "aws_ec2_tag" "karpenter_discovery_cluster_sg" {
  for_each = local.karpenter_discovery_tags

  resource_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  key         = each.key
  value       = each.value
}
