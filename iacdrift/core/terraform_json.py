"""Lenient reading of Terraform's (and OpenTofu's) JSON: plans and state.

Contract:

* ``read_plan`` takes what ``terraform show -json PLANFILE`` printed, already
  parsed; ``read_state`` what ``terraform state pull`` printed. Nothing here
  opens a file: ``source`` is only the name used in error messages.
* Lenient on Terraform's format (habit 4): unknown fields are ignored, so a
  newer Terraform that adds fields still reads. What we rely on is checked and a
  violation is a :class:`TerraformFormatError` with one line
  ``<source>: <JSON path>: <what is wrong>``, e.g.
  ``plan.json: resource_changes[3].change.actions: expected a list of strings``.
* Plans: ``format_version`` major must be 1. State: ``version`` must be 4.
* State holds secrets in cleartext. :class:`RecordedResource` keeps only the
  identifying attributes (id, arn, name, bucket) and the attribute *names*;
  every other value is dropped while reading.
* Lists leave sorted: resource entries by (address, deposed key); recorded
  resources by (address, deposed key); relevant attributes by (resource, path).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iacdrift.errors import TerraformFormatError

PLAN_FORMAT_MAJOR = "1"
STATE_VERSION = 4

# Attributes of a state instance that identify the object; the only values kept.
IDENTIFIER_ATTRIBUTES: tuple[str, ...] = ("id", "arn", "name", "bucket")

Index = int | str | None


@dataclass(frozen=True, slots=True)
class ResourceEntry:
    """One element of ``resource_changes`` or ``resource_drift``.

    ``before``/``after`` and the three masks are Terraform's values as they
    were in the JSON (not copied); ``before_sensitive``/``after_sensitive`` are
    None when the key was absent (then redaction fails closed), ``False`` when
    Terraform said "nothing sensitive".
    """

    address: str
    module_address: str | None
    mode: str
    type: str
    name: str
    index: Index
    provider_name: str
    actions: tuple[str, ...]
    before: Any
    after: Any
    before_sensitive: Any
    after_sensitive: Any
    after_unknown: Any
    action_reason: str | None
    previous_address: str | None
    importing: bool
    deposed: str | None = None


@dataclass(frozen=True, slots=True)
class PlanView:
    """What the core needs of a plan; the rest of the document is not kept."""

    format_version: str
    terraform_version: str | None
    resource_drift: list[ResourceEntry]
    resource_changes: list[ResourceEntry]
    # True when the document had a ``resource_changes`` key: a refresh-only plan
    # has none, a normal plan with nothing to do has it (possibly empty).
    has_resource_changes: bool
    relevant_attributes: tuple[tuple[str, tuple[str | int, ...]], ...]
    errored: bool
    # Absent before Terraform 1.8 / in OpenTofu 1.6: None means "not said".
    complete: bool | None
    applyable: bool | None


@dataclass(frozen=True, slots=True)
class RecordedResource:
    """One resource instance in the recorded state, without its secrets."""

    address: str
    mode: str
    type: str
    name: str
    index: Index
    module: str | None
    provider: str
    id: str | None
    arn: str | None
    # (attribute, value) for the identifiers of IDENTIFIER_ATTRIBUTES that are
    # strings and not marked sensitive in the state; sorted by attribute.
    identifiers: tuple[tuple[str, str], ...]
    attribute_names: tuple[str, ...]
    deposed: str | None = None
    # The provider schema version the instance was written with (``schema_version``).
    schema_version: int | None = None


@dataclass(frozen=True, slots=True)
class StateView:
    lineage: str | None
    serial: int | None
    terraform_version: str | None
    resources: list[RecordedResource]


def _fail(source: str, path: str, message: str) -> TerraformFormatError:
    where = f"{source}: {path}" if path else source
    return TerraformFormatError(f"{where}: {message}")


def format_index(index: Index) -> str:
    """``[0]`` / ``["key"]`` / ``""`` as Terraform prints an instance key."""
    if index is None:
        return ""
    if isinstance(index, int):
        return f"[{index}]"
    # Terraform quotes string keys like JSON strings (escapes " and \\), keeping
    # non-ASCII characters as they are.
    return f"[{json.dumps(index, ensure_ascii=False)}]"


def format_address(module: str | None, mode: str, type_name: str, name: str, index: Index) -> str:
    """A resource instance address exactly as Terraform prints it."""
    prefix = f"{module}." if module else ""
    data = "data." if mode == "data" else ""
    return f"{prefix}{data}{type_name}.{name}{format_index(index)}"


def _optional_str(obj: Mapping[str, Any], key: str, source: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(source, f"{path}.{key}" if path else key, "expected a string")
    return value


def _required_str(obj: Mapping[str, Any], key: str, source: str, path: str) -> str:
    value = obj.get(key)
    where = f"{path}.{key}" if path else key
    if value is None:
        raise _fail(source, where, "missing")
    if not isinstance(value, str):
        raise _fail(source, where, "expected a string")
    return value


def _index(obj: Mapping[str, Any], key: str, source: str, path: str) -> Index:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _fail(source, f"{path}.{key}", "expected an integer or a string")


def _optional_bool(obj: Mapping[str, Any], key: str, source: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _fail(source, key, "expected true or false")
    return value


def _check_plan_format(data: Mapping[str, Any], source: str) -> str:
    version = data.get("format_version")
    if version is None:
        raise _fail(source, "format_version", "missing; is this `terraform show -json` of a plan?")
    if not isinstance(version, str):
        raise _fail(source, "format_version", "expected a string such as 1.2")
    if version.split(".", 1)[0] != PLAN_FORMAT_MAJOR:
        raise TerraformFormatError(
            f"{source}: plan JSON format_version {version} is not supported (expected 1.x)"
        )
    return version


def _entries(data: Mapping[str, Any], key: str, source: str) -> list[ResourceEntry]:
    raw = data.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(source, key, "expected a list")
    entries = [_entry(item, source, f"{key}[{i}]") for i, item in enumerate(raw)]
    entries.sort(key=lambda e: (e.address, e.deposed or ""))
    return entries


def _entry(item: object, source: str, path: str) -> ResourceEntry:
    if not isinstance(item, dict):
        raise _fail(source, path, "expected an object")
    address = _required_str(item, "address", source, path)
    change = item.get("change")
    if not isinstance(change, dict):
        raise _fail(source, f"{path}.change", "missing or not an object")
    actions = change.get("actions")
    if (
        not isinstance(actions, list)
        or not actions
        or not all(isinstance(action, str) for action in actions)
    ):
        raise _fail(source, f"{path}.change.actions", "expected a list of strings")
    mode = item.get("mode", "managed")
    if not isinstance(mode, str):
        raise _fail(source, f"{path}.mode", "expected a string")
    # ``importing`` is an object ({"id": ...}) since Terraform 1.5; any present,
    # non-null value means the plan imports the object.
    importing = change.get("importing") is not None
    return ResourceEntry(
        address=address,
        module_address=_optional_str(item, "module_address", source, path),
        mode=mode,
        type=_required_str(item, "type", source, path),
        name=_required_str(item, "name", source, path),
        index=_index(item, "index", source, path),
        provider_name=_optional_str(item, "provider_name", source, path) or "",
        actions=tuple(actions),
        before=change.get("before"),
        after=change.get("after"),
        before_sensitive=change.get("before_sensitive"),
        after_sensitive=change.get("after_sensitive"),
        after_unknown=change.get("after_unknown"),
        action_reason=_optional_str(item, "action_reason", source, path),
        previous_address=_optional_str(item, "previous_address", source, path),
        importing=importing,
        deposed=_optional_str(item, "deposed", source, path),
    )


def _relevant_attributes(
    data: Mapping[str, Any], source: str
) -> tuple[tuple[str, tuple[str | int, ...]], ...]:
    raw = data.get("relevant_attributes")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _fail(source, "relevant_attributes", "expected a list")
    found: set[tuple[str, tuple[str | int, ...]]] = set()
    for i, item in enumerate(raw):
        path = f"relevant_attributes[{i}]"
        if not isinstance(item, dict):
            raise _fail(source, path, "expected an object")
        resource = _required_str(item, "resource", source, path)
        attribute = item.get("attribute")
        if not isinstance(attribute, list) or not all(
            isinstance(step, str | int) and not isinstance(step, bool) for step in attribute
        ):
            raise _fail(source, f"{path}.attribute", "expected a list of names and indexes")
        found.add((resource, tuple(attribute)))
    # Mixed str/int steps cannot be compared directly; sort by their JSON text.
    return tuple(sorted(found, key=lambda r: (r[0], json.dumps(r[1]))))


def read_plan(data: object, source: str) -> PlanView:
    """The parts of a ``show -json`` plan document that detection uses.

    Raises TerraformFormatError for a document that is not a plan of format
    1.x or whose resource entries lack what we rely on.
    """
    if not isinstance(data, dict):
        raise _fail(source, "", "expected a JSON object (the output of `terraform show -json`)")
    format_version = _check_plan_format(data, source)
    errored = _optional_bool(data, "errored", source)
    return PlanView(
        format_version=format_version,
        terraform_version=_optional_str(data, "terraform_version", source, ""),
        resource_drift=_entries(data, "resource_drift", source),
        resource_changes=_entries(data, "resource_changes", source),
        has_resource_changes="resource_changes" in data,
        relevant_attributes=_relevant_attributes(data, source),
        errored=bool(errored),
        complete=_optional_bool(data, "complete", source),
        applyable=_optional_bool(data, "applyable", source),
    )


def _sensitive_top_level(raw: object) -> set[str] | None:
    """Top-level attribute names that the state marks sensitive; None if unreadable.

    Terraform writes ``sensitive_attributes`` as a list of paths, each a list of
    steps ``{"type": "get_attr", "value": NAME}``; newer versions may change it,
    so an unrecognised shape makes the caller drop every identifier but ``id``.
    """
    if raw is None:
        return set()
    if not isinstance(raw, list):
        return None
    names: set[str] = set()
    for path in raw:
        steps = path if isinstance(path, list) else [path]
        first = steps[0] if steps else None
        if not isinstance(first, dict) or not isinstance(first.get("value"), str):
            return None
        names.add(first["value"])
    return names


def _recorded(
    resource: tuple[str, str, str, str | None, str],
    instance: object,
    source: str,
    path: str,
) -> RecordedResource:
    if not isinstance(instance, dict):
        raise _fail(source, path, "expected an object")
    mode, type_name, name, module, provider = resource
    index = _index(instance, "index_key", source, path)
    attributes = instance.get("attributes")
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise _fail(source, f"{path}.attributes", "expected an object")
    sensitive = _sensitive_top_level(instance.get("sensitive_attributes"))
    identifiers: list[tuple[str, str]] = []
    for key in IDENTIFIER_ATTRIBUTES:
        value = attributes.get(key)
        if not isinstance(value, str):
            continue
        # Fail closed: if we cannot read which attributes are sensitive, keep
        # only the id (Terraform never treats an object's id as a secret).
        if (sensitive is None and key != "id") or (sensitive is not None and key in sensitive):
            continue
        identifiers.append((key, value))
    kept = dict(identifiers)
    return RecordedResource(
        address=format_address(module, mode, type_name, name, index),
        mode=mode,
        type=type_name,
        name=name,
        index=index,
        module=module,
        provider=provider,
        id=kept.get("id"),
        arn=kept.get("arn"),
        identifiers=tuple(sorted(identifiers)),
        attribute_names=tuple(sorted(str(k) for k in attributes)),
        deposed=_optional_str(instance, "deposed", source, path),
        schema_version=_schema_version(instance),
    )


def _schema_version(instance: dict[str, Any]) -> int | None:
    value = instance.get("schema_version")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_state(data: object, source: str) -> StateView:
    """The recorded plane of a state document (``terraform state pull``), version 4.

    Attribute values other than IDENTIFIER_ATTRIBUTES are not kept.
    """
    if not isinstance(data, dict):
        raise _fail(source, "", "expected a JSON object (the output of `terraform state pull`)")
    version = data.get("version")
    if version is None:
        raise _fail(source, "version", "missing; is this a Terraform state file?")
    if version != STATE_VERSION or isinstance(version, bool):
        raise TerraformFormatError(
            f"{source}: state version {version} is not supported (expected {STATE_VERSION})"
        )
    serial = data.get("serial")
    if serial is not None and (not isinstance(serial, int) or isinstance(serial, bool)):
        raise _fail(source, "serial", "expected an integer")
    raw = data.get("resources")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise _fail(source, "resources", "expected a list")
    resources: list[RecordedResource] = []
    for i, resource in enumerate(raw):
        rpath = f"resources[{i}]"
        if not isinstance(resource, dict):
            raise _fail(source, rpath, "expected an object")
        instances = resource.get("instances")
        if instances is None:
            instances = []
        if not isinstance(instances, list):
            raise _fail(source, f"{rpath}.instances", "expected a list")
        head = (
            _required_str(resource, "mode", source, rpath),
            _required_str(resource, "type", source, rpath),
            _required_str(resource, "name", source, rpath),
            _optional_str(resource, "module", source, rpath),
            _optional_str(resource, "provider", source, rpath) or "",
        )
        for j, instance in enumerate(instances):
            resources.append(_recorded(head, instance, source, f"{rpath}.instances[{j}]"))
    resources.sort(key=lambda r: (r.address, r.deposed or ""))
    return StateView(
        lineage=_optional_str(data, "lineage", source, ""),
        serial=serial,
        terraform_version=_optional_str(data, "terraform_version", source, ""),
        resources=resources,
    )


def state_dependencies(data: object) -> dict[str, tuple[str, ...]]:
    """Address -> the addresses it depends on, from each managed instance's
    ``dependencies`` in a state document (version 4; leniently: what is not a list of
    strings is skipped, never an error, because it only orders repair steps).

    Terraform records the dependencies per instance as configuration addresses with
    their module path (``module.net.aws_vpc.main``); an instance's own address here is
    its full one (with keys); the value is sorted and without duplicates.
    """
    found: dict[str, set[str]] = {}
    resources = data.get("resources") if isinstance(data, dict) else None
    for resource in resources if isinstance(resources, list) else []:
        if not isinstance(resource, dict) or resource.get("mode") != "managed":
            continue
        type_name, name, module = resource.get("type"), resource.get("name"), resource.get("module")
        if not isinstance(type_name, str) or not isinstance(name, str):
            continue
        instances = resource.get("instances")
        for instance in instances if isinstance(instances, list) else []:
            if not isinstance(instance, dict):
                continue
            needs = instance.get("dependencies")
            if not isinstance(needs, list):
                continue
            index = instance.get("index_key")
            if not isinstance(index, int | str) or isinstance(index, bool):
                index = None
            address = format_address(
                module if isinstance(module, str) else None, "managed", type_name, name, index
            )
            found.setdefault(address, set()).update(n for n in needs if isinstance(n, str))
    return {address: tuple(sorted(needs)) for address, needs in sorted(found.items())}
