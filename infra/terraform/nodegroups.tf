# Managed node groups. "system" is small and on demand: the controller, Prometheus, Grafana,
# CoreDNS and Karpenter live there. "batch" runs sweep workers only: spot capacity, zero nodes
# when idle, and a label plus a NoSchedule taint so that nothing else lands on it and workers land
# nowhere else. The batch group exists only with batch_scaler = "cluster-autoscaler"; with
# "karpenter" (the default) Karpenter launches batch nodes with the same label and taint
# (karpenter.tf, and the chart's NodePool). The cluster autoscaler resizes the groups; Terraform
# ignores desired_size after creation so that an apply never undoes a scale-up mid-sweep.

locals {
  node_groups = { for k, v in local.all_node_groups : k => v if k != "batch" || !local.karpenter_enabled }

  all_node_groups = {
    system = {
      capacity_type  = "ON_DEMAND"
      instance_types = var.system_instance_types
      min            = var.system_node_count.min
      desired        = var.system_node_count.desired
      max            = var.system_node_count.max
      labels         = { "govsim.io/pool" = "system" }
      taints         = []
    }
    batch = {
      capacity_type  = var.batch_capacity_type
      instance_types = var.batch_instance_types
      min            = 0
      desired        = 0
      max            = var.batch_max_nodes
      labels         = { (local.batch_label.key) = local.batch_label.value }
      taints         = [local.batch_taint]
    }
  }

  # EKS spells taint effects in upper snake case; Kubernetes (and the chart) in camel case.
  eks_taint_effect = {
    NoSchedule       = "NO_SCHEDULE"
    NoExecute        = "NO_EXECUTE"
    PreferNoSchedule = "PREFER_NO_SCHEDULE"
  }
}

resource "aws_iam_role" "node" {
  name = "${var.name}-eks-node"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

# IMDSv2 only, with a hop limit of 1: pods cannot reach the node's instance metadata (and so
# cannot borrow the node role); they get AWS credentials through IRSA instead.
resource "aws_launch_template" "node" {
  for_each = local.node_groups

  name_prefix            = "${var.name}-${each.key}-"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.node_disk_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-${each.key}" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${var.name}-${each.key}" })
  }
}

resource "aws_eks_node_group" "this" {
  for_each = local.node_groups

  cluster_name    = aws_eks_cluster.this.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = aws_subnet.private[*].id
  # Follows the control plane: after a cluster upgrade the next apply rolls the nodes to the
  # same minor (one at a time within max_unavailable_percentage).
  version        = aws_eks_cluster.this.version
  ami_type       = "AL2023_x86_64_STANDARD"
  capacity_type  = each.value.capacity_type
  instance_types = each.value.instance_types
  labels         = each.value.labels

  launch_template {
    id      = aws_launch_template.node[each.key].id
    version = aws_launch_template.node[each.key].latest_version
  }

  scaling_config {
    min_size     = each.value.min
    desired_size = each.value.desired
    max_size     = each.value.max
  }

  update_config {
    max_unavailable_percentage = 33
  }

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = local.eks_taint_effect[taint.value.effect]
    }
  }

  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

# Scale from zero: with no node running, the cluster autoscaler learns a group's labels and
# taints from these tags on its Auto Scaling group (EKS does not copy node group labels there).
resource "aws_autoscaling_group_tag" "batch_node_template" {
  for_each = {
    for k, v in {
      "k8s.io/cluster-autoscaler/node-template/label/${local.batch_label.key}" = local.batch_label.value
      "k8s.io/cluster-autoscaler/node-template/taint/${local.batch_taint.key}" = "${local.batch_taint.value}:${local.batch_taint.effect}"
    } : k => v if !local.karpenter_enabled
  }

  autoscaling_group_name = aws_eks_node_group.this["batch"].resources[0].autoscaling_groups[0].name

  tag {
    key                 = each.key
    value               = each.value
    propagate_at_launch = false
  }
}
