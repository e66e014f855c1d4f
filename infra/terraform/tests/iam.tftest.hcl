# IRSA and GitHub roles: each role trusts exactly one identity and may do only its job.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
  github_repository            = "example-org/govsim"
}

run "worker_policy_names_only_the_bucket_and_its_prefix" {
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_policy.irsa["worker"].policy).Statement : s.Resource
      if anytrue([for a in s.Action : startswith(a, "s3:")])
      ])) == toset([
      "arn:aws:s3:::govsim-results-123456789012-us-east-1",
      "arn:aws:s3:::govsim-results-123456789012-us-east-1/sweeps/*",
    ])
    error_message = "The worker's S3 statements must name exactly the bucket ARN and <bucket>/sweeps/*."
  }
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_policy.irsa["worker"].policy).Statement : s.Action
      ])) == toset([
      "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
      "kms:Decrypt", "kms:GenerateDataKey",
    ])
    error_message = "The worker may list, read, write and delete objects, abort its uploads and use the data key, nothing more (tests/infra/test_worker_s3_policy.py derives this from recorded calls)."
  }
  assert {
    condition = {
      for s in jsondecode(aws_iam_policy.irsa["worker"].policy).Statement : s.Sid => jsonencode(s.Condition)
      if contains(s.Action, "s3:ListBucket")
      } == {
      ListResultsPrefix       = jsonencode({ StringLike = { "s3:prefix" = ["sweeps", "sweeps/*"] } })
      ListBucketWithoutPrefix = jsonencode({ Null = { "s3:prefix" = "true" } })
    }
    error_message = "The worker may list the bucket only under the results prefix (s3:prefix condition) or with no prefix at all (which S3 needs to answer a read of a missing key with 404)."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.irsa["worker"].policy).Statement :
      anytrue([for a in s.Action : startswith(a, "kms:")])
      ? (s.Resource == [aws_kms_key.data.arn] && s.Condition.StringEquals["kms:ViaService"] == "s3.us-east-1.amazonaws.com")
      : true
    ])
    error_message = "The worker may use only the data key, and only through S3."
  }
  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_policy.irsa["worker"].policy).Statement : s.Effect == "Allow"])
    error_message = "Unexpected statement effect in the worker policy."
  }
}

run "controller_policy_reads_the_prefix_and_creates_only_round_files" {
  assert {
    condition = {
      for s in jsondecode(aws_iam_policy.irsa["controller"].policy).Statement : s.Sid => { actions = s.Action, resources = s.Resource }
      } == {
      ListResultsPrefix       = { actions = ["s3:ListBucket"], resources = ["arn:aws:s3:::govsim-results-123456789012-us-east-1"] }
      ListBucketWithoutPrefix = { actions = ["s3:ListBucket"], resources = ["arn:aws:s3:::govsim-results-123456789012-us-east-1"] }
      ReadResultsPrefix       = { actions = ["s3:GetObject"], resources = ["arn:aws:s3:::govsim-results-123456789012-us-east-1/sweeps/*"] }
      CreateRoundFiles        = { actions = ["s3:PutObject"], resources = ["arn:aws:s3:::govsim-results-123456789012-us-east-1/sweeps/*/rounds/*"] }
      UseDataKeyThroughS3     = { actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.data.arn] }
    }
    error_message = "The controller may list and read under the results prefix, create round files (<prefix>/*/rounds/*) and use the data key, nothing more (tests/infra/test_controller_s3_policy.py derives this from recorded calls)."
  }
  assert {
    condition = {
      for s in jsondecode(aws_iam_policy.irsa["controller"].policy).Statement : s.Sid => jsonencode(s.Condition)
      if contains(s.Action, "s3:ListBucket")
      } == {
      ListResultsPrefix       = jsonencode({ StringLike = { "s3:prefix" = ["sweeps", "sweeps/*"] } })
      ListBucketWithoutPrefix = jsonencode({ Null = { "s3:prefix" = "true" } })
    }
    error_message = "The controller may list the bucket only under the results prefix (s3:prefix condition) or with no prefix at all (which S3 needs to answer a read of a missing key with 404)."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.irsa["controller"].policy).Statement :
      anytrue([for a in s.Action : startswith(a, "kms:")])
      ? s.Condition.StringEquals["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
      : true
    ])
    error_message = "The controller may use the data key only through S3."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.irsa["controller"].policy).Statement :
      s.Effect == "Allow" && !contains(s.Action, "s3:DeleteObject") && !contains(s.Action, "s3:AbortMultipartUpload")
    ])
    error_message = "The controller deletes nothing and aborts no upload."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.irsa["controller"].role == aws_iam_role.irsa["controller"].name
    error_message = "The controller's policy must be attached to the controller's role."
  }
  assert {
    condition     = toset(keys(aws_iam_role_policy_attachment.irsa)) == toset(["worker", "controller"])
    error_message = "With Karpenter (the default) the worker and the controller roles carry a policy, no other IRSA role."
  }
}

