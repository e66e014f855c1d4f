# The results bucket. Private (public access blocked, ACLs disabled), encrypted with the data
# KMS key, versioned, reachable only over TLS 1.2+, and trimmed by lifecycle rules: results move
# to Intelligent-Tiering, overwritten versions and abandoned multipart uploads are purged.

resource "aws_s3_bucket" "results" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket per deployment; sweeps are reproducible from their seeds and object-level auditing, when wanted, belongs in CloudTrail data events.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost for data that can be regenerated from the sweep spec and seed.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; the controller learns progress from the Job and the manifests.
  bucket        = local.results_bucket
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "results" {
  bucket = aws_s3_bucket.results.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "results" {
  bucket = aws_s3_bucket.results.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_policy" "results" {
  bucket = aws_s3_bucket.results.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.results_bucket_arn, "${local.results_bucket_arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyOldTls"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.results_bucket_arn, "${local.results_bucket_arn}/*"]
        Condition = { NumericLessThan = { "s3:TlsVersion" = "1.2" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.results]
}

resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "purge-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  # Intelligent-Tiering has no retrieval fee and leaves objects under 128 KiB where they are, so
  # the transition is always on; expiry is opt-in.
  rule {
    id     = "age-sweep-results"
    status = "Enabled"

    filter {
      prefix = "${var.results_prefix}/"
    }

    transition {
      days          = var.results_transition_days
      storage_class = "INTELLIGENT_TIERING"
    }

    dynamic "expiration" {
      for_each = var.results_expiration_days > 0 ? [var.results_expiration_days] : []
      content {
        days = expiration.value
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.results]
}
