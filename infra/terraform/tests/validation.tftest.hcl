# Guardrails: inputs that would fail half-way through an apply, or weaken security, are refused
# at plan time with a message that names the variable.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
}

run "defaults_plan_cleanly" {
  command = plan
}

run "kubernetes_version_too_old" {
  command = plan
  variables {
    kubernetes_version = "1.29"
  }
  expect_failures = [var.kubernetes_version]
}

run "kubernetes_version_past_standard_support" {
  command = plan
  variables {
    kubernetes_version = "1.34"
  }
  expect_failures = [var.kubernetes_version]
}

run "kubernetes_version_without_pinned_addons" {
  command = plan
  variables {
    kubernetes_version = "1.99"
  }
  expect_failures = [var.kubernetes_version]
}

run "kubernetes_version_with_a_patch_number" {
  command = plan
  variables {
    kubernetes_version = "1.36.1"
  }
  expect_failures = [var.kubernetes_version]
}

run "kubernetes_version_not_a_minor_version" {
  command = plan
  variables {
    kubernetes_version = "latest"
  }
  expect_failures = [var.kubernetes_version]
}

run "one_zone_is_not_enough" {
  command = plan
  variables {
    availability_zones = ["us-east-1a"]
  }
  expect_failures = [var.availability_zones]
}

run "zones_must_be_in_the_region" {
  command = plan
  variables {
    availability_zones = ["us-east-1a", "eu-west-1b"]
  }
  expect_failures = [var.availability_zones]
}

run "zones_must_be_distinct" {
  command = plan
  variables {
    availability_zones = ["us-east-1a", "us-east-1a"]
  }
  expect_failures = [var.availability_zones]
}

run "public_endpoint_open_to_the_internet" {
  command = plan
  variables {
    endpoint_public_access_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.endpoint_public_access_cidrs]
}

run "public_endpoint_without_cidrs" {
  command = plan
  variables {
    endpoint_public_access_cidrs = []
  }
  expect_failures = [var.endpoint_public_access_cidrs]
}

run "system_pool_may_not_be_empty" {
  command = plan
  variables {
    system_node_count = { min = 0, desired = 0, max = 2 }
  }
  expect_failures = [var.system_node_count]
}

run "system_pool_bounds_must_be_ordered" {
  command = plan
  variables {
    system_node_count = { min = 3, desired = 2, max = 4 }
  }
  expect_failures = [var.system_node_count]
}

run "batch_pool_needs_a_positive_whole_maximum" {
  command = plan
  variables {
    batch_max_nodes = 0
  }
  expect_failures = [var.batch_max_nodes]
}

run "results_prefix_is_one_segment" {
  command = plan
  variables {
    results_prefix = "sweeps/../other"
  }
  expect_failures = [var.results_prefix]
}

run "expiry_must_follow_transition" {
  command = plan
  variables {
    results_transition_days = 30
    results_expiration_days = 10
  }
  expect_failures = [var.results_expiration_days]
}

run "github_repository_is_owner_slash_name" {
  command = plan
  variables {
    github_repository = "govsim"
  }
  expect_failures = [var.github_repository]
}

run "release_refs_may_not_be_every_ref" {
  command = plan
  variables {
    github_release_refs = ["refs/*"]
  }
  expect_failures = [var.github_release_refs]
}

run "spot_or_on_demand_only" {
  command = plan
  variables {
    batch_capacity_type = "RESERVED"
  }
  expect_failures = [var.batch_capacity_type]
}

# The longest name the variable accepts (24 characters) keeps every derived name within AWS's
# limits: EventBridge rules and IAM roles 64 characters, SQS queues 80, IAM policies and instance
# profiles 128. A name over a limit would fail only at apply, after other resources exist.
run "longest_name_fits_every_aws_name_limit" {
  command = plan
  variables {
    name              = "abcdefghij-klmnopqrstu-v"
    github_repository = "example-org/govsim"
  }

  assert {
    condition     = length(var.name) == 24 && length(aws_cloudwatch_event_rule.karpenter) == 5
    error_message = "This run needs a 24-character name and Karpenter's event rules."
  }
  assert {
    condition     = alltrue([for r in aws_cloudwatch_event_rule.karpenter : length(r.name) <= 64])
    error_message = "EventBridge rule names must be at most 64 characters."
  }
  assert {
    condition = alltrue([
      for n in concat(
        [for r in aws_iam_role.irsa : r.name],
        [for r in aws_iam_role.github : r.name],
        aws_iam_role.karpenter_controller[*].name,
        aws_iam_role.karpenter_node[*].name,
        [aws_iam_role.node.name, aws_iam_role.cluster.name, aws_iam_role.flow_logs.name, aws_iam_role.ebs_csi.name],
      ) : length(n) <= 64
    ])
    error_message = "IAM role names must be at most 64 characters."
  }
  assert {
    condition = alltrue([
      for n in concat([for p in aws_iam_policy.irsa : p.name], aws_iam_policy.karpenter_controller[*].name) : length(n) <= 128
    ])
    error_message = "IAM policy names must be at most 128 characters."
  }
  assert {
    condition     = alltrue([for q in aws_sqs_queue.karpenter : length(q.name) <= 80])
    error_message = "SQS queue names must be at most 80 characters."
  }
  assert {
    condition     = alltrue([for p in aws_iam_instance_profile.karpenter_node : length(p.name) <= 128])
    error_message = "Instance profile names must be at most 128 characters."
  }
}
