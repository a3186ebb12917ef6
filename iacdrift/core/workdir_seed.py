"""What `init` would write into a fresh working copy, computed instead of run.

A stack's first check needs an initialised working directory: links to the
provider packages, a record of the installed modules and a record of the
backend. `terraform init` writes them, but every Terraform process checksums
each provider package it may start (the AWS provider is 177 MB), and init does
it five times: an init costs about as much CPU as the plan itself. Everything
init writes for a stack whose providers are already in the plugin cache and
whose modules are local is determined by its files and its ``-backend-config``
values, so we write it ourselves. What keeps that safe:

* the backend record (``.terraform/terraform.tfstate``) holds the backend
  config Terraform will use (the block in the files merged with the
  ``-backend-config`` values: bucket, key, region) and a checksum of the block
  as written in the files. Any command but init compares the checksum with the
  files and refuses ("Backend initialization required") when they differ; but
  when it matches, Terraform uses the recorded config as it is: nothing checks
  the part that came from ``-backend-config``. So that part must be exactly what
  init would record. It is built from the ``-backend-config`` values by the
  conversion Terraform applies (strings as given, ``true``/``false`` for
  booleans, ASCII digits for numbers; anything else declines), and nothing here
  is used before one real init of the same engine and backend type has been
  reproduced exactly, record and checksum (:func:`learn_shape`): the attribute
  names and the value types come from that calibration. The caller also checks,
  after the plan, that Terraform read the state the registry names;
* a provider that is missing or does not match the lock file's checksums is
  refused before the state is touched; a module record whose source differs
  from the configuration's, or a lock file that does not cover the
  configuration, after the state was locked and read, but before any plan;
* on a refusal the caller removes what we wrote and runs the real init.

The checksum is cty's value hash (CRC-32 of a canonical serialisation) of the
tuple (backend type, the block decoded against the backend's schema with every
attribute optional). Only literal scalars (strings without templates, booleans,
integers below 10^10, which cty prints as plain digits) are handled; anything
else returns None and the caller runs init.

Pure: data in, data out.
"""

from __future__ import annotations

import json
import posixpath
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Scalar = str | bool | int

# A string with a template sequence is not a literal (and backends refuse them).
_TEMPLATE = re.compile(r"[$%]\{")
_LOCAL_PREFIXES = ("./", "../", ".\\", "..\\")


@dataclass(frozen=True)
class BackendBlock:
    """The root module's backend block: its type and literal attributes."""

    type: str
    attributes: Mapping[str, Scalar]


@dataclass(frozen=True)
class BackendShape:
    """What one real init of an engine taught us about its backend records."""

    type: str
    attributes: tuple[str, ...]  # every attribute of the backend's schema, sorted
    kinds: Mapping[str, str]  # attribute -> "string" | "bool" | "number" (values seen)
    extra: Mapping[str, Any]  # the record file's other top-level fields


def literal(value: object) -> Scalar | None:
    """A python-hcl2 attribute value as a literal scalar, or None if it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return None
    if _TEMPLATE.search(value):
        return None
    try:
        text = json.loads(value)
    except ValueError:
        return None
    return text if isinstance(text, str) else None


def label(raw: object) -> str | None:
    """A block label as python-hcl2 gives it (8.x keeps the quotes)."""
    text = str(raw)
    if text.startswith('"'):
        value = literal(text)
        return value if isinstance(value, str) else None
    return text


def backend_block(files: Iterable[tuple[str, Mapping[str, Any]]]) -> BackendBlock | None:
    """The one backend block of a root module from its parsed ``*.tf`` files
    (name, python-hcl2 dict); None when there is none, several, a ``cloud`` block,
    or a value that is not a literal scalar."""
    found: list[BackendBlock] = []
    for _name, parsed in files:
        for terraform in parsed.get("terraform", []):
            if not isinstance(terraform, Mapping):
                return None
            if "cloud" in terraform or "state_store" in terraform:
                return None
            for backend in terraform.get("backend", []):
                if not isinstance(backend, Mapping) or len(backend) != 1:
                    return None
                ((name, body),) = backend.items()
                kind = label(name)
                if kind is None or not isinstance(body, Mapping):
                    return None
                attributes: dict[str, Scalar] = {}
                for name, raw in body.items():
                    if name.startswith("__"):
                        continue
                    value = literal(raw)
                    if value is None:
                        return None
                    attributes[name] = value
                found.append(BackendBlock(kind, attributes))
    return found[0] if len(found) == 1 else None


def _quote(text: str) -> str | None:
    """Go's %q of a string, for printable ASCII (None otherwise)."""
    if any(not 32 <= ord(ch) < 127 for ch in text):
        return None
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# cty prints a number with big.Float's %g at 10 significant digits: 1e+10 and up
# are not plain digits.
_MAX_PLAIN_NUMBER = 10**10


def _hash_bytes(value: Scalar | None) -> str | None:
    if value is None:
        return "~"
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int):
        return str(value) if abs(value) < _MAX_PLAIN_NUMBER else None
    return _quote(value)


