# Inputs. Every variable has a type, a description and, where a wrong value would only fail
# half-way through an apply (or silently weaken security), a validation block.

# --- naming and placement ---------------------------------------------------------------------

variable "name" {
  description = "Name of the deployment: the EKS cluster name and the prefix of every resource name."
  type        = string
  default     = "govsim"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name: must be 3-24 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region for every resource (e.g. us-east-1)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region: must look like an AWS region name, e.g. us-east-1."
  }
}

variable "availability_zones" {
  description = "Availability zones for the subnets (at least 2, at most 6), all in var.region. Given explicitly so that planning needs no AWS lookup. Three (the default) give batch nodes three spot capacity pools per instance type."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 6
    error_message = "availability_zones: needs between 2 and 6 zones; EKS requires subnets in at least 2."
  }

  validation {
    condition     = length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones: zones must be distinct."
  }

  validation {
    condition     = alltrue([for az in var.availability_zones : can(regex("^${var.region}[a-z]$", az))])
    error_message = "availability_zones: every zone must be in var.region (region name followed by one letter, e.g. us-east-1a)."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  default     = {}
}

# --- network ----------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC; a /16 leaves room for a /19 private subnet per zone (pods take VPC addresses)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 18
    error_message = "vpc_cidr: must be a valid IPv4 CIDR with a prefix of /18 or larger (e.g. 10.40.0.0/16)."
  }
}

variable "nat_gateway_mode" {
  description = "\"single\": one NAT gateway for all zones (cheapest; egress fails if its zone fails). \"per_az\": one per zone (highly available, one hourly charge per zone)."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode: must be \"single\" or \"per_az\"."
  }
}

variable "flow_log_traffic_type" {
  description = "Which VPC traffic the flow log records: ACCEPT, REJECT or ALL. REJECT keeps log ingestion cost low."
  type        = string
  default     = "REJECT"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type: must be ACCEPT, REJECT or ALL."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (EKS control plane, VPC flow logs), in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: must be one of the values CloudWatch accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, ...)."
  }
}

# --- EKS --------------------------------------------------------------------------------------

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version (e.g. \"1.36\"). Null takes the default in kubernetes-versions.json, the one file that pins the Kubernetes version, its floor and the add-on versions for each minor. Upgrade one minor version at a time."
  type        = string
  default     = null

  validation {
    condition     = var.kubernetes_version == null || can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version: must be a minor version such as \"1.36\" (no patch version, no \"latest\")."
  }

  validation {
    condition = var.kubernetes_version == null || try(
      tonumber(split(".", var.kubernetes_version)[1]) >= tonumber(split(".", local.kubernetes_versions.kubernetes.minimum)[1]),
      false,
    )
    error_message = "kubernetes_version: older than the oldest minor version in EKS standard support (kubernetes.minimum in kubernetes-versions.json); an older cluster is refused or billed at extended-support prices."
  }

  validation {
    condition     = var.kubernetes_version == null || contains(keys(local.kubernetes_versions.addons), coalesce(var.kubernetes_version, "none"))
    error_message = "kubernetes_version: kubernetes-versions.json pins no add-on versions (vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver) for this minor version; add them under addons first."
  }
}

variable "endpoint_public_access" {
  description = "Expose the EKS API endpoint publicly (restricted to endpoint_public_access_cidrs). Set false when operators reach the VPC through a VPN or bastion."
  type        = bool
  default     = true
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint (your office or VPN egress addresses)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "endpoint_public_access_cidrs: every entry must be a valid IPv4 CIDR such as 203.0.113.7/32."
  }

  validation {
    condition     = !contains(var.endpoint_public_access_cidrs, "0.0.0.0/0")
    error_message = "endpoint_public_access_cidrs: 0.0.0.0/0 would open the API endpoint to the internet; list your own addresses."
  }

  validation {
    condition     = !var.endpoint_public_access || length(var.endpoint_public_access_cidrs) > 0
    error_message = "endpoint_public_access_cidrs: must list at least one CIDR when endpoint_public_access is true."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM principal ARNs (users or roles) granted cluster-admin through EKS access entries, besides the identity that runs terraform apply."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "cluster_admin_principal_arns: each entry must be an IAM role or user ARN."
  }
}

