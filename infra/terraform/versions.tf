# Terraform and provider constraints, and the remote state backend.
#
# The backend is a partial configuration: the bucket, key and region come from a file passed at
# init time (see backend.hcl.example and docs/aws.md), so no account-specific name is committed.
# State locking uses the S3 lock file (use_lockfile), which needs no DynamoDB table.
# Tests and CI checks run `terraform init -backend=false` and never touch the backend.
#
# The AWS provider is pinned to the release the tests run against (5.100.x); .terraform.lock.hcl
# records its checksums. It holds the linux_amd64 package hash (h1:) taken from the offline
# mirror the tests use; add other platforms with network access (docs/aws.md):
#   terraform providers lock -platform=linux_amd64 -platform=darwin_arm64 -platform=linux_arm64
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100.0"
    }
  }

  backend "s3" {}
}
