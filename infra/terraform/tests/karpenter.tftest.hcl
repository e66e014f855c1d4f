# Batch scaling: Karpenter (the default) and the cluster-autoscaler alternative. The interruption
# queue is encrypted and fed the interruption events, the controller may touch only this
# cluster's resources, the discovery tags are where the EC2NodeClass looks, and batch_scaler
# switches between the two paths.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
}

override_resource {
  target = aws_iam_role.karpenter_node[0]
  values = { arn = "arn:aws:iam::123456789012:role/govsim-karpenter-node" }
}

override_resource {
  target = aws_iam_role.karpenter_controller[0]
  values = { arn = "arn:aws:iam::123456789012:role/govsim-karpenter-controller" }
}

override_resource {
  target = aws_iam_instance_profile.karpenter_node[0]
  values = { arn = "arn:aws:iam::123456789012:instance-profile/govsim-karpenter-node" }
}

override_resource {
  target = aws_sqs_queue.karpenter[0]
  values = { arn = "arn:aws:sqs:us-east-1:123456789012:govsim-karpenter" }
}

run "interruption_queue_is_encrypted_and_receives_the_interruption_events" {
  assert {
    condition     = aws_sqs_queue.karpenter[0].sqs_managed_sse_enabled && aws_sqs_queue.karpenter[0].message_retention_seconds == 300
    error_message = "The interruption queue must be encrypted and keep messages only for minutes."
  }
  assert {
    condition = toset([
      "EC2 Spot Instance Interruption Warning",
      "EC2 Instance Rebalance Recommendation",
      "EC2 Instance State-change Notification",
      "AWS Health Event",
      ]) == setintersection(toset(flatten([for r in aws_cloudwatch_event_rule.karpenter : jsondecode(r.event_pattern)["detail-type"]])), toset([
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "AWS Health Event",
    ]))
    error_message = "EventBridge rules must catch spot interruptions, rebalance recommendations, state changes and scheduled changes."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.karpenter["scheduled-change"].event_pattern).source == ["aws.health"] && jsondecode(aws_cloudwatch_event_rule.karpenter["spot-interruption"].event_pattern).source == ["aws.ec2"]
    error_message = "Scheduled changes come from AWS Health, the instance events from EC2."
  }
  assert {
    condition = alltrue([
      for k, r in aws_cloudwatch_event_rule.karpenter :
      aws_cloudwatch_event_target.karpenter[k].rule == r.name && aws_cloudwatch_event_target.karpenter[k].arn == aws_sqs_queue.karpenter[0].arn
    ])
    error_message = "Every rule must target the interruption queue."
  }
  assert {
    condition = [
      for s in jsondecode(aws_sqs_queue_policy.karpenter[0].policy).Statement : s if s.Effect == "Allow"
      ] == [{
        Sid       = "EventBridgeSendsInterruptionEvents"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com"] }
        Action    = "sqs:SendMessage"
        Resource  = "arn:aws:sqs:us-east-1:123456789012:govsim-karpenter"
        Condition = { ArnEquals = { "aws:SourceArn" = [for r in aws_cloudwatch_event_rule.karpenter : r.arn] } }
    }]
    error_message = "Only EventBridge, for this deployment's rules, may send to the queue."
  }
  assert {
    condition = anytrue([
      for s in jsondecode(aws_sqs_queue_policy.karpenter[0].policy).Statement :
      s.Effect == "Deny" && s.Action == "sqs:*" && s.Condition == { Bool = { "aws:SecureTransport" = "false" } }
    ])
    error_message = "The queue must refuse requests without TLS."
  }
}