run "prefix_variable_moves_every_grant" {
  variables {
    results_prefix = "experiments"
  }

  assert {
    condition = alltrue([
      for r in flatten([
        for k in ["worker", "controller"] : [for s in jsondecode(aws_iam_policy.irsa[k].policy).Statement : s.Resource]
      ]) : !strcontains(r, "sweeps")
    ])
    error_message = "No grant may still name the default prefix."
  }
  assert {
    condition = contains(
      flatten([for s in jsondecode(aws_iam_policy.irsa["worker"].policy).Statement : s.Resource]),
      "arn:aws:s3:::govsim-results-123456789012-us-east-1/experiments/*",
    )
    error_message = "The worker must be granted the configured prefix."
  }
  assert {
    condition = {
      for s in jsondecode(aws_iam_policy.irsa["controller"].policy).Statement : s.Sid => s.Resource if startswith(s.Action[0], "s3:")
      } == {
      ListResultsPrefix       = ["arn:aws:s3:::govsim-results-123456789012-us-east-1"]
      ListBucketWithoutPrefix = ["arn:aws:s3:::govsim-results-123456789012-us-east-1"]
      ReadResultsPrefix       = ["arn:aws:s3:::govsim-results-123456789012-us-east-1/experiments/*"]
      CreateRoundFiles        = ["arn:aws:s3:::govsim-results-123456789012-us-east-1/experiments/*/rounds/*"]
    }
    error_message = "The controller must be granted the configured prefix and its round files."
  }
}

