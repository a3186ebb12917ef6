# An S3 bucket that always carries its owner and data classification tags.

variable "name" {
  type = string
}

variable "owner" {
  type = string
}

variable "data_class" {
  type = string
}

variable "versioning" {
  type    = bool
  default = false
}

variable "extra_tags" {
  type    = map(string)
  default = {}
}

resource "aws_s3_bucket" "this" {
  bucket = var.name

  versioning {
    enabled = var.versioning
  }

  tags = merge(var.extra_tags, {
    owner      = var.owner
    data-class = var.data_class
  })
}

output "id" {
  value = aws_s3_bucket.this.id
}

output "arn" {
  value = aws_s3_bucket.this.arn
}
