"""What an operation did to a state: which instance addresses it took away, added or
re-pointed (pure; the state is the parsed JSON of a local copy).

1. :func:`resource_providers`: every managed resource instance address of a state
   (module path, type, name, ``[index key]`` as Terraform writes it) -> its provider.
2. :func:`touched`: (addresses gone or re-pointed to another provider, addresses
   added or re-pointed), each sorted: an ``mv`` shows its from and to, an ``rm`` its
   addresses and nothing after, an ``import`` nothing before, a ``replace-provider``
   the same addresses on both sides.
3. :func:`state_digest`: what a state says, serial and writer left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from iacdrift.primitives.canonical import canonical_sha256


def resource_providers(state: Mapping[str, Any]) -> dict[str, str]:
    """Rule 1."""
    found: dict[str, str] = {}
    for resource in state.get("resources") or []:
        if not isinstance(resource, Mapping) or resource.get("mode") != "managed":
            continue
        prefix = f"{resource['module']}." if resource.get("module") else ""
        base = f"{prefix}{resource.get('type')}.{resource.get('name')}"
        for instance in resource.get("instances") or [{}]:
            key = instance.get("index_key") if isinstance(instance, Mapping) else None
            suffix = "" if key is None else f"[{json.dumps(key)}]"
            found[base + suffix] = str(resource.get("provider", ""))
    return found


def touched(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Rule 2."""
    gone = sorted(a for a in before if after.get(a) != before[a])
    came = sorted(a for a in after if before.get(a) != after[a])
    return gone, came


def state_digest(state: Mapping[str, Any]) -> str:
    """3. What a state says, whoever wrote it: sha256 of the canonical JSON of its
    lineage, resources and outputs. The serial, the writing tool's version and check
    results are left out: a push bumps the serial and Terraform rewrites its version,
    yet the state says the same."""
    return canonical_sha256(
        {
            "lineage": state.get("lineage"),
            "resources": state.get("resources") or [],
            "outputs": state.get("outputs") or {},
        }
    )
