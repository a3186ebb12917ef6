# legacy storage: written years ago against hashicorp/aws 2.x and never touched since.
# `sandbox up` applies it with 2.70.0; the `provider-upgraded` scenario moves the
# constraint to 3.39.0 the way a Renovate PR would, and the first check after that
# reads every attribute the 3.x schemas added (tags_all, inline_policy, ...).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "2.70.0"
    }
  }
  backend "s3" {
    bucket       = "iacdrift-sandbox-tfstate"
    key          = "legacy/storage.tfstate"
    region       = "us-east-1"
    use_lockfile = true
  }
}

resource "aws_s3_bucket" "archive" {
  bucket = "iacdrift-demo-legacy-archive"
  acl    = "private"

  tags = {
    owner      = "team-data"
    data-class = "internal"
    retention  = "7y"
  }
}

resource "aws_iam_role" "archiver" {
  name = "legacy-archiver"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })
  tags = { owner = "team-data" }
}

# 2.x has no inline_policy block on the role: the inline policy is its own resource.
resource "aws_iam_role_policy" "archive_write" {
  name = "archive-write"
  role = aws_iam_role.archiver.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:PutObject", "s3:GetObject"]
      Resource = ["${aws_s3_bucket.archive.arn}/*"]
    }]
  })
}

resource "aws_security_group" "archive" {
  name        = "legacy-archive"
  description = "legacy archive hosts"

  ingress {
    description = "rsync from the office"
    from_port   = 873
    to_port     = 873
    protocol    = "tcp"
    cidr_blocks = ["10.20.0.0/16"]
  }

  tags = { owner = "team-data" }
}