run "irsa_roles_trust_exactly_one_service_account" {
  assert {
    condition = jsondecode(aws_iam_role.irsa["worker"].assume_role_policy).Statement[0].Condition.StringEquals == {
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:sub" = ["system:serviceaccount:govsim:govsim-worker"]
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:aud" = "sts.amazonaws.com"
    }
    error_message = "The worker role must trust only govsim/govsim-worker through the cluster's issuer."
  }
  assert {
    condition = jsondecode(aws_iam_role.irsa["controller"].assume_role_policy).Statement[0].Condition.StringEquals[
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:sub"
    ] == ["system:serviceaccount:govsim:govsim-controller"]
    error_message = "The controller role must trust only govsim/govsim-controller."
  }
  assert {
    condition = alltrue([
      for r in aws_iam_role.irsa :
      length(jsondecode(r.assume_role_policy).Statement) == 1
      && jsondecode(r.assume_role_policy).Statement[0].Principal.Federated == aws_iam_openid_connect_provider.eks.arn
      && jsondecode(r.assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity"
    ])
    error_message = "Every IRSA role must trust only the cluster's OIDC provider."
  }
  assert {
    condition     = aws_iam_openid_connect_provider.eks.url == aws_eks_cluster.this.identity[0].oidc[0].issuer
    error_message = "The IAM OIDC provider must be the cluster's issuer."
  }
}

run "worker_namespaces_extend_only_the_worker_trust" {
  variables {
    worker_namespaces = ["lab-a", "lab-b"]
  }
  assert {
    condition = jsondecode(aws_iam_role.irsa["worker"].assume_role_policy).Statement[0].Condition.StringEquals[
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:sub"
      ] == [
      "system:serviceaccount:govsim:govsim-worker",
      "system:serviceaccount:lab-a:govsim-worker",
      "system:serviceaccount:lab-b:govsim-worker",
    ]
    error_message = "Each worker namespace's govsim-worker service account must be trusted, and nothing else."
  }
  assert {
    condition = jsondecode(aws_iam_role.irsa["controller"].assume_role_policy).Statement[0].Condition.StringEquals[
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:sub"
    ] == ["system:serviceaccount:govsim:govsim-controller"]
    error_message = "Worker namespaces must not widen the controller's trust."
  }
  assert {
    condition     = yamldecode(output.helm_values).controller == { watchAllNamespaces = true, workerNamespaces = ["lab-a", "lab-b"] }
    error_message = "helm_values must watch every namespace and list the worker namespaces."
  }
}

run "worker_namespaces_refuse_the_release_namespace" {
  command = plan
  variables {
    worker_namespaces = ["govsim"]
  }
  expect_failures = [var.worker_namespaces]
}

run "autoscaler_role_exists_only_without_karpenter" {
  command = plan

  assert {
    condition     = !contains(keys(aws_iam_role.irsa), "cluster-autoscaler") && !contains(keys(aws_iam_policy.irsa), "cluster-autoscaler")
    error_message = "With Karpenter (the default) there is no cluster autoscaler, so no role for it."
  }
  assert {
    condition     = output.cluster_autoscaler_role_arn == null
    error_message = "With Karpenter cluster_autoscaler_role_arn must be null."
  }
}

run "autoscaler_resizes_only_this_clusters_groups" {
  variables {
    batch_scaler = "cluster-autoscaler"
  }

  assert {
    condition     = toset(keys(aws_iam_role_policy_attachment.irsa)) == toset(["worker", "controller", "cluster-autoscaler"])
    error_message = "With the cluster autoscaler its role carries a policy too."
  }
  assert {
    condition = jsondecode(aws_iam_role.irsa["cluster-autoscaler"].assume_role_policy).Statement[0].Condition.StringEquals[
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123456789:sub"
    ] == ["system:serviceaccount:kube-system:cluster-autoscaler"]
    error_message = "The autoscaler role must trust only kube-system/cluster-autoscaler."
  }
  assert {
    condition     = output.cluster_autoscaler_role_arn == aws_iam_role.irsa["cluster-autoscaler"].arn
    error_message = "cluster_autoscaler_role_arn must name the autoscaler's role."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.irsa["cluster-autoscaler"].policy).Statement :
      anytrue([for a in s.Action : !startswith(a, "autoscaling:Describe") && !startswith(a, "ec2:Describe") && !startswith(a, "ec2:Get") && !startswith(a, "eks:Describe")])
      ? s.Condition.StringEquals["aws:ResourceTag/k8s.io/cluster-autoscaler/govsim"] == "owned"
      : true
    ])
    error_message = "Every mutating autoscaler action must be conditioned on the cluster's owned tag."
  }
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_policy.irsa["cluster-autoscaler"].policy).Statement : s.Action
      if !startswith(s.Action[0], "autoscaling:Describe") && !startswith(s.Action[0], "ec2:") && !startswith(s.Action[0], "eks:")
    ])) == toset(["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"])
    error_message = "The autoscaler may only set capacity and terminate instances."
  }
}

run "no_policy_uses_wildcard_actions" {
  assert {
    condition = alltrue(flatten([
      for p in concat(
        [for k, v in aws_iam_policy.irsa : v.policy],
        [aws_iam_role_policy.github_release[0].policy, aws_iam_role_policy.flow_logs.policy, aws_iam_role_policy.cluster_kms.policy],
        ) : [
        for s in jsondecode(p).Statement : [for a in s.Action : !strcontains(a, "*")]
      ]
    ]))
    error_message = "IAM policies must list actions explicitly."
  }
}

run "github_release_role_trusts_release_tags_of_one_repository" {
  assert {
    condition = jsondecode(aws_iam_role.github["release"].assume_role_policy).Statement[0].Condition == {
      StringEquals = { "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com" }
      StringLike = {
        "token.actions.githubusercontent.com:sub"              = ["repo:example-org/govsim:environment:release"]
        "token.actions.githubusercontent.com:job_workflow_ref" = ["example-org/govsim/.github/workflows/release.yml@refs/tags/v*"]
      }
    }
    error_message = "The release role must trust only jobs of the release workflow (job_workflow_ref) on release tags of example-org/govsim that run in its release environment (sub)."
  }
  assert {
    condition     = jsondecode(aws_iam_role.github["release"].assume_role_policy).Statement[0].Principal.Federated == aws_iam_openid_connect_provider.github[0].arn
    error_message = "The release role must trust the GitHub OIDC provider."
  }
  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com"
    error_message = "The GitHub OIDC provider must be token.actions.githubusercontent.com."
  }
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.github_release[0].policy).Statement : s.Resource
      if s.Sid == "PushToOurRepositories"
    ])) == toset([for r in aws_ecr_repository.this : r.arn])
    error_message = "The release role may push only to the deployment's repositories."
  }
  assert {
    condition     = jsondecode(aws_iam_role.github["plan"].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == ["repo:example-org/govsim:pull_request"]
    error_message = "The plan role must trust only pull requests of example-org/govsim."
  }
}

