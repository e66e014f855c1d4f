# ECR: one repository for the image and one for the Helm chart (pushed as an OCI artifact).
# Tags are immutable (a release tag always names the same bytes), images are scanned on push,
# encrypted with the data key, and a lifecycle policy bounds how many are kept.

locals {
  ecr_repositories = {
    image = var.name
    chart = "${var.name}/charts/govsim"
  }

  ecr_lifecycle_policy = {
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images (failed or superseded pushes) after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.ecr_keep_images} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_keep_images
        }
        action = { type = "expire" }
      },
    ]
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
  policy     = jsonencode(local.ecr_lifecycle_policy)
}
