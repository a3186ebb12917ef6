"""Aggregate attributes explained by the resources that manage their parts. Pure.

Some attributes are aggregates: the provider reads whole what other resources manage
part by part (``AGGREGATE_PARENTS`` and ``AGGREGATE_MEMBERS`` in the catalogue,
:mod:`iacdrift.core.resource_types`):

==================================  ==========================================================
parent attribute                    members (resources that manage a part of it)
==================================  ==========================================================
aws_iam_role.managed_policy_arns    aws_iam_role_policy_attachment, aws_iam_policy_attachment
aws_iam_role.inline_policy          aws_iam_role_policy
aws_security_group.ingress, egress  aws_security_group_rule, aws_vpc_security_group_ingress_rule,
                                    aws_vpc_security_group_egress_rule
aws_s3_bucket.policy                aws_s3_bucket_policy
aws_s3_bucket.grant, acl            aws_s3_bucket_acl
==================================  ==========================================================

A member applied after its parent was last written to the state is read into the
parent's aggregate by the next refresh: Terraform reports drift on the parent although
nothing changed outside Terraform. Drift of the part itself is the member's own finding
(its own refresh reads it), so the parent does not report it again.

Atoms. An aggregate and each member are cut into atoms, ``(identity, value)``:

* a managed policy: identity and value its ARN;
* an inline policy: identity its name, value its normalized document;
* a security group rule: one atom per source (CIDR, IPv6 CIDR, prefix list, group,
  self), identity (direction, protocol, port range, source), value its description;
  protocol numbers become names (``6`` -> ``tcp``) and all traffic is ``-1`` without
  ports, whichever resource says it;
* an ACL grant: one atom per permission, identity (grantee type, grantee id or URI,
  permission); a canned ACL: identity ``acl``, value its name;
* a bucket policy: identity ``policy``, value the normalized document.

Contract of :func:`explain` (one divergence, the members :func:`index_members` indexed:
this state's and other registered states'); the first rules select, the others decide:

1. Only a divergence whose plan leaves the drifted fields as they are
   (``RECORDED_NE_ACTUAL``) is explained: a plan that would change an aggregate fights
   its members, and that stays drift.
2. Only fields inside an aggregate attribute of the parent's type are candidates; a
   field deeper than one element of a set-valued aggregate stays drift.
3. The parent's members are those naming the parent by one of its identifying
   attributes (as the live resource has them, or its resource id): this state's as the
   plan's refresh read them; another registered state's as recorded there, and then
   only from the same account when both accounts are known.
4. Set-valued aggregates (policy ARNs, inline policies, rules, grants) are judged by
   atom. An element that appeared *gains* its atoms that no element the aggregate had
   (one it still has, or one that disappeared) holds; an element that disappeared
   *loses* its atoms that no element the aggregate has now holds. A gained atom is
   explained by each member holding that same atom; a lost atom by each member holding
   an atom of the same identity that the aggregate has now (the member replaced it).
5. An element field (one element appeared or disappeared) is explained when each atom
   it gains or loses is explained, by the members that explain them; an element that
   gains and loses nothing (the provider regrouped the same atoms) is explained by the
   members that explain any other gained or lost atom of the attribute, when there are
   any. An element with an atom nothing explains stays drift, whole.
6. A whole-value aggregate (a bucket policy document, a canned ACL): every field under
   it is explained when the aggregate's value now is a member's value, else none is.
7. Explained fields move from ``changed_fields`` to ``noise_fields`` (which stay sorted
   as :mod:`~iacdrift.core.planes` sorts them); a divergence left with no changed field
   becomes NOISE_ONLY (``also_true`` empty). The :class:`Explanation` list has one entry
   per explained field in ``changed_fields`` order, naming the explaining members
   (sorted); a member of another state is named ``<address> (stack <name>)``.

Values are the redacted, normalized ones (a sensitive value is a salted fingerprint and
only matches the same fingerprint): nothing here sees a secret.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iacdrift.core.normalize import normalize
from iacdrift.core.planes import Divergence
from iacdrift.core.planfacts import LiveResource
from iacdrift.core.redact import redact
from iacdrift.core.resource_types import AGGREGATE_MEMBERS, AGGREGATE_PARENTS
from iacdrift.core.terraform_json import format_address
from iacdrift.models.finding import ChangedField, Relationship
from iacdrift.primitives.canonical import canonical_json
from iacdrift.primitives.pointer import pointer_segments

__all__ = [
    "Explained",
    "Explanation",
    "Member",
    "explain",
    "index_members",
    "members_of",
    "members_of_live",
    "members_of_state",
    "needs_other_states",
]

# (identity, value), both canonical text.
Atom = tuple[str, str]
# (parent type, a name of the parent, aggregate attribute) -> members.
MemberIndex = Mapping[tuple[str, str, str], tuple["Member", ...]]

# Aggregates judged as one value (rule 6); the others are sets of elements.
_WHOLE: frozenset[tuple[str, str]] = frozenset(
    {("aws_s3_bucket", "policy"), ("aws_s3_bucket", "acl")}
)


@dataclass(frozen=True, slots=True)
class Member:
    """One resource's part of one aggregate attribute of one parent."""

    address: str
    type: str
    parent_type: str
    parent: str  # how the member names its parent (role name, group id, bucket)
    attribute: str  # the parent's aggregate attribute
    atoms: frozenset[Atom]
    stack: str | None = None  # None: the state being checked
    account: str | None = None

    @property
    def name(self) -> str:
        """How a finding names it: its address, with its stack when another state's."""
        return self.address if self.stack is None else f"{self.address} (stack {self.stack})"


