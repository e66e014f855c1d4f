# ECR repositories are immutable and scanned; the helm_values output matches the chart's contract
# and the node groups it schedules onto.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
}

override_resource {
  target = aws_iam_role.irsa["worker"]
  values = { arn = "arn:aws:iam::123456789012:role/govsim-worker" }
}

override_resource {
  target = aws_iam_role.irsa["controller"]
  values = { arn = "arn:aws:iam::123456789012:role/govsim-controller" }
}

run "ecr_repositories_are_immutable_scanned_and_encrypted" {
  assert {
    condition     = toset([for r in aws_ecr_repository.this : r.name]) == toset(["govsim", "govsim/charts/govsim"])
    error_message = "There must be an image repository and a chart repository."
  }
  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE"])
    error_message = "Image tags must be immutable."
  }
  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_scanning_configuration[0].scan_on_push])
    error_message = "Images must be scanned on push."
  }
  assert {
    condition = alltrue([
      for r in aws_ecr_repository.this :
      r.encryption_configuration[0].encryption_type == "KMS" && r.encryption_configuration[0].kms_key == aws_kms_key.data.arn
    ])
    error_message = "Repositories must be encrypted with the data key."
  }
  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : !r.force_delete])
    error_message = "Repositories holding images must not be deletable by default."
  }
}

run "ecr_lifecycle_keeps_signatures_and_bounds_the_releases" {
  variables {
    ecr_keep_images = 10
  }

  assert {
    condition = alltrue([
      for p in aws_ecr_lifecycle_policy.this : contains([for r in jsondecode(p.policy).rules : jsonencode(r.selection)], jsonencode({
        tagStatus = "tagged", tagPatternList = ["*"], countType = "imageCountMoreThan", countNumber = 10
      }))
    ])
    error_message = "Each repository keeps the newest ecr_keep_images tagged images, untagged artifacts not counted."
  }
  assert {
    condition     = [for r in jsondecode(aws_ecr_lifecycle_policy.this["image"].policy).rules : r.selection.tagStatus] == ["tagged"]
    error_message = "The image repository must expire no untagged artifact: cosign's signatures and SBOM attestations are untagged."
  }
  assert {
    condition = contains([for r in jsondecode(aws_ecr_lifecycle_policy.this["chart"].policy).rules : jsonencode(r.selection)], jsonencode({
      tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 7
    }))
    error_message = "The chart repository expires untagged artifacts after 7 days."
  }
  assert {
    condition     = length(aws_ecr_lifecycle_policy.this) == 2
    error_message = "Both repositories need a lifecycle policy."
  }
}

run "helm_values_feed_the_chart" {
  assert {
    condition     = yamldecode(output.helm_values).image == { repository = "123456789012.dkr.ecr.us-east-1.amazonaws.com/govsim" }
    error_message = "image must name the ECR repository and leave the tag to the chart when image_tag is null."
  }
  assert {
    condition = yamldecode(output.helm_values).s3 == {
      bucket = "govsim-results-123456789012-us-east-1", prefix = "sweeps", region = "us-east-1"
    }
    error_message = "s3 must carry the bucket, prefix and region."
  }
  assert {
    condition = yamldecode(output.helm_values).serviceAccounts == {
      controller = { roleArn = "arn:aws:iam::123456789012:role/govsim-controller" }
      worker     = { roleArn = "arn:aws:iam::123456789012:role/govsim-worker" }
    }
    error_message = "Each service account must get its own IRSA role."
  }
  assert {
    condition     = keys(yamldecode(output.helm_values)) == ["image", "karpenter", "s3", "serviceAccounts", "worker"]
    error_message = "helm_values must carry only the keys the chart's contract names."
  }
}

run "helm_values_schedule_workers_onto_the_batch_pool" {
  # Against the managed batch node group; karpenter.tftest.hcl checks the Karpenter path.
  variables {
    batch_scaler = "cluster-autoscaler"
  }

  assert {
    condition     = tomap(yamldecode(output.helm_values).worker.nodeSelector) == aws_eks_node_group.this["batch"].labels
    error_message = "The worker nodeSelector must equal the batch node group's labels."
  }
  assert {
    condition = yamldecode(output.helm_values).worker.tolerations == [{
      key = "govsim.io/batch", operator = "Equal", value = "true", effect = "NoSchedule"
    }]
    error_message = "The worker toleration must match the batch taint exactly."
  }
  assert {
    condition = alltrue([
      for t in yamldecode(output.helm_values).worker.tolerations : contains(
        [for nt in aws_eks_node_group.this["batch"].taint : "${nt.key}=${nt.value}:${nt.effect}"],
        "${t.key}=${t.value}:${local.eks_taint_effect[t.effect]}",
      )
    ])
    error_message = "Every worker toleration must correspond to a taint on the batch node group."
  }
}

run "helm_values_carry_the_image_tag_when_given" {
  variables {
    image_tag = "0.4.0"
  }

  assert {
    condition     = yamldecode(output.helm_values).image.tag == "0.4.0"
    error_message = "image_tag must reach the Helm values."
  }
}

run "operator_outputs" {
  assert {
    condition     = output.update_kubeconfig_command == "aws eks update-kubeconfig --region us-east-1 --name govsim"
    error_message = "The kubeconfig command must name the region and cluster."
  }
  assert {
    condition     = output.chart_oci_url == "oci://123456789012.dkr.ecr.us-east-1.amazonaws.com/govsim/charts"
    error_message = "The chart must be pushed next to its ECR repository."
  }
}

# The chart is the other half of the helm_values contract: each value we emit must be one the
# chart declares in its defaults (a misspelt key would be silently ignored by helm). The Python
# test suite fails in CI when the chart is missing, so this cannot pass vacuously there.
run "chart_defaults_declare_every_helm_value" {
  command = plan

  variables {
    image_tag = "0.4.0"
  }

  assert {
    condition = !fileexists("../../charts/govsim/values.yaml") ? true : alltrue(concat(
      flatten([
        for key, block in local.helm_values : [
          for sub, _ in block : can(yamldecode(file("../../charts/govsim/values.yaml"))[key][sub])
        ]
      ]),
      [
        for account, _ in local.helm_values.serviceAccounts :
        can(yamldecode(file("../../charts/govsim/values.yaml")).serviceAccounts[account].roleArn)
      ],
    ))
    error_message = "charts/govsim/values.yaml must declare every key of helm_values (image.repository, image.tag, s3.bucket/prefix/region, serviceAccounts.*.roleArn, worker.nodeSelector/tolerations)."
  }
}
