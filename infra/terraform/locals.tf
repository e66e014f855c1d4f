# Names and contracts shared by several files, computed once.
locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix

  tags = merge(var.tags, {
    "app.kubernetes.io/part-of" = "govsim"
    "govsim.io/deployment"      = var.name
    "managed-by"                = "terraform"
  })

  # Where the chart is installed; the IRSA trust policies name these service accounts exactly.
  k8s_namespace              = "govsim"
  controller_service_account = "govsim-controller"
  worker_service_account     = "govsim-worker"
  autoscaler_namespace       = "kube-system"
  autoscaler_service_account = "cluster-autoscaler"

  # The batch pool contract: the node group carries this label and taint, and the chart's worker
  # pods select and tolerate them (fed through the helm_values output).
  batch_label = { key = "govsim.io/pool", value = "batch" }
  batch_taint = { key = "govsim.io/batch", value = "true", effect = "NoSchedule" }

  results_bucket     = coalesce(var.results_bucket_name, "${var.name}-results-${local.account_id}-${var.region}")
  results_bucket_arn = "arn:${local.partition}:s3:::${local.results_bucket}"
  results_prefix_arn = "${local.results_bucket_arn}/${var.results_prefix}/*"

  private_subnet_cidrs = [for i, _ in var.availability_zones : cidrsubnet(var.vpc_cidr, 3, i)]
  public_subnet_cidrs  = [for i, _ in var.availability_zones : cidrsubnet(var.vpc_cidr, 8, 224 + i)]
  nat_gateway_count    = var.nat_gateway_mode == "single" ? 1 : length(var.availability_zones)
}