run "release_refs_name_the_workflow_refs_and_keep_the_environment_subject" {
  variables {
    github_release_refs = ["refs/tags/v*", "refs/tags/rc-*"]
  }
  assert {
    condition = jsondecode(aws_iam_role.github["release"].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:job_workflow_ref"] == [
      "example-org/govsim/.github/workflows/release.yml@refs/tags/v*",
      "example-org/govsim/.github/workflows/release.yml@refs/tags/rc-*",
    ]
    error_message = "Each release ref must be trusted only through release.yml at that ref."
  }
  assert {
    condition     = jsondecode(aws_iam_role.github["release"].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] == ["repo:example-org/govsim:environment:release"]
    error_message = "Whatever the release refs, the release role's subject must stay the release environment."
  }
  assert {
    condition     = !can(jsondecode(aws_iam_role.github["plan"].assume_role_policy).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:job_workflow_ref"])
    error_message = "The plan role keeps its pull_request subject only."
  }
}

run "plan_role_reads_only_what_planning_needs" {
  variables {
    terraform_state_bucket = "govsim-tfstate-123456789012-us-east-1"
  }
  assert {
    condition     = length(aws_iam_role_policy.github_plan) == 1
    error_message = "The plan role must carry its own read-only policy (no AWS managed ReadOnlyAccess)."
  }
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.github_plan[0].policy).Statement : [
        for a in s.Action : can(regex("^[a-z0-9-]+:(Describe|Get|List)[A-Za-z*]*$", a))
      ]
    ]))
    error_message = "Every plan action must be a Describe, Get or List call."
  }
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.github_plan[0].policy).Statement : [
        for a in s.Action : !contains(["iam:PassRole", "kms:Decrypt", "s3:GetObject*", "logs:GetLogEvents"], a) && !startswith(a, "s3:GetObject") || s.Sid == "ReadState"
      ]
    ]))
    error_message = "The plan role may not pass roles, decrypt or read objects (except the state)."
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.github_plan[0].policy).Statement : s.Sid => s.Resource if s.Sid != "ReadConfiguration" } == {
      ReadResultsBucketConfiguration = ["arn:aws:s3:::govsim-results-123456789012-us-east-1"]
      ListStateBucket                = ["arn:aws:s3:::govsim-tfstate-123456789012-us-east-1"]
      ReadState                      = ["arn:aws:s3:::govsim-tfstate-123456789012-us-east-1/govsim/terraform.tfstate"]
    }
    error_message = "S3 reads must name the results bucket, the state bucket and the state object only."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.github_plan[0].policy).Statement :
      s.Sid == "ReadConfiguration" ? alltrue([for a in s.Action : !startswith(a, "s3:")]) : true
    ])
    error_message = "No S3 action may be granted on every resource."
  }
}

run "plan_role_without_state_bucket_reads_no_state" {
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.github_plan[0].policy).Statement : s.Sid] == ["ReadConfiguration", "ReadResultsBucketConfiguration"]
    error_message = "Without terraform_state_bucket the plan role reads no state object."
  }
}

run "existing_github_provider_is_referenced_not_created" {
  variables {
    create_github_oidc_provider = false
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0
    error_message = "No GitHub OIDC provider may be created when one exists."
  }
  assert {
    condition     = jsondecode(aws_iam_role.github["release"].assume_role_policy).Statement[0].Principal.Federated == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    error_message = "The release role must trust the account's existing GitHub provider."
  }
}

run "no_github_repository_no_github_roles" {
  variables {
    github_repository = null
  }

  assert {
    condition     = length(aws_iam_role.github) == 0 && length(aws_iam_openid_connect_provider.github) == 0
    error_message = "Without github_repository no GitHub trust may exist."
  }
  assert {
    condition     = output.github_release_role_arn == null && output.github_plan_role_arn == null
    error_message = "The GitHub role outputs must be null without github_repository."
  }
}
