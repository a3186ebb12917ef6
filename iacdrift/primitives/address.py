"""Terraform resource addresses."""

from __future__ import annotations

import re

# An instance key: ["string with \" escapes"] or [123].
_INSTANCE_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|\d+)\]')


def config_address(address: str) -> str:
    """``module.a["x"].aws_s3_bucket.b[0]`` -> ``module.a.aws_s3_bucket.b``."""
    return _INSTANCE_KEY.sub("", address)