def record_hash(
    backend_type: str, attributes: Iterable[str], block: Mapping[str, Scalar]
) -> int | None:
    """The checksum Terraform stores for a backend block: cty's hash of
    (type, the block as an object over every schema attribute); None when a value
    is outside what this reproduces."""
    parts = []
    for name in sorted(attributes):
        encoded = _hash_bytes(block.get(name))
        if encoded is None:
            return None
        parts.append(encoded + ";")
    head = _quote(backend_type)
    if head is None:
        return None
    text = "<" + head + ";<" + "".join(parts) + ">;>"
    return zlib.crc32(text.encode("ascii"))


def _kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _convert(text: str, kind: str | None) -> Scalar | None:
    """A -backend-config string converted to an attribute's type, as Terraform would."""
    if kind == "string":
        return text
    if kind == "bool" and text in ("true", "false"):
        return text == "true"
    if kind == "number" and text.isascii() and text.isdigit():
        return int(text)
    return None


def merged_config(
    shape: BackendShape, block: BackendBlock, overrides: Mapping[str, str]
) -> dict[str, Scalar | None] | None:
    """The backend config init would record: every attribute null but those of the
    block, overlaid by the -backend-config values; None if anything is unknown."""
    if block.type != shape.type:
        return None
    config: dict[str, Scalar | None] = dict.fromkeys(shape.attributes)
    for name, value in block.attributes.items():
        if name not in config or _kind(value) != shape.kinds.get(name, _kind(value)):
            return None
        config[name] = value
    for name, text in overrides.items():
        if name not in config:
            return None
        converted = _convert(text, shape.kinds.get(name))
        if converted is None:
            return None
        config[name] = converted
    return config


def merge_shapes(old: BackendShape, new: BackendShape) -> BackendShape | None:
    """One shape from two calibrations of the same engine and backend type (value
    types seen by either); None when they disagree."""
    if (
        old.type != new.type
        or old.attributes != new.attributes
        or old.extra.keys() != new.extra.keys()
    ):
        return None
    kinds = dict(old.kinds)
    for name, kind in new.kinds.items():
        if kinds.setdefault(name, kind) != kind:
            return None
    return BackendShape(old.type, old.attributes, kinds, old.extra)


def learn_shape(
    record: Mapping[str, Any], block: BackendBlock, overrides: Mapping[str, str]
) -> BackendShape | None:
    """Calibrate against a record a real init wrote for ``block`` and ``overrides``:
    the shape, only when both the recorded config and the checksum are reproduced
    exactly from them."""
    backend = record.get("backend")
    if not isinstance(backend, Mapping) or set(backend) != {"type", "config", "hash"}:
        return None  # a field we would not write
    config = backend.get("config")
    if not isinstance(config, Mapping) or backend.get("type") != block.type:
        return None
    kinds: dict[str, str] = {}
    for name, value in config.items():
        if value is None:
            continue
        kind = _kind(value)
        if kind is None:
            return None  # a list, map or object: outside what we reproduce
        kinds[name] = kind
    shape = BackendShape(
        type=block.type,
        attributes=tuple(sorted(config)),
        kinds=kinds,
        extra={k: v for k, v in record.items() if k != "backend"},
    )
    if merged_config(shape, block, overrides) != dict(config):
        return None
    if record_hash(block.type, shape.attributes, block.attributes) != backend.get("hash"):
        return None
    return shape


def backend_record(
    shape: BackendShape, block: BackendBlock, overrides: Mapping[str, str]
) -> dict[str, Any] | None:
    """The backend record init would write for ``block`` and ``overrides``."""
    config = merged_config(shape, block, overrides)
    checksum = record_hash(block.type, shape.attributes, block.attributes)
    if config is None or checksum is None:
        return None
    return {**shape.extra, "backend": {"type": block.type, "config": config, "hash": checksum}}


# --- modules -------------------------------------------------------------------


def local_source(raw: str) -> str | None:
    """A module source as Terraform normalises a local path; None if not local."""
    if not raw.startswith(_LOCAL_PREFIXES):
        return None
    clean = posixpath.normpath(raw.replace("\\", "/"))
    return clean if clean.startswith("../") else "./" + clean


def module_dir(parent_dir: str, source: str) -> str:
    """Where a local module lives, relative to the root module (as recorded)."""
    return posixpath.normpath(posixpath.join(parent_dir, source))


@dataclass(frozen=True)
class ModuleRecord:
    key: str  # "" for the root, "a.b" for module "b" called by module "a"
    source: str
    dir: str


def module_manifest(records: Iterable[ModuleRecord]) -> dict[str, Any]:
    """The module manifest (``.terraform/modules/modules.json``) for these records."""
    return {
        "Modules": [
            {"Key": r.key, "Source": r.source, "Dir": r.dir}
            for r in sorted(records, key=lambda r: r.key)
        ]
    }