run "controller_policy_names_only_this_clusters_resources" {
  assert {
    # Karpenter's reference template uses "*" only for describe calls, the price list and listing
    # instance profiles: nothing else may be unscoped.
    condition = toset([
      for s in jsondecode(aws_iam_policy.karpenter_controller[0].policy).Statement : s.Sid if contains(s.Resource, "*")
      ]) == toset([
      "AllowRegionalReadActions", "AllowPricingReadActions", "AllowUnscopedInstanceProfileListAction",
    ])
    error_message = "Only the describe, pricing and instance-profile-list statements may name every resource."
  }
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_policy.karpenter_controller[0].policy).Statement : [
        for r in s.Resource : r == "*" || can(regex("^arn:aws:[a-z0-9-]+:(us-east-1)?:(123456789012)?:", r))
      ]
    ]))
    error_message = "Every scoped resource must be in this region and account (or a public image, snapshot or SSM parameter of the region)."
  }
  assert {
    # Every mutating EC2 statement, except launching into subnets, security groups and images
    # (which carry no Karpenter tags), requires this cluster's ownership tag.
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.karpenter_controller[0].policy).Statement :
      can(s.Condition.StringEquals["aws:ResourceTag/kubernetes.io/cluster/govsim"]) || can(s.Condition.StringEquals["aws:RequestTag/kubernetes.io/cluster/govsim"])
      if length(setintersection(toset(s.Action), toset(["ec2:CreateFleet", "ec2:CreateLaunchTemplate", "ec2:CreateTags", "ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"]))) > 0
      && s.Sid != "AllowScopedEC2InstanceAccessActions"
    ])
    error_message = "Karpenter may create, tag and terminate only what is tagged as this cluster's."
  }
  assert {
    condition = {
      for s in jsondecode(aws_iam_policy.karpenter_controller[0].policy).Statement : s.Sid => s.Resource
      if contains(["AllowPassingInstanceRole", "AllowAPIServerEndpointDiscovery", "AllowInterruptionQueueActions", "AllowInstanceProfileReadActions"], s.Sid)
      } == {
      AllowPassingInstanceRole        = ["arn:aws:iam::123456789012:role/govsim-karpenter-node"]
      AllowAPIServerEndpointDiscovery = ["arn:aws:eks:us-east-1:123456789012:cluster/govsim"]
      AllowInterruptionQueueActions   = ["arn:aws:sqs:us-east-1:123456789012:govsim-karpenter"]
      AllowInstanceProfileReadActions = ["arn:aws:iam::123456789012:instance-profile/govsim-karpenter-node"]
    }
    error_message = "PassRole, DescribeCluster, the queue and the instance profile must be exactly this deployment's."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.karpenter_controller[0].policy).Statement :
      length(setintersection(toset(s.Action), toset(["iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile"]))) == 0
    ])
    error_message = "The instance profile is Terraform's: the controller must not manage instance profiles."
  }
  assert {
    condition = jsondecode(aws_iam_role.karpenter_controller[0].assume_role_policy).Statement[0].Condition.StringEquals == {
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:sub" = ["system:serviceaccount:kube-system:karpenter"]
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:aud" = "sts.amazonaws.com"
    }
    error_message = "The controller role must trust exactly kube-system/karpenter."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.karpenter_controller[0].policy_arn == aws_iam_policy.karpenter_controller[0].arn
    error_message = "The controller policy must be attached to the controller role."
  }
}

run "nodes_join_with_their_own_role_and_profile" {
  assert {
    condition     = aws_iam_instance_profile.karpenter_node[0].role == aws_iam_role.karpenter_node[0].name
    error_message = "The instance profile must carry the node role."
  }
  assert {
    condition     = aws_eks_access_entry.karpenter_node[0].type == "EC2_LINUX" && aws_eks_access_entry.karpenter_node[0].principal_arn == "arn:aws:iam::123456789012:role/govsim-karpenter-node"
    error_message = "The node role must be admitted as Linux nodes through an access entry."
  }
  assert {
    condition = toset([for a in aws_iam_role_policy_attachment.karpenter_node : a.policy_arn]) == toset([
      "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
      "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
      "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    ])
    error_message = "The node role gets the worker, CNI and ECR pull policies and nothing else."
  }
}

run "discovery_tags_are_on_the_private_subnets_and_the_node_security_group" {
  assert {
    condition     = length(aws_subnet.private) == 3 && alltrue([for s in aws_subnet.private : s.tags["karpenter.sh/discovery"] == "govsim"])
    error_message = "Every private subnet (three zones) must carry karpenter.sh/discovery=<cluster>."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : !contains(keys(s.tags), "karpenter.sh/discovery")])
    error_message = "Public subnets must never receive Karpenter nodes."
  }
  assert {
    condition = (
      aws_ec2_tag.karpenter_discovery_cluster_sg["karpenter.sh/discovery"].resource_id == aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
      && aws_ec2_tag.karpenter_discovery_cluster_sg["karpenter.sh/discovery"].value == "govsim"
    )
    error_message = "The cluster security group (which nodes use) must carry karpenter.sh/discovery=<cluster>."
  }
}