variable "system_instance_types" {
  description = "Instance types of the on-demand system node group (controller, Prometheus, Grafana, CoreDNS)."
  type        = list(string)
  default     = ["t3.large"]

  validation {
    condition     = length(var.system_instance_types) > 0
    error_message = "system_instance_types: list at least one instance type."
  }
}

variable "system_node_count" {
  description = "Size bounds of the system node group."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 1, desired = 2, max = 3 }

  validation {
    condition = (
      var.system_node_count.min >= 1 &&
      var.system_node_count.min <= var.system_node_count.desired &&
      var.system_node_count.desired <= var.system_node_count.max &&
      var.system_node_count.max <= 10
    )
    error_message = "system_node_count: need 1 <= min <= desired <= max <= 10 (the system group must never be empty)."
  }
}

variable "batch_instance_types" {
  description = "Instance types of the spot batch node group (batch_scaler = \"cluster-autoscaler\"); several types of one shape (8 vCPU, 16 GiB: the cluster autoscaler plans with one shape per group) spread spot capacity and cut interruptions."
  type        = list(string)
  default     = ["c6i.2xlarge", "c6a.2xlarge", "c7i.2xlarge", "c7a.2xlarge"]

  validation {
    condition     = length(var.batch_instance_types) >= 1 && length(var.batch_instance_types) <= 20
    error_message = "batch_instance_types: list between 1 and 20 instance types."
  }
}

variable "batch_capacity_type" {
  description = "Capacity type of the batch node group: SPOT (default, interruptible and cheap) or ON_DEMAND."
  type        = string
  default     = "SPOT"

  validation {
    condition     = contains(["SPOT", "ON_DEMAND"], var.batch_capacity_type)
    error_message = "batch_capacity_type: must be SPOT or ON_DEMAND."
  }
}

variable "batch_max_nodes" {
  description = "Upper bound of the batch node group; it starts and idles at zero nodes."
  type        = number
  default     = 20

  validation {
    condition     = var.batch_max_nodes >= 1 && var.batch_max_nodes <= 500 && floor(var.batch_max_nodes) == var.batch_max_nodes
    error_message = "batch_max_nodes: must be a whole number between 1 and 500."
  }
}

variable "node_disk_size_gb" {
  description = "Root volume size of every node, in GiB (encrypted gp3)."
  type        = number
  default     = 50

  validation {
    condition     = var.node_disk_size_gb >= 20 && var.node_disk_size_gb <= 1000
    error_message = "node_disk_size_gb: must be between 20 and 1000."
  }
}

# --- results, images, CI ----------------------------------------------------------------------

variable "results_bucket_name" {
  description = "Name of the S3 results bucket. Null derives a globally unique one: <name>-results-<account id>-<region>."
  type        = string
  default     = null

  validation {
    condition     = var.results_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.results_bucket_name))
    error_message = "results_bucket_name: must be a valid S3 bucket name (3-63 lowercase letters, digits, '.' and '-')."
  }
}

variable "results_prefix" {
  description = "Key prefix under which sweeps write (s3://<bucket>/<prefix>/<sweep>/...); the worker role may write only here."
  type        = string
  default     = "sweeps"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{0,62}$", var.results_prefix))
    error_message = "results_prefix: must be one path segment of lowercase letters, digits, '.', '_' or '-' (no slashes), e.g. sweeps."
  }
}

variable "results_transition_days" {
  description = "Days after which sweep results move to S3 Intelligent-Tiering (0: at once)."
  type        = number
  default     = 30

  validation {
    condition     = var.results_transition_days >= 0
    error_message = "results_transition_days: must be >= 0."
  }
}

variable "results_expiration_days" {
  description = "Days after which sweep results are deleted (0 keeps them forever)."
  type        = number
  default     = 0

  validation {
    condition     = var.results_expiration_days >= 0
    error_message = "results_expiration_days: must be >= 0."
  }

  validation {
    condition     = var.results_expiration_days == 0 || var.results_expiration_days > var.results_transition_days
    error_message = "results_expiration_days: must be 0 (keep forever) or later than results_transition_days."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted object versions are purged."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days: must be >= 1."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete a non-empty results bucket and ECR repositories with images. Keep false except for throw-away stacks."
  type        = bool
  default     = false
}

variable "ecr_keep_images" {
  description = "How many tagged images (releases) the ECR lifecycle policy keeps per repository (older ones expire)."
  type        = number
  default     = 50

  validation {
    condition     = var.ecr_keep_images >= 1 && var.ecr_keep_images <= 1000
    error_message = "ecr_keep_images: must be between 1 and 1000."
  }
}

variable "worker_namespaces" {
  description = "Further namespaces that run Sweeps (the chart's controller.workerNamespaces): the govsim-worker service account in each may assume the worker role, and helm_values turns on watching every namespace with these worker namespaces."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for ns in var.worker_namespaces : can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", ns)) && ns != "govsim"
    ]) && length(distinct(var.worker_namespaces)) == length(var.worker_namespaces)
    error_message = "worker_namespaces: each must be a distinct DNS-1123 label other than the release namespace govsim."
  }
}

