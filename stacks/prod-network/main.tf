# prod network: the public web tier, an admin tier (office networks only) and the
# database tier.

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
    key          = "prod/network.tfstate"
    region       = "us-east-1"
    use_lockfile = true
  }
}

# The office networks: published by corporate IT as a managed prefix list, outside
# Terraform (in the sandbox, `iacdrift sandbox up` creates it). The admin tier
# admits them, and prod-app reads them through the `office_cidr_blocks` output.
data "aws_ec2_managed_prefix_list" "office" {
  filter {
    name   = "prefix-list-name"
    values = ["corp-office-networks"]
  }
}

locals {
  office_cidr_blocks = sort([for entry in data.aws_ec2_managed_prefix_list.office.entries : entry.cidr])

  tiers = {
    web = {
      description = "prod public web tier"
      ingress = [
        { description = "http", port = 80, protocol = "tcp", cidr_blocks = ["0.0.0.0/0"], security_groups = [] },
        { description = "https", port = 443, protocol = "tcp", cidr_blocks = ["0.0.0.0/0"], security_groups = [] },
      ]
    }
    admin = {
      description = "prod admin tier, office network only"
      ingress = [
        { description = "admin console", port = 8443, protocol = "tcp", cidr_blocks = local.office_cidr_blocks, security_groups = [] },
      ]
    }
  }
}

module "tier" {
  source   = "../modules/security-group"
  for_each = local.tiers

  name        = "prod-${each.key}"
  description = each.value.description
  ingress     = each.value.ingress
  tags        = { environment = "prod", tier = each.key }
}

module "db" {
  source = "../modules/security-group"

  name        = "prod-db"
  description = "prod database tier, reachable from the web tier only"
  ingress = [
    { description = "postgres from web", port = 5432, protocol = "tcp", cidr_blocks = [], security_groups = [module.tier["web"].id] },
  ]
  tags = { environment = "prod", tier = "db" }
}

output "web_security_group_id" {
  value = module.tier["web"].id
}

output "db_security_group_id" {
  value = module.db.id
}

output "office_cidr_blocks" {
  description = "The office networks (corporate IT's prefix list), sorted."
  value       = local.office_cidr_blocks
}
