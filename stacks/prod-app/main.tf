# prod app: its own tier, admitted from the web tier and the office networks that
# prod-network owns and exports (read through terraform_remote_state).

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
    key          = "prod/app.tfstate"
    region       = "us-east-1"
    use_lockfile = true
  }
}

data "terraform_remote_state" "network" {
  backend = "s3"
  config = {
    bucket = "iacdrift-sandbox-tfstate"
    key    = "prod/network.tfstate"
    region = var.region
    # The same settings the provider uses for a custom (loopback) endpoint.
    use_path_style              = local.custom_endpoint
    skip_credentials_validation = local.custom_endpoint
    skip_requesting_account_id  = local.custom_endpoint
    skip_metadata_api_check     = local.custom_endpoint
    skip_region_validation      = local.custom_endpoint
  }
}

module "app_sg" {
  source = "../modules/security-group"

  name        = "prod-app"
  description = "prod app tier, reachable from the web tier"
  ingress = [
    { description = "app from web", port = 8080, protocol = "tcp", cidr_blocks = [], security_groups = [data.terraform_remote_state.network.outputs.web_security_group_id] },
    { description = "app admin from office", port = 8081, protocol = "tcp", cidr_blocks = data.terraform_remote_state.network.outputs.office_cidr_blocks, security_groups = [] },
  ]
  tags = { environment = "prod", tier = "app" }
}

module "artifacts" {
  source = "../modules/tagged-bucket"

  name       = "iacdrift-demo-prod-app-artifacts"
  owner      = "team-checkout"
  data_class = "internal"
  versioning = true
  extra_tags = { environment = "prod" }
}
