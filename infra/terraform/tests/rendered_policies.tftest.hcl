# Renders every IAM document with the mocked provider, for tests that read them from the state
# (`terraform test -verbose -json` prints it): tests/infra/test_worker_s3_policy.py and
# tests/infra/test_controller_s3_policy.py check the worker and controller policies against the S3
# calls the worker and the controller really make (bucket, prefix and region come from -var),
# tests/infra/test_github_roles.py the plan role against the resource types the configuration uses.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  endpoint_public_access_cidrs = ["203.0.113.0/24"]
  github_repository            = "example-org/govsim"
}

run "render_iam_policies" {
  assert {
    condition = alltrue([
      for p in aws_iam_policy.irsa : jsondecode(p.policy).Version == "2012-10-17"
    ])
    error_message = "Every IRSA policy must be an IAM policy document."
  }
}