variable "image_tag" {
  description = "Image tag written into the helm_values output (the release workflow tags images with the version, e.g. 0.4.0). Null leaves the chart's default."
  type        = string
  default     = null

  validation {
    condition     = var.image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag: must be a valid image tag (letters, digits, '_', '.', '-'; at most 128 characters)."
  }
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows may assume the release and plan roles. Null creates no GitHub roles."
  type        = string
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository: must be owner/name, e.g. example-org/govsim."
  }
}

variable "github_release_refs" {
  description = "Git refs whose workflow runs may assume the release role (wildcards allowed), e.g. refs/tags/v*."
  type        = list(string)
  default     = ["refs/tags/v*"]

  validation {
    condition     = length(var.github_release_refs) > 0 && alltrue([for r in var.github_release_refs : startswith(r, "refs/") && r != "refs/*"])
    error_message = "github_release_refs: each entry must be a ref pattern starting with refs/ and narrower than refs/*."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the GitHub Actions OIDC identity provider. Set false if the account already has one (only one may exist per account)."
  type        = bool
  default     = true
}

variable "eks_oidc_thumbprints" {
  description = "Thumbprints for the cluster's IAM OIDC provider. Empty lets IAM use its own trusted root CAs for EKS issuers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.eks_oidc_thumbprints : can(regex("^[0-9a-fA-F]{40}$", t))])
    error_message = "eks_oidc_thumbprints: each entry must be a 40-character hex SHA-1 thumbprint."
  }
}

# --- batch scaling ------------------------------------------------------------------------------

variable "batch_scaler" {
  description = "What adds and removes batch nodes: \"karpenter\" (default; Karpenter launches spot nodes per the chart's NodePool, no batch node group) or \"cluster-autoscaler\" (the managed batch node group, resized by the cluster autoscaler)."
  type        = string
  default     = "karpenter"

  validation {
    condition     = contains(["karpenter", "cluster-autoscaler"], var.batch_scaler)
    error_message = "batch_scaler: must be \"karpenter\" or \"cluster-autoscaler\"."
  }
}

variable "karpenter_limits" {
  description = "Most vCPUs and memory (GiB) that Karpenter's batch NodePool may run at once (its spec.limits); with batch_scaler = \"karpenter\" this replaces batch_max_nodes."
  type        = object({ cpu = number, memory_gib = number })
  default     = { cpu = 320, memory_gib = 2560 }

  validation {
    condition = (
      var.karpenter_limits.cpu >= 8 && var.karpenter_limits.cpu <= 10000 && floor(var.karpenter_limits.cpu) == var.karpenter_limits.cpu
      && var.karpenter_limits.memory_gib >= 16 && floor(var.karpenter_limits.memory_gib) == var.karpenter_limits.memory_gib
    )
    error_message = "karpenter_limits: cpu must be a whole number between 8 and 10000 and memory_gib a whole number of at least 16 (one 8-vCPU, 16-GiB node)."
  }
}

# --- GitHub plan role: the remote state it reads ---------------------------------------------

variable "terraform_state_bucket" {
  description = "Bucket of the remote state (backend.hcl's bucket). The GitHub plan role may read the state object in it; null grants no state read."
  type        = string
  default     = null

  validation {
    condition     = var.terraform_state_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.terraform_state_bucket))
    error_message = "terraform_state_bucket: must be an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')."
  }
}

variable "terraform_state_key" {
  description = "Key of the state object in terraform_state_bucket (backend.hcl's key)."
  type        = string
  default     = "govsim/terraform.tfstate"

  validation {
    condition     = length(var.terraform_state_key) > 0 && !strcontains(var.terraform_state_key, "*")
    error_message = "terraform_state_key: must be the exact key of the state object (no wildcard)."
  }
}