run "karpenter_is_the_default_and_feeds_both_charts" {
  variables {
    karpenter_limits = { cpu = 640, memory_gib = 5120 }
  }

  assert {
    condition     = !contains(keys(aws_eks_node_group.this), "batch") && length(aws_autoscaling_group_tag.batch_node_template) == 0
    error_message = "With Karpenter there must be no managed batch node group."
  }
  assert {
    condition = yamldecode(output.helm_values).karpenter == {
      enabled         = true
      clusterName     = "govsim"
      instanceProfile = aws_iam_instance_profile.karpenter_node[0].name
      amiAlias        = jsondecode(file("kubernetes-versions.json")).karpenter_ami_alias
      rootVolumeSize  = "50Gi"
      limits          = { cpu = "640", memory = "5120Gi" }
    }
    error_message = "helm_values.karpenter must name the cluster, the instance profile, the AMI release pinned in kubernetes-versions.json, the disk size and the limits."
  }
  assert {
    condition = yamldecode(output.karpenter_helm_values).settings == {
      clusterName       = "govsim"
      clusterEndpoint   = "https://EXAMPLE0123456789.gr7.us-east-1.eks.amazonaws.com"
      interruptionQueue = aws_sqs_queue.karpenter[0].name
    }
    error_message = "Karpenter's values must name the cluster, its endpoint and the interruption queue."
  }
  assert {
    condition = yamldecode(output.karpenter_helm_values).serviceAccount == {
      name        = "karpenter"
      annotations = { "eks.amazonaws.com/role-arn" = "arn:aws:iam::123456789012:role/govsim-karpenter-controller" }
    }
    error_message = "Karpenter's service account must be the one the controller role trusts, annotated with it."
  }
  assert {
    condition     = yamldecode(output.karpenter_helm_values).nodeSelector["govsim.io/pool"] == "system"
    error_message = "Karpenter must run on the system pool, never on a node it manages."
  }
  assert {
    condition     = strcontains(output.karpenter_install_command, "oci://public.ecr.aws/karpenter/karpenter --version 1.14.1 --namespace kube-system")
    error_message = "The install command must pin the chart version and use the namespace the role trusts."
  }
}

run "cluster_autoscaler_path_has_a_three_zone_spot_group_and_no_karpenter" {
  variables {
    batch_scaler = "cluster-autoscaler"
  }

  assert {
    condition = (
      toset(aws_eks_node_group.this["batch"].subnet_ids) == toset(aws_subnet.private[*].id)
      && length(distinct(aws_subnet.private[*].availability_zone)) == 3
      && aws_eks_node_group.this["batch"].capacity_type == "SPOT"
      && length(aws_eks_node_group.this["batch"].instance_types) >= 4
    )
    error_message = "The batch node group must span the three zones' subnets on spot with several instance types."
  }
  assert {
    condition = (
      length(aws_iam_role.karpenter_controller) + length(aws_iam_role.karpenter_node) + length(aws_sqs_queue.karpenter)
      + length(aws_cloudwatch_event_rule.karpenter) + length(aws_eks_access_entry.karpenter_node) + length(aws_ec2_tag.karpenter_discovery_cluster_sg)
    ) == 0
    error_message = "Without Karpenter none of its resources may exist."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.private : !contains(keys(s.tags), "karpenter.sh/discovery")])
    error_message = "Without Karpenter the subnets carry no discovery tag."
  }
  assert {
    condition     = !contains(keys(yamldecode(output.helm_values)), "karpenter") && output.karpenter_helm_values == null && output.karpenter_install_command == null
    error_message = "Without Karpenter the chart must not render a NodePool and there is nothing to install."
  }
  assert {
    condition     = length(aws_autoscaling_group_tag.batch_node_template) == 2
    error_message = "The batch group must advertise its label and taint for scale-from-zero."
  }
}

run "worker_requests_match_the_chart_defaults" {
  command = plan

  assert {
    condition     = !fileexists("../../charts/govsim/values.yaml") ? true : yamldecode(output.helm_values).worker.resources == yamldecode(file("../../charts/govsim/values.yaml")).worker.resources
    error_message = "helm_values.worker.resources must equal the chart's default worker.resources (both are sized in docs/aws.md)."
  }
  assert {
    condition     = yamldecode(output.helm_values).worker.resources == { requests = { cpu = "950m", memory = "1600Mi" }, limits = { cpu = "1", memory = "1600Mi" } }
    error_message = "Worker requests must be the sized ones (950m, 1600Mi)."
  }
}

run "batch_scaler_must_be_known" {
  command = plan

  variables {
    batch_scaler = "fargate"
  }

  expect_failures = [var.batch_scaler]
}

run "karpenter_limits_must_hold_a_node" {
  command = plan

  variables {
    karpenter_limits = { cpu = 4, memory_gib = 16 }
  }

  expect_failures = [var.karpenter_limits]
}
