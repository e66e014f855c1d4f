# The results bucket is private, encrypted with our key, TLS-only, versioned and trimmed.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
}

run "bucket_name_is_derived_from_account_and_region" {
  assert {
    condition     = aws_s3_bucket.results.bucket == "govsim-results-123456789012-us-east-1"
    error_message = "The default bucket name must be <name>-results-<account>-<region>, got ${aws_s3_bucket.results.bucket}."
  }
  assert {
    condition     = !aws_s3_bucket.results.force_destroy
    error_message = "A non-empty results bucket must not be destroyable by default."
  }
}

run "bucket_is_private" {
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.results.block_public_acls,
      aws_s3_bucket_public_access_block.results.block_public_policy,
      aws_s3_bucket_public_access_block.results.ignore_public_acls,
      aws_s3_bucket_public_access_block.results.restrict_public_buckets,
    ])
    error_message = "All four public access blocks must be on."
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.results.bucket == aws_s3_bucket.results.id
    error_message = "The public access block must apply to the results bucket."
  }
  assert {
    condition     = one(aws_s3_bucket_ownership_controls.results.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_s3_bucket_policy.results.policy).Statement : s.Effect == "Deny"
    ])
    error_message = "The bucket policy may only deny; access is granted through IAM roles."
  }
}

run "bucket_is_encrypted_with_the_data_key" {
  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.results.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"
    )
    error_message = "Default encryption must be SSE-KMS."
  }
  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.results.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.data.arn
    )
    error_message = "Default encryption must use the deployment's data key."
  }
  assert {
    condition     = aws_kms_key.data.enable_key_rotation && aws_kms_key.eks.enable_key_rotation
    error_message = "KMS key rotation must be on."
  }
}

run "bucket_policy_denies_plain_http_and_old_tls" {
  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.results.policy).Statement :
      s.Effect == "Deny" && s.Principal == "*" && s.Action == "s3:*"
      && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
      && toset(s.Resource) == toset(["arn:aws:s3:::${aws_s3_bucket.results.bucket}", "arn:aws:s3:::${aws_s3_bucket.results.bucket}/*"])
    ])
    error_message = "The bucket policy must deny every request without TLS on the bucket and its objects."
  }
  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.results.policy).Statement :
      s.Effect == "Deny" && try(s.Condition.NumericLessThan["s3:TlsVersion"], "") == "1.2"
    ])
    error_message = "The bucket policy must deny TLS versions below 1.2."
  }
}

run "bucket_is_versioned_and_trimmed" {
  assert {
    condition     = aws_s3_bucket_versioning.results.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be enabled."
  }
  assert {
    condition = anytrue([
      for r in aws_s3_bucket_lifecycle_configuration.results.rule :
      r.status == "Enabled" && try(r.abort_incomplete_multipart_upload[0].days_after_initiation, 0) == 7
    ])
    error_message = "Incomplete multipart uploads must be aborted after 7 days."
  }
  assert {
    condition = anytrue([
      for r in aws_s3_bucket_lifecycle_configuration.results.rule :
      r.status == "Enabled" && try(r.noncurrent_version_expiration[0].noncurrent_days, 0) == 30
    ])
    error_message = "Noncurrent versions must expire (30 days by default)."
  }
  assert {
    condition = anytrue([
      for r in aws_s3_bucket_lifecycle_configuration.results.rule :
      r.id == "age-sweep-results" && try(r.filter[0].prefix, "") == "sweeps/"
      && try(one(r.transition).storage_class, "") == "INTELLIGENT_TIERING" && length(r.expiration) == 0
    ])
    error_message = "Sweep results must move to Intelligent-Tiering and, by default, never expire."
  }
}

run "results_can_be_set_to_expire" {
  variables {
    results_prefix          = "experiments"
    results_expiration_days = 400
  }

  assert {
    condition = anytrue([
      for r in aws_s3_bucket_lifecycle_configuration.results.rule :
      r.id == "age-sweep-results" && try(r.filter[0].prefix, "") == "experiments/"
      && try(r.expiration[0].days, 0) == 400
    ])
    error_message = "results_expiration_days must add an expiration on the results prefix."
  }
}

run "explicit_bucket_name" {
  variables {
    results_bucket_name = "my-govsim-results"
  }

  assert {
    condition     = aws_s3_bucket.results.bucket == "my-govsim-results"
    error_message = "results_bucket_name must name the bucket."
  }
  assert {
    condition     = yamldecode(output.helm_values).s3.bucket == "my-govsim-results"
    error_message = "The Helm values must carry the bucket name."
  }
}
