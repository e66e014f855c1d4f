# Terraform and provider constraints, and the remote state backend.
#
# The backend is a partial configuration: the bucket, key and region come from a file passed at
# init time (see backend.hcl.example and docs/aws.md), so no account-specific name is committed.
# State locking uses the S3 lock file (use_lockfile), which needs no DynamoDB table.
# Tests and CI checks run `terraform init -backend=false` and never touch the backend.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  backend "s3" {}
}
