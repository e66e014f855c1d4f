# ECR: one repository for the image and one for the Helm chart (pushed as an OCI artifact).
# Tags are immutable (a release tag always names the same bytes), images are scanned on push,
# encrypted with the data key, and a lifecycle policy bounds how many releases are kept.

locals {
  ecr_repositories = {
    image = var.name
    chart = "${var.name}/charts/govsim"
  }

  # Keep the newest ecr_keep_images tagged images (releases). Counting only tagged images keeps
  # untagged artifacts out of the count.
  ecr_keep_newest_tagged = {
    rulePriority = 2
    description  = "Keep the newest ${var.ecr_keep_images} tagged images"
    selection = {
      tagStatus      = "tagged"
      tagPatternList = ["*"]
      countType      = "imageCountMoreThan"
      countNumber    = var.ecr_keep_images
    }
    action = { type = "expire" }
  }

  ecr_lifecycle_policies = {
    # The release signs each image digest and attests its SBOM with cosign, which stores the
    # signature and the attestation as untagged OCI artifacts that refer to the image. Expiring
    # untagged artifacts would delete them and `cosign verify` would then fail for a release
    # still in use, so this repository expires none. An expired image's signature and
    # attestation (a few KB each) stay.
    image = { rules = [local.ecr_keep_newest_tagged] }
    # Nothing signs the chart: untagged artifacts here are failed or superseded pushes.
    chart = {
      rules = [
        {
          rulePriority = 1
          description  = "Expire untagged artifacts (failed or superseded pushes) after 7 days"
          selection = {
            tagStatus   = "untagged"
            countType   = "sinceImagePushed"
            countUnit   = "days"
            countNumber = 7
          }
          action = { type = "expire" }
        },
        local.ecr_keep_newest_tagged,
      ]
    }
  }
}

resource "aws_ecr_repository" "this" {
  for_each = local.ecr_repositories

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.data.arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = local.ecr_repositories

  repository = aws_ecr_repository.this[each.key].name
  policy     = jsonencode(local.ecr_lifecycle_policies[each.key])
}
