"""Facts the classifier needs from a plan beyond the divergences. Pure.

* :func:`live_resources`: every managed resource as the refreshed plan saw it
  (the actual plane), redacted and normalized, with its tags: what guardrails
  and ignore rules look at, including resources that did not drift;
* :func:`data_source_changes`: data sources (``terraform_remote_state``
  outputs, a secret's version, any other lookup) whose value at plan time
  differs from the value recorded at the last apply;
* :func:`data_dependencies`: which data sources each resource's configuration
  reads, directly or through the arguments of the module calls around it;
* :func:`refactor_pairs`: a destroy and a create of the same type whose
  identity matches (a rename without a ``moved`` block).

Values are compared as salted fingerprints in memory; nothing here keeps a
secret beyond the call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from iacdrift.core.normalize import normalize
from iacdrift.core.redact import fingerprint, redact
from iacdrift.core.resource_types import (
    IDENTITY_ATTRIBUTES,
    SECRET_DATA_SOURCES,
    SECRET_VERSION_ATTRIBUTES,
)
from iacdrift.core.terraform_json import PlanView
from iacdrift.primitives.address import config_address


@dataclass(frozen=True)
class LiveResource:
    """A managed resource as the provider reported it during the plan's refresh."""

    address: str
    type: str
    resource_id: str | None
    attributes: Any  # redacted + normalized
    tags: Mapping[str, str]


@dataclass(frozen=True)
class DataChange:
    """A data source whose value changed since the last apply."""

    address: str
    type: str
    secret: bool
    version_before: str | None = None
    version_after: str | None = None
    # What the audit trail may name the source's object by (ids, ARNs, secret ids; never
    # a value), sorted: who changed a secret is judged on these.
    identifiers: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.secret and (self.version_before or self.version_after):
            return (
                f"{self.address}: version {self.version_before or '?'} -> "
                f"{self.version_after or '?'}"
            )
        return f"{self.address}: its value changed since the last apply"


def _module_resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for resource in module.get("resources") or []:
        if isinstance(resource, Mapping):
            yield resource
    for child in module.get("child_modules") or []:
        if isinstance(child, Mapping):
            yield from _module_resources(child)


