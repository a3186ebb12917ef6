# prod IAM: the roles of the payments services and the policy they share.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "3.39.0"
    }
  }
  backend "s3" {
    bucket       = "iacdrift-sandbox-tfstate"
    key          = "prod/iam.tfstate"
    region       = "us-east-1"
    use_lockfile = true
  }
}

locals {
  services = ["payments-api", "payments-worker"]
}

resource "aws_iam_policy" "ledger_read" {
  name        = "prod-ledger-read"
  description = "Read the payments ledger bucket"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:ListBucket"]
      Resource = ["arn:aws:s3:::iacdrift-demo-prod-ledger", "arn:aws:s3:::iacdrift-demo-prod-ledger/*"]
    }]
  })
}

resource "aws_iam_role" "service" {
  count = length(local.services)

  name = "prod-${local.services[count.index]}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
    }]
  })
  # Exclusive: any policy attached outside Terraform is drift this stack owns.
  managed_policy_arns = [aws_iam_policy.ledger_read.arn]

  tags = { environment = "prod", service = local.services[count.index] }
}

output "role_arns" {
  value = aws_iam_role.service[*].arn
}
