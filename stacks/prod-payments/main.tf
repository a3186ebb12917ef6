# prod payments: the ledger (versioned) and the receipts buckets.

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
    key          = "prod/payments.tfstate"
    region       = "us-east-1"
    use_lockfile = true
  }
}

locals {
  buckets = {
    ledger   = { data_class = "confidential", versioning = true }
    receipts = { data_class = "internal", versioning = false }
  }
}

module "bucket" {
  source   = "../modules/tagged-bucket"
  for_each = local.buckets

  name       = "iacdrift-demo-prod-${each.key}"
  owner      = "team-payments"
  data_class = each.value.data_class
  versioning = each.value.versioning
  extra_tags = { environment = "prod" }
}

# A token kept in terraform.tfvars, as many estates keep secrets in variable files.
# Nothing here uses it: it is there so that the tests can show iacdrift keeps no
# copy of a variable file (working copies link to it) and no value of it at rest.
variable "ledger_api_token" {
  type        = string
  sensitive   = true
  description = "API token of the ledger service (from terraform.tfvars)."
}

output "bucket_arns" {
  value = { for k, b in module.bucket : k => b.arn }
}

# The ledger database credentials are issued by the database team into Secrets
# Manager; this stack composes the DSN the payments services read.
data "aws_secretsmanager_secret_version" "ledger_db_password" {
  secret_id = "iacdrift-sandbox/ledger-db-password"
}

resource "aws_secretsmanager_secret" "ledger_dsn" {
  name                    = "prod/payments/ledger-dsn"
  description             = "DSN of the payments ledger database"
  recovery_window_in_days = 0
  tags                    = { environment = "prod", owner = "team-payments" }
}

resource "aws_secretsmanager_secret_version" "ledger_dsn" {
  secret_id = aws_secretsmanager_secret.ledger_dsn.id
  secret_string = jsonencode({
    host     = "ledger.db.internal"
    user     = "payments"
    password = data.aws_secretsmanager_secret_version.ledger_db_password.secret_string
  })
}
