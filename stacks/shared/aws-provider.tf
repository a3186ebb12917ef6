# Shared by every example stack (each stack's provider.tf is a symlink here).
#
# `aws_endpoint` is null for a real estate: the provider then uses the real AWS
# endpoints. iacdrift's sandbox sets it through the environment
# (TF_VAR_aws_endpoint) to its loopback moto server, so nothing sandbox-specific
# is written into a stack. Credentials always come from the environment.

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "AWS region of the stack."
}

variable "aws_endpoint" {
  type        = string
  default     = null
  description = "One endpoint URL for every AWS service (a loopback cloud); null for real AWS."
}

locals {
  custom_endpoint = var.aws_endpoint != null
}

provider "aws" {
  region = var.region

  # A custom endpoint has no real STS account, metadata service or region list.
  s3_force_path_style         = local.custom_endpoint
  skip_credentials_validation = local.custom_endpoint
  skip_requesting_account_id  = local.custom_endpoint
  skip_metadata_api_check     = local.custom_endpoint
  skip_region_validation      = local.custom_endpoint
  # Without this the 3.x provider retries DescribeAccountAttributes for ~20s.
  skip_get_ec2_platforms = true
  # A loopback endpoint does not throttle: fail fast (iacdrift retries transient
  # errors itself, with backoff) instead of the SDK's 25 retries.
  max_retries = local.custom_endpoint ? 2 : null

  endpoints {
    s3             = var.aws_endpoint
    ec2            = var.aws_endpoint
    iam            = var.aws_endpoint
    sts            = var.aws_endpoint
    dynamodb       = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    rds            = var.aws_endpoint
  }
}