@dataclass(frozen=True, slots=True)
class Explanation:
    """One changed field of an aggregate and the members that explain it."""

    pointer: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Explained:
    """A divergence with its explained fields moved to noise (see module doc, rule 7)."""

    divergence: Divergence
    explanations: tuple[Explanation, ...] = ()


# --- atoms ---------------------------------------------------------------------------------


def _key(*parts: Any) -> str:
    return canonical_json(list(parts))


_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def _protocol(value: Any) -> str:
    text = str(value).lower() if value is not None else "-1"
    return _PROTOCOL_NAMES.get(text, text)


def _port(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rule_atoms(
    direction: str,
    protocol: Any,
    from_port: Any,
    to_port: Any,
    sources: Iterable[tuple[str, Any]],
    description: Any,
) -> frozenset[Atom]:
    name = _protocol(protocol)
    low, high = (None, None) if name == "-1" else (_port(from_port), _port(to_port))
    value = description if isinstance(description, str) else ""
    return frozenset(
        (_key("rule", direction, name, low, high, kind, source), value)
        for kind, source in sources
        if isinstance(source, str) and source
    )


def _listed(attributes: Mapping[str, Any], key: str, kind: str) -> Iterator[tuple[str, Any]]:
    values = attributes.get(key)
    if isinstance(values, list):
        for value in values:
            yield kind, value


def _group_rule_element(direction: str, element: Any) -> frozenset[Atom] | None:
    """Atoms of one element of a security group's ``ingress``/``egress`` set."""
    if not isinstance(element, Mapping):
        return None
    sources = [
        *_listed(element, "cidr_blocks", "cidr"),
        *_listed(element, "ipv6_cidr_blocks", "ipv6"),
        *_listed(element, "prefix_list_ids", "prefix"),
        *_listed(element, "security_groups", "group"),
    ]
    if element.get("self") is True:
        sources.append(("self", "self"))
    return _rule_atoms(
        direction,
        element.get("protocol"),
        element.get("from_port"),
        element.get("to_port"),
        sources,
        element.get("description"),
    )


def _grant_atoms(grantee_type: Any, grantee: Any, permissions: Iterable[Any]) -> frozenset[Atom]:
    return frozenset(
        (_key("grant", grantee_type, grantee, permission), "")
        for permission in permissions
        if isinstance(permission, str)
    )


def _bucket_grant_element(element: Any) -> frozenset[Atom] | None:
    if not isinstance(element, Mapping):
        return None
    permissions = element.get("permissions")
    grantee = element.get("id") or element.get("uri")
    return _grant_atoms(
        element.get("type"), grantee, permissions if isinstance(permissions, list) else ()
    )


def _element_atoms(parent_type: str, attribute: str, element: Any) -> frozenset[Atom] | None:
    """Atoms of one element of a set-valued aggregate; None when it cannot be cut."""
    if parent_type == "aws_iam_role" and attribute == "managed_policy_arns":
        return frozenset({(_key("policy-arn", element), "")}) if isinstance(element, str) else None
    if parent_type == "aws_iam_role" and attribute == "inline_policy":
        if not isinstance(element, Mapping) or not isinstance(element.get("name"), str):
            return None
        return frozenset({(_key("inline-policy", element["name"]), _key(element.get("policy")))})
    if parent_type == "aws_security_group" and attribute in ("ingress", "egress"):
        return _group_rule_element(attribute, element)
    if parent_type == "aws_s3_bucket" and attribute == "grant":
        return _bucket_grant_element(element)
    return None


def _whole_atom(attribute: str, value: Any) -> Atom:
    return (_key(attribute), _key(value))


# --- members -------------------------------------------------------------------------------


def _parent_names(value: Any) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


def _member_parts(
    type_name: str, attributes: Mapping[str, Any]
) -> list[tuple[str, frozenset[Atom]]]:
    """(parent attribute, atoms) of one member resource."""
    if type_name in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment"):
        arn = attributes.get("policy_arn")
        return (
            [("managed_policy_arns", frozenset({(_key("policy-arn", arn), "")}))]
            if (isinstance(arn, str) and arn)
            else []
        )
    if type_name == "aws_iam_role_policy":
        name = attributes.get("name")
        if not isinstance(name, str) or not name:
            return []
        atom = (_key("inline-policy", name), _key(attributes.get("policy")))
        return [("inline_policy", frozenset({atom}))]
    if type_name == "aws_security_group_rule":
        direction = attributes.get("type")
        if direction not in ("ingress", "egress"):
            return []
        sources = [
            *_listed(attributes, "cidr_blocks", "cidr"),
            *_listed(attributes, "ipv6_cidr_blocks", "ipv6"),
            *_listed(attributes, "prefix_list_ids", "prefix"),
            ("group", attributes.get("source_security_group_id")),
        ]
        if attributes.get("self") is True:
            sources.append(("self", "self"))
        atoms = _rule_atoms(
            str(direction),
            attributes.get("protocol"),
            attributes.get("from_port"),
            attributes.get("to_port"),
            sources,
            attributes.get("description"),
        )
        return [(str(direction), atoms)]
    if type_name in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        direction = "ingress" if type_name.endswith("ingress_rule") else "egress"
        sources = [
            ("cidr", attributes.get("cidr_ipv4")),
            ("ipv6", attributes.get("cidr_ipv6")),
            ("prefix", attributes.get("prefix_list_id")),
            ("group", attributes.get("referenced_security_group_id")),
        ]
        atoms = _rule_atoms(
            direction,
            attributes.get("ip_protocol"),
            attributes.get("from_port"),
            attributes.get("to_port"),
            sources,
            attributes.get("description"),
        )
        return [(direction, atoms)]
    if type_name == "aws_s3_bucket_policy":
        policy = attributes.get("policy")
        return [("policy", frozenset({_whole_atom("policy", policy)}))] if policy else []
    if type_name == "aws_s3_bucket_acl":
        parts: list[tuple[str, frozenset[Atom]]] = []
        acl = attributes.get("acl")
        if isinstance(acl, str) and acl:
            parts.append(("acl", frozenset({_whole_atom("acl", acl)})))
        grants: set[Atom] = set()
        for policy in _blocks(attributes.get("access_control_policy")):
            for grant in _blocks(policy.get("grant")):
                for grantee in _blocks(grant.get("grantee")):
                    who = grantee.get("id") or grantee.get("uri")
                    grants |= _grant_atoms(grantee.get("type"), who, [grant.get("permission")])
        if grants:
            parts.append(("grant", frozenset(grants)))
        return parts
    return []


def _blocks(value: Any) -> list[Mapping[str, Any]]:
    """A nested block (a list of objects, or one object) as a list of objects."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def members_of(
    address: str,
    type_name: str,
    attributes: Any,
    *,
    stack: str | None = None,
    account: str | None = None,
) -> list[Member]:
    """The members one resource makes (none for a type that is no member), from its
    redacted, normalized attributes."""
    spec = AGGREGATE_MEMBERS.get(type_name)
    if spec is None or not isinstance(attributes, Mapping):
        return []
    parent_type, parent_key = spec
    found: list[Member] = []
    for parent in _parent_names(attributes.get(parent_key)):
        for attribute, atoms in _member_parts(type_name, attributes):
            if atoms:
                found.append(
                    Member(
                        address, type_name, parent_type, parent, attribute, atoms, stack, account
                    )
                )
    return found


def members_of_live(live: Mapping[str, LiveResource]) -> list[Member]:
    """The members of the state being checked, as the plan's refresh read them."""
    return [
        member
        for address, resource in sorted(live.items())
        for member in members_of(address, resource.type, resource.attributes)
    ]


def _sensitive_mask(instance: Mapping[str, Any]) -> Any:
    """A redaction mask from a state instance's ``sensitive_attributes`` (paths of steps):
    each top-level attribute a path starts in is masked whole; a path that cannot be
    read masks everything."""
    paths = instance.get("sensitive_attributes") or []
    mask: dict[str, bool] = {}
    for path in paths if isinstance(paths, list) else [None]:
        step = path[0] if isinstance(path, list) and path else None
        name = step.get("value") if isinstance(step, Mapping) else None
        if not isinstance(name, str):
            return True
        mask[name] = True
    return mask or False


def members_of_state(
    state_json: Mapping[str, Any], *, stack: str, account: str | None, salt: bytes
) -> list[Member]:
    """The members another registered state records (state format version 4), redacted
    with the state's own sensitivity paths and normalized, sorted by address."""
    found: list[Member] = []
    for resource in state_json.get("resources") or []:
        if not isinstance(resource, Mapping) or resource.get("mode") != "managed":
            continue
        type_name = str(resource.get("type") or "")
        if type_name not in AGGREGATE_MEMBERS:
            continue
        module = resource.get("module")
        for instance in resource.get("instances") or []:
            if not isinstance(instance, Mapping) or instance.get("deposed"):
                continue
            key = instance.get("index_key")
            address = format_address(
                module if isinstance(module, str) and module else None,
                "managed",
                type_name,
                str(resource.get("name") or ""),
                key if isinstance(key, int | str) else None,
            )
            values = redact(
                instance.get("attributes"),
                _sensitive_mask(instance),
                salt=salt,
                type_name=type_name,
            )
            found.extend(
                members_of(
                    address, type_name, normalize(type_name, values), stack=stack, account=account
                )
            )
    found.sort(key=lambda m: (m.address, m.attribute, m.parent))
    return found


def index_members(members: Iterable[Member]) -> dict[tuple[str, str, str], tuple[Member, ...]]:
    """Members by (parent type, parent name, attribute), each list sorted by name."""
    index: dict[tuple[str, str, str], list[Member]] = {}
    for member in members:
        index.setdefault((member.parent_type, member.parent, member.attribute), []).append(member)
    return {key: tuple(sorted(group, key=lambda m: m.name)) for key, group in index.items()}


# --- explaining ----------------------------------------------------------------------------


def _names_of_parent(divergence: Divergence, live: Any, keys: Sequence[str]) -> set[str]:
    names = {divergence.resource_id} if divergence.resource_id else set()
    if isinstance(live, Mapping):
        names.update(v for k in keys if isinstance(v := live.get(k), str) and v)
    return names


def _members_for(
    index: MemberIndex,
    parent_type: str,
    names: Iterable[str],
    attribute: str,
    account: str | None,
) -> list[Member]:
    found: dict[str, Member] = {}
    for name in sorted(names):
        for member in index.get((parent_type, name, attribute), ()):
            if (
                member.stack is not None
                and account
                and member.account
                and member.account != account
            ):
                continue
            found.setdefault(member.name, member)
    return [found[name] for name in sorted(found)]


def _element_position(field: ChangedField, attribute: str) -> bool:
    segments = pointer_segments(field.pointer)
    return len(segments) == 2 and segments[0] == attribute and segments[1].isdigit()


def _explain_elements(
    parent_type: str,
    attribute: str,
    fields: Sequence[tuple[int, ChangedField]],
    now_value: Any,
    members: Sequence[Member],
) -> dict[int, tuple[str, ...]]:
    """Rules 4 and 5 for one set-valued aggregate: field index -> explaining names."""

    def atoms(element: Any) -> frozenset[Atom] | None:
        return _element_atoms(parent_type, attribute, element)

    appeared = [(i, f) for i, f in fields if f.before is None and f.after is not None]
    removed = [(i, f) for i, f in fields if f.after is None and f.before is not None]
    appeared_keys = {canonical_json(f.after) for _, f in appeared}
    now_elements = (
        list(now_value) if isinstance(now_value, list) else [f.after for _, f in appeared]
    )
    cut: dict[int, frozenset[Atom]] = {}
    now_atoms: set[Atom] = set()
    had_atoms: set[Atom] = set()
    for element in now_elements:
        element_atoms = atoms(element)
        if element_atoms is None:
            return {}  # an element we cannot cut: judge nothing of this attribute
        now_atoms |= element_atoms
        if canonical_json(element) not in appeared_keys:
            had_atoms |= element_atoms
    for i, f in (*appeared, *removed):
        element_atoms = atoms(f.after if f.before is None else f.before)
        if element_atoms is None:
            return {}
        cut[i] = element_atoms
    for i, _ in removed:
        had_atoms |= cut[i]

    holders: dict[Atom, set[str]] = {}
    by_identity: dict[str, set[tuple[str, str]]] = {}
    for member in members:
        for atom in member.atoms:
            holders.setdefault(atom, set()).add(member.name)
            by_identity.setdefault(atom[0], set()).add((atom[1], member.name))

    def gained_by(atom: Atom) -> set[str]:
        return holders.get(atom, set())

    def lost_by(atom: Atom) -> set[str]:
        identity = atom[0]
        return {
            name for value, name in by_identity.get(identity, ()) if (identity, value) in now_atoms
        }

    changes: dict[int, list[set[str]]] = {}
    for i, _ in appeared:
        changes[i] = [gained_by(a) for a in sorted(cut[i] - had_atoms)]
    for i, _ in removed:
        changes[i] = [lost_by(a) for a in sorted(cut[i] - now_atoms)]
    attribute_names = {n for found in changes.values() for names in found for n in names}
    explained: dict[int, tuple[str, ...]] = {}
    for i, found in changes.items():
        if not found:
            if attribute_names:
                explained[i] = tuple(sorted(attribute_names))
        elif all(found):
            explained[i] = tuple(sorted(set().union(*found)))
    return explained


def explain(
    divergence: Divergence,
    live_attributes: Any,
    index: MemberIndex,
    *,
    account: str | None = None,
) -> Explained:
    """The divergence with the aggregate fields its members explain moved to noise (see
    the module doc). ``live_attributes`` are the parent's redacted, normalized attributes
    as the plan's refresh read them (None when unknown); ``account`` is the checked
    stack's account, when known."""
    spec = AGGREGATE_PARENTS.get(divergence.type)
    if spec is None or divergence.relationship is not Relationship.RECORDED_NE_ACTUAL:
        return Explained(divergence)
    aggregates, keys = spec
    by_attribute: dict[str, list[tuple[int, ChangedField]]] = {}
    for i, changed in enumerate(divergence.changed_fields):
        segments = pointer_segments(changed.pointer)
        if segments and segments[0] in aggregates:
            by_attribute.setdefault(segments[0], []).append((i, changed))
    if not by_attribute:
        return Explained(divergence)
    names = _names_of_parent(divergence, live_attributes, keys)
    live = live_attributes if isinstance(live_attributes, Mapping) else {}
    explained: dict[int, tuple[str, ...]] = {}
    for attribute, fields in sorted(by_attribute.items()):
        members = _members_for(index, divergence.type, names, attribute, account)
        if not members:
            continue
        now_value = live.get(attribute)
        if (divergence.type, attribute) in _WHOLE:
            if now_value is None:
                continue
            atom = _whole_atom(attribute, now_value)
            holders = tuple(sorted(m.name for m in members if atom in m.atoms))
            if holders:
                explained.update((i, holders) for i, _ in fields)
            continue
        elements = [(i, f) for i, f in fields if _element_position(f, attribute)]
        explained.update(
            _explain_elements(divergence.type, attribute, elements, now_value, members)
        )
    if not explained:
        return Explained(divergence)
    remaining = tuple(f for i, f in enumerate(divergence.changed_fields) if i not in explained)
    moved = [divergence.changed_fields[i] for i in sorted(explained)]
    noise = tuple(sorted((*divergence.noise_fields, *moved), key=_field_order))
    if remaining:
        result = dataclasses.replace(divergence, changed_fields=remaining, noise_fields=noise)
    else:
        result = dataclasses.replace(
            divergence,
            relationship=Relationship.NOISE_ONLY,
            also_true=(),
            changed_fields=(),
            noise_fields=noise,
        )
    explanations = tuple(
        Explanation(divergence.changed_fields[i].pointer, explained[i]) for i in sorted(explained)
    )
    return Explained(result, explanations)


def _field_order(field: ChangedField) -> tuple[str, int, str]:
    # As core.diff.change_order: at one pointer, removal, change, addition.
    kind = 0 if field.after is None else (2 if field.before is None else 1)
    return field.pointer, kind, canonical_json([field.before, field.after])


def needs_other_states(
    divergences: Sequence[Divergence],
    live: Mapping[str, LiveResource],
    index: MemberIndex,
) -> bool:
    """Whether a divergence keeps an aggregate field that this state's members (``index``)
    do not explain: only then are other registered states worth reading."""
    for divergence in divergences:
        spec = AGGREGATE_PARENTS.get(divergence.type)
        if spec is None or divergence.relationship is not Relationship.RECORDED_NE_ACTUAL:
            continue
        resource = live.get(divergence.address)
        left = explain(divergence, resource.attributes if resource else None, index).divergence
        for changed in left.changed_fields:
            segments = pointer_segments(changed.pointer)
            if segments and segments[0] in spec[0]:
                return True
    return False
