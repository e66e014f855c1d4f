# EKS, node groups and network: pinned version, audit trail, encryption, spot batch pool at zero,
# private nodes in several zones.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
}

run "control_plane_is_pinned_logged_and_encrypted" {
  assert {
    condition     = aws_eks_cluster.this.version == jsondecode(file("kubernetes-versions.json")).kubernetes.default
    error_message = "The Kubernetes version must be pinned to the default in kubernetes-versions.json."
  }
  assert {
    condition     = toset(aws_eks_cluster.this.enabled_cluster_log_types) == toset(["api", "audit", "authenticator", "controllerManager", "scheduler"])
    error_message = "Every control-plane log type must be enabled."
  }
  assert {
    condition     = aws_eks_cluster.this.encryption_config[0].resources == toset(["secrets"]) && aws_eks_cluster.this.encryption_config[0].provider[0].key_arn == aws_kms_key.eks.arn
    error_message = "Secrets must be encrypted with the EKS KMS key."
  }
  assert {
    condition     = aws_cloudwatch_log_group.cluster.name == "/aws/eks/govsim/cluster" && aws_cloudwatch_log_group.cluster.kms_key_id == aws_kms_key.data.arn
    error_message = "The control-plane log group must be ours (named as EKS expects) and encrypted."
  }
  assert {
    condition     = aws_eks_cluster.this.access_config[0].authentication_mode == "API"
    error_message = "Cluster access must go through EKS access entries."
  }
  assert {
    condition     = aws_eks_cluster.this.upgrade_policy[0].support_type == "STANDARD"
    error_message = "The cluster must not drift into paid extended support."
  }
}

run "api_endpoint_is_private_or_restricted" {
  assert {
    condition = (
      aws_eks_cluster.this.vpc_config[0].endpoint_private_access
      && aws_eks_cluster.this.vpc_config[0].public_access_cidrs == toset(["203.0.113.0/24"])
    )
    error_message = "The public endpoint must be restricted to the given CIDRs, and the private one on."
  }
  assert {
    condition     = toset(aws_eks_cluster.this.vpc_config[0].subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "The control plane must attach to the private subnets only."
  }
}

run "private_endpoint_only" {
  variables {
    endpoint_public_access       = false
    endpoint_public_access_cidrs = []
  }

  assert {
    condition     = !aws_eks_cluster.this.vpc_config[0].endpoint_public_access && aws_eks_cluster.this.vpc_config[0].endpoint_private_access
    error_message = "endpoint_public_access = false must leave only the private endpoint."
  }
}

run "batch_pool_is_spot_from_zero_labelled_and_tainted" {
  # The managed batch node group is the cluster-autoscaler path (karpenter.tftest.hcl: the other).
  variables {
    batch_scaler = "cluster-autoscaler"
  }

  assert {
    condition = (
      aws_eks_node_group.this["batch"].scaling_config[0].min_size == 0
      && aws_eks_node_group.this["batch"].scaling_config[0].desired_size == 0
      && aws_eks_node_group.this["batch"].scaling_config[0].max_size == 20
    )
    error_message = "The batch pool must scale between 0 and batch_max_nodes (20) and start empty."
  }
  assert {
    condition     = aws_eks_node_group.this["batch"].capacity_type == "SPOT" && length(aws_eks_node_group.this["batch"].instance_types) >= 2
    error_message = "The batch pool must run on spot across several instance types."
  }
  assert {
    condition     = aws_eks_node_group.this["batch"].labels == tomap({ "govsim.io/pool" = "batch" })
    error_message = "The batch pool must carry the govsim.io/pool=batch label."
  }
  assert {
    condition = aws_eks_node_group.this["batch"].taint == toset([{
      key = "govsim.io/batch", value = "true", effect = "NO_SCHEDULE"
    }])
    error_message = "The batch pool must carry the govsim.io/batch=true:NoSchedule taint."
  }
  assert {
    condition = {
      for t in aws_autoscaling_group_tag.batch_node_template : t.tag[0].key => t.tag[0].value
      } == {
      "k8s.io/cluster-autoscaler/node-template/label/govsim.io/pool"  = "batch"
      "k8s.io/cluster-autoscaler/node-template/taint/govsim.io/batch" = "true:NoSchedule"
    }
    error_message = "The batch Auto Scaling group must advertise its label and taint for scale-from-zero."
  }
}

run "system_pool_is_on_demand_and_never_empty" {
  assert {
    condition = (
      aws_eks_node_group.this["system"].capacity_type == "ON_DEMAND"
      && aws_eks_node_group.this["system"].scaling_config[0].min_size >= 1
      && aws_eks_node_group.this["system"].scaling_config[0].max_size <= 10
      && length(aws_eks_node_group.this["system"].taint) == 0
    )
    error_message = "The system pool must be on demand, untainted, with 1 <= min and max <= 10."
  }
}

run "nodes_are_private_and_hardened" {
  assert {
    condition     = alltrue([for g in aws_eks_node_group.this : toset(g.subnet_ids) == toset(aws_subnet.private[*].id)])
    error_message = "Every node group must live in the private subnets."
  }
  assert {
    condition = alltrue([
      for lt in aws_launch_template.node :
      lt.metadata_options[0].http_tokens == "required" && lt.metadata_options[0].http_put_response_hop_limit == 1
    ])
    error_message = "Nodes must require IMDSv2 with a hop limit of 1 (pods use IRSA, not the node role)."
  }
  assert {
    condition = alltrue([
      for lt in aws_launch_template.node : alltrue([for b in lt.block_device_mappings : b.ebs[0].encrypted == "true"])
    ])
    error_message = "Node volumes must be encrypted."
  }
}

run "network_spans_zones_with_private_subnets_and_nat" {
  assert {
    condition     = length(aws_subnet.private) == 3 && toset(aws_subnet.private[*].availability_zone) == toset(["us-east-1a", "us-east-1b", "us-east-1c"])
    error_message = "There must be one private subnet per zone, in three zones by default."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "Public subnets must not hand out public IPs."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 1 && alltrue([for rt in aws_route_table.private : one(rt.route).nat_gateway_id == aws_nat_gateway.this[0].id])
    error_message = "By default one NAT gateway serves every private route table."
  }
  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && toset(aws_vpc_endpoint.s3.route_table_ids) == toset(aws_route_table.private[*].id)
    error_message = "S3 traffic from the private subnets must use the gateway endpoint."
  }
  assert {
    condition     = aws_flow_log.this.vpc_id == aws_vpc.this.id && aws_cloudwatch_log_group.flow_logs.kms_key_id == aws_kms_key.data.arn
    error_message = "VPC flow logs must go to an encrypted log group."
  }
  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must have no rules."
  }
}

run "nat_per_zone" {
  variables {
    availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    nat_gateway_mode   = "per_az"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_subnet.private) == 3
    error_message = "per_az must create one NAT gateway per zone."
  }
  assert {
    condition = alltrue([
      for i, rt in aws_route_table.private : one(rt.route).nat_gateway_id == aws_nat_gateway.this[i].id
    ])
    error_message = "Each private route table must use its own zone's NAT gateway."
  }
  assert {
    condition     = length(distinct(concat(aws_subnet.private[*].cidr_block, aws_subnet.public[*].cidr_block))) == 6
    error_message = "Subnet CIDRs must not collide."
  }
}

run "cluster_admins_get_access_entries" {
  variables {
    cluster_admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admin"]
  }

  assert {
    condition     = aws_eks_access_policy_association.admin["arn:aws:iam::123456789012:role/platform-admin"].policy_arn == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    error_message = "Listed principals must be granted cluster admin through an access entry."
  }
}