def _prior_resources(plan_json: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    prior = plan_json.get("prior_state")
    if not isinstance(prior, Mapping):
        return
    values = prior.get("values")
    if isinstance(values, Mapping) and isinstance(values.get("root_module"), Mapping):
        yield from _module_resources(values["root_module"])


def _tags(attributes: Any) -> dict[str, str]:
    if not isinstance(attributes, Mapping):
        return {}
    for key in ("tags_all", "tags"):
        tags = attributes.get(key)
        if isinstance(tags, Mapping) and tags:
            return {str(k): str(v) for k, v in tags.items() if isinstance(v, str)}
    return {}


def live_resources(plan_json: Mapping[str, Any], *, salt: bytes) -> dict[str, LiveResource]:
    """Managed resources of the plan's refreshed prior state, by address."""
    found: dict[str, LiveResource] = {}
    for item in _prior_resources(plan_json):
        if item.get("mode") != "managed" or not isinstance(item.get("address"), str):
            continue
        type_name = str(item.get("type") or "")
        values = item.get("values") or {}
        mask = item.get("sensitive_values")
        redacted = redact(
            values, mask if mask is not None else True, salt=salt, type_name=type_name
        )
        attributes = normalize(type_name, redacted) or {}
        raw_id = values.get("id") if isinstance(values, Mapping) else None
        found[item["address"]] = LiveResource(
            address=item["address"],
            type=type_name,
            resource_id=raw_id if isinstance(raw_id, str) else None,
            attributes=attributes,
            tags=_tags(attributes),
        )
    return found


def _state_data_sources(state_json: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(address, type, attributes) of every data source instance in a state document."""
    for resource in state_json.get("resources") or []:
        if not isinstance(resource, Mapping) or resource.get("mode") != "data":
            continue
        module = resource.get("module")
        base = f"data.{resource.get('type')}.{resource.get('name')}"
        prefix = f"{module}." if isinstance(module, str) and module else ""
        for instance in resource.get("instances") or []:
            if not isinstance(instance, Mapping):
                continue
            key = instance.get("index_key")
            suffix = "" if key is None else (f"[{key}]" if isinstance(key, int) else f'["{key}"]')
            yield prefix + base + suffix, str(resource.get("type")), instance.get("attributes")


def _unwrap_dynamic(attributes: Any) -> Any:
    """A state stores dynamically typed attributes (``terraform_remote_state.outputs``,
    ``config``) as ``{"type": ..., "value": ...}`` where plan JSON has the bare value."""
    if not isinstance(attributes, Mapping):
        return attributes
    return {
        key: value["value"]
        if isinstance(value, Mapping) and set(value) == {"type", "value"}
        else value
        for key, value in attributes.items()
    }


def _comparable(type_name: str, attributes: Any) -> Any:
    return normalize(type_name, _unwrap_dynamic(attributes))


def _version(attributes: Any) -> str | None:
    if not isinstance(attributes, Mapping):
        return None
    for key in SECRET_VERSION_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


# Attributes of a data source naming the object it reads (never its value).
_DATA_IDENTIFIERS: tuple[str, ...] = ("id", "arn", "secret_id", "name")


def _data_identifiers(item: Mapping[str, Any]) -> tuple[str, ...]:
    """Identifiers of a data source as the plan read it; a composite id
    (``<arn>|<stage>``) names its object too; a value marked sensitive is never one."""
    values = item.get("values")
    mask = item.get("sensitive_values")
    if not isinstance(values, Mapping):
        return ()
    found: set[str] = set()
    for key in _DATA_IDENTIFIERS:
        value = values.get(key)
        hidden = not isinstance(mask, Mapping) or mask.get(key) not in (None, False)
        if isinstance(value, str) and value and not hidden:
            found.add(value)
            found.add(value.split("|", 1)[0])
    return tuple(sorted(found))


def data_source_changes(
    plan_json: Mapping[str, Any], state_json: Mapping[str, Any] | None, *, salt: bytes
) -> dict[str, DataChange]:
    """Data sources read during the plan whose value differs from the recorded one.

    A data source absent from the recorded state (never applied) is not a change. A
    secret's change carries its version ids and the identifiers the audit trail may name
    it by (:func:`_data_identifiers`).
    """
    if not state_json:
        return {}
    recorded = {address: (kind, attrs) for address, kind, attrs in _state_data_sources(state_json)}
    changes: dict[str, DataChange] = {}
    for item in _prior_resources(plan_json):
        address = item.get("address")
        if item.get("mode") != "data" or not isinstance(address, str) or address not in recorded:
            continue
        kind, before = recorded[address]
        after = item.get("values")
        same = fingerprint(_comparable(kind, before), salt=salt) == fingerprint(
            _comparable(kind, after), salt=salt
        )
        if same:
            continue
        secret = kind in SECRET_DATA_SOURCES
        changes[address] = DataChange(
            address=address,
            type=kind,
            secret=secret,
            version_before=_version(before) if secret else None,
            version_after=_version(after) if secret else None,
            identifiers=_data_identifiers(item) if secret else (),
        )
    return changes


def _references(expressions: Any) -> Iterator[str]:
    """Every reference anywhere in an ``expressions`` tree (blocks nest)."""
    if isinstance(expressions, Mapping):
        refs = expressions.get("references")
        if isinstance(refs, list):
            yield from (ref for ref in refs if isinstance(ref, str))
        for key, value in expressions.items():
            if key != "references":
                yield from _references(value)
    elif isinstance(expressions, list):
        for value in expressions:
            yield from _references(value)


def _data_refs(refs: set[str], prefix: str) -> set[str]:
    """``data.T.N`` addresses (with the module prefix) among references."""
    found: set[str] = set()
    for ref in refs:
        if ref.startswith("data."):
            parts = ref.split(".")
            if len(parts) >= 3:
                found.add(prefix + ".".join(parts[:3]))
    return found


@dataclass
class _Scope:
    """One module instance of the configuration: what its parts read."""

    prefix: str
    module: Mapping[str, Any]
    inherited: frozenset[str]  # data sources the module call's arguments read
    all_data: frozenset[str] = frozenset()  # every data source declared in this module


def _declared_data(module: Mapping[str, Any], prefix: str) -> frozenset[str]:
    return frozenset(
        prefix + str(r.get("address"))
        for r in module.get("resources") or []
        if isinstance(r, Mapping) and r.get("mode") == "data"
    )


def _output_reads(scope: _Scope, call: str, output: str) -> set[str]:
    """The data sources a child module's output reads (``module.<call>.<output>``)."""
    calls = scope.module.get("module_calls") or {}
    child_call = calls.get(call) if isinstance(calls, Mapping) else None
    child = child_call.get("module") if isinstance(child_call, Mapping) else None
    if not isinstance(child, Mapping):
        return set()
    outputs = child.get("outputs") or {}
    spec = outputs.get(output) if isinstance(outputs, Mapping) else None
    child_prefix = f"{scope.prefix}module.{call}."
    refs = set(_references(spec)) if spec is not None else set()
    found = _data_refs(refs, child_prefix)
    if any(ref.startswith("local.") for ref in refs):
        found |= _declared_data(child, child_prefix)
    return found


def _reads(node: Any, scope: _Scope) -> set[str]:
    """Data sources a configuration node reads: directly, through a child module's
    outputs, through locals (not in plan JSON: every data source of the module is
    assumed), and what the module call's arguments read."""
    refs = set(_references(node))
    if isinstance(node, Mapping):
        refs.update(d for d in node.get("depends_on") or [] if isinstance(d, str))
    found = set(scope.inherited) | _data_refs(refs, scope.prefix)
    for ref in refs:
        parts = ref.split(".")
        if parts[0] == "module" and len(parts) >= 3:
            found |= _output_reads(scope, parts[1], parts[2])
        elif parts[0] == "local":
            found |= scope.all_data
    return found


def data_dependencies(plan_json: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Config address of each managed resource -> data sources its configuration reads.

    Everything in the resource block counts (``count``/``for_each`` expressions
    too). A resource inside a module also reads whatever the module call's
    arguments read (dynamic blocks hide finer paths), recursively up to the root.
    """
    configuration = plan_json.get("configuration")
    root = configuration.get("root_module") if isinstance(configuration, Mapping) else None
    result: dict[str, frozenset[str]] = {}
    if isinstance(root, Mapping):
        _walk_module(_Scope("", root, frozenset(), _declared_data(root, "")), result)
    return result


def _walk_module(scope: _Scope, out: dict[str, frozenset[str]]) -> None:
    for resource in scope.module.get("resources") or []:
        if not isinstance(resource, Mapping) or resource.get("mode") != "managed":
            continue
        out[scope.prefix + str(resource.get("address"))] = frozenset(_reads(resource, scope))
    for name, call in sorted((scope.module.get("module_calls") or {}).items()):
        child = call.get("module") if isinstance(call, Mapping) else None
        if not isinstance(child, Mapping):
            continue
        child_prefix = f"{scope.prefix}module.{name}."
        arguments = {k: v for k, v in call.items() if k != "module"}
        _walk_module(
            _Scope(
                child_prefix,
                child,
                frozenset(_reads(arguments, scope)),
                _declared_data(child, child_prefix),
            ),
            out,
        )


def depends_on_changed(
    address: str, dependencies: Mapping[str, frozenset[str]], changes: Mapping[str, DataChange]
) -> list[DataChange]:
    """The changed data sources the resource at ``address`` reads."""
    reads = dependencies.get(config_address(address), frozenset())
    return [change for data, change in sorted(changes.items()) if config_address(data) in reads]


def refactor_pairs(plan: PlanView) -> dict[str, str]:
    """Address -> counterpart for each destroy/create pair of one type with the same identity.

    Both sides map to each other. Only unambiguous pairs: one destroy, one create.
    """
    destroys: dict[tuple[str, str, str], list[str]] = {}
    creates: dict[tuple[str, str, str], list[str]] = {}
    for entry in plan.resource_changes:
        if entry.mode != "managed":
            continue
        actions = set(entry.actions)
        if actions == {"delete"} and isinstance(entry.before, Mapping):
            for key in IDENTITY_ATTRIBUTES:
                value = entry.before.get(key)
                if isinstance(value, str) and value:
                    destroys.setdefault((entry.type, key, value), []).append(entry.address)
        elif actions == {"create"} and isinstance(entry.after, Mapping):
            for key in IDENTITY_ATTRIBUTES:
                value = entry.after.get(key)
                if isinstance(value, str) and value:
                    creates.setdefault((entry.type, key, value), []).append(entry.address)
    pairs: dict[str, str] = {}
    for identity, gone in sorted(destroys.items()):
        made = creates.get(identity, [])
        if len(gone) == 1 and len(made) == 1 and gone[0] != made[0]:
            pairs.setdefault(gone[0], made[0])
            pairs.setdefault(made[0], gone[0])
    return pairs
