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

# The reporting job's role, wired the way most estates wire roles: its policies are
# attached by resources of their own, not by the role's managed_policy_arns or
# inline_policy. The first refresh after an apply reads them into the role's
# managed_policy_arns and inline_policy: drift that these resources explain (iacdrift
# reports it as provider read noise naming them), not a change outside Terraform.
resource "aws_iam_role" "reporting" {
  name = "prod-payments-reporting"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
    }]
  })
  tags = { environment = "prod", service = "payments-reporting" }
}

resource "aws_iam_role_policy_attachment" "reporting_ledger_read" {
  role       = aws_iam_role.reporting.name
  policy_arn = aws_iam_policy.ledger_read.arn
}

resource "aws_iam_role_policy" "reporting_exports" {
  name = "write-exports"
  role = aws_iam_role.reporting.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:PutObject"]
      Resource = ["arn:aws:s3:::iacdrift-demo-prod-receipts/exports/*"]
    }]
  })
}

output "role_arns" {
  value = aws_iam_role.service[*].arn
}
