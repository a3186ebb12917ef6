# staging app: run with OpenTofu. OpenTofu 1.6 has no S3 `use_lockfile`, so this
# stack locks its state with a DynamoDB table.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "3.39.0"
    }
  }
  backend "s3" {
    bucket         = "iacdrift-sandbox-tfstate"
    key            = "staging/app.tfstate"
    region         = "us-east-1"
    dynamodb_table = "iacdrift-sandbox-locks"
  }
}

module "assets" {
  source = "../modules/tagged-bucket"

  name       = "iacdrift-demo-staging-assets"
  owner      = "team-storefront"
  data_class = "public"
  extra_tags = { environment = "staging" }
}

module "app_sg" {
  source = "../modules/security-group"

  name        = "staging-app"
  description = "staging app tier"
  ingress = [
    { description = "app", port = 8080, protocol = "tcp", cidr_blocks = ["10.30.0.0/16"], security_groups = [] },
  ]
  tags = { environment = "staging" }
}
