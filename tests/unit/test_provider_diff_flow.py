"""flows.provider_diff's pure pieces: the lock file a pinned copy starts from, and the
override that pins the version."""

from __future__ import annotations

from iacdrift.flows.provider_diff import version_override, without_provider

LOCK = """# This file is maintained automatically by "terraform init".

provider "registry.terraform.io/hashicorp/aws" {
  version     = "2.70.0"
  constraints = "2.70.0"
  hashes = [
    "h1:abc=",
  ]
}

provider "registry.terraform.io/hashicorp/random" {
  version = "3.6.0"
  hashes = [
    "h1:def=",
  ]
}
"""


def test_the_pinned_copy_keeps_every_other_provider_as_locked() -> None:
    kept = without_provider(LOCK, "hashicorp/aws")
    assert "hashicorp/aws" not in kept
    assert 'provider "registry.terraform.io/hashicorp/random" {' in kept
    assert 'version = "3.6.0"' in kept and '"h1:def=",' in kept
    # Another provider's name leaves the file as it is.
    assert without_provider(LOCK, "hashicorp/google") == LOCK


def test_the_override_names_the_stack_s_own_source() -> None:
    text = version_override("aws", "registry.example.com/hashicorp/aws", "3.39.0")
    assert 'source  = "registry.example.com/hashicorp/aws"' in text
    assert 'version = "3.39.0"' in text
    assert text.count("{") == text.count("}")
