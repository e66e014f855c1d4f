# Outputs. helm_values is a values file for charts/govsim:
#   terraform output -raw helm_values > values-aws.yaml
#   helm install govsim <chart> -n govsim --create-namespace -f values-aws.yaml

locals {
  registry = split("/", aws_ecr_repository.this["image"].repository_url)[0]

  helm_values = merge(local.helm_base_values, {
    # Only with worker_namespaces: watch every namespace, with these worker namespaces.
    for k, v in { controller = { watchAllNamespaces = true, workerNamespaces = var.worker_namespaces } } :
    k => v if length(var.worker_namespaces) > 0
    }, {
    # Only with batch_scaler = "karpenter": the chart renders the batch NodePool and EC2NodeClass.
    for k, v in { karpenter = local.karpenter_chart_values } : k => v if local.karpenter_enabled
  })

  helm_base_values = {
    image = merge(
      { repository = aws_ecr_repository.this["image"].repository_url },
      { for k, v in { tag = var.image_tag } : k => v if v != null },
    )
    s3 = {
      bucket = aws_s3_bucket.results.bucket
      prefix = var.results_prefix
      region = var.region
    }
    serviceAccounts = {
      controller = { roleArn = aws_iam_role.irsa["controller"].arn }
      worker     = { roleArn = aws_iam_role.irsa["worker"].arn }
    }
    worker = {
      resources    = local.worker_resources
      nodeSelector = { (local.batch_label.key) = local.batch_label.value }
      tolerations = [{
        key      = local.batch_taint.key
        operator = "Equal"
        value    = local.batch_taint.value
        effect   = local.batch_taint.effect
      }]
    }
  }
}

output "helm_values" {
  description = "Values file fragment for the govsim chart (image, results bucket, IRSA roles, batch pool scheduling)."
  value       = yamlencode(local.helm_values)
}

output "region" {
  description = "AWS region of the deployment."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "EKS API server endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "update_kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.this.name}"
}

output "ecr_registry" {
  description = "ECR registry host (for docker/helm registry login)."
  value       = local.registry
}

output "ecr_repository_url" {
  description = "ECR repository of the govsim image."
  value       = aws_ecr_repository.this["image"].repository_url
}

output "chart_oci_url" {
  description = "OCI location to `helm push` the chart to; the chart is then oci://.../govsim."
  value       = "oci://${local.registry}/${var.name}/charts"
}

output "results_bucket" {
  description = "S3 bucket that receives sweep results."
  value       = aws_s3_bucket.results.bucket
}

output "results_prefix" {
  description = "Key prefix under which sweeps write."
  value       = var.results_prefix
}

output "worker_role_arn" {
  description = "IRSA role of the govsim-worker service account."
  value       = aws_iam_role.irsa["worker"].arn
}

output "controller_role_arn" {
  description = "IRSA role of the govsim-controller service account."
  value       = aws_iam_role.irsa["controller"].arn
}

output "cluster_autoscaler_role_arn" {
  description = "IRSA role for the cluster autoscaler (service account kube-system/cluster-autoscaler); null unless batch_scaler = \"cluster-autoscaler\"."
  value       = try(aws_iam_role.irsa["cluster-autoscaler"].arn, null)
}

output "github_release_role_arn" {
  description = "Role the release workflow assumes (repository variable AWS_RELEASE_ROLE_ARN); null without github_repository."
  value       = try(aws_iam_role.github["release"].arn, null)
}

output "github_plan_role_arn" {
  description = "Role the terraform workflow assumes for plans (repository variable AWS_PLAN_ROLE_ARN); null without github_repository."
  value       = try(aws_iam_role.github["plan"].arn, null)
}

# --- batch scaling ------------------------------------------------------------------------------

output "batch_scaler" {
  description = "Which batch scaler this deployment is built for: karpenter or cluster-autoscaler."
  value       = var.batch_scaler
}

output "karpenter_helm_values" {
  description = "Values file for Karpenter's own Helm chart (cluster, endpoint, interruption queue, IRSA role, placement on the system pool); null unless batch_scaler = \"karpenter\"."
  value       = local.karpenter_enabled ? yamlencode(local.karpenter_helm_values) : null
}

output "karpenter_install_command" {
  description = "helm command that installs the pinned Karpenter chart with karpenter_helm_values (saved as karpenter-values.yaml); null unless batch_scaler = \"karpenter\"."
  value       = local.karpenter_enabled ? "helm upgrade --install karpenter oci://public.ecr.aws/karpenter/karpenter --version ${local.karpenter_version} --namespace ${local.karpenter_namespace} -f karpenter-values.yaml --wait" : null
}

output "karpenter_interruption_queue" {
  description = "Name of Karpenter's interruption queue; null unless batch_scaler = \"karpenter\"."
  value       = try(aws_sqs_queue.karpenter[0].name, null)
}

output "karpenter_controller_role_arn" {
  description = "IRSA role of Karpenter's controller (service account kube-system/karpenter); null unless batch_scaler = \"karpenter\"."
  value       = try(aws_iam_role.karpenter_controller[0].arn, null)
}
