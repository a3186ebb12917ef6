"""Load ``policies/*.yaml`` into a :class:`~iacdrift.models.policy.PolicySet`.

The policy directory is ``policies/`` beside ``iacdrift.yaml`` unless told
otherwise; its ``*.yaml`` and ``*.yml`` files are read in file-name order (not
recursively), each holding one or more YAML documents whose ``kind`` picks the
model. Every problem in every file is collected and raised at once as one
:class:`~iacdrift.errors.RegistryError`, each as ``file: field: what to do``;
in a file with several documents the file is shown as
``policies/x.yaml (document 2)``.

Across files: ids are unique, at most one FieldOwnership per resource type, at
most one DecisionTable.

The policy version is ``sha256:<hex>`` over the canonical JSON of every
document (validated, defaults filled in) grouped by file name in file-name
order, so comments and formatting do not change it and the same policies
always give the same version, whatever the directory is called or where it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from iacdrift.errors import Problem, RegistryError
from iacdrift.loaders.documents import DocumentFormat
from iacdrift.loaders.registry import display_path, registry_files
from iacdrift.models.policy import (
    KIND_MODELS,
    DecisionTable,
    FieldOwnership,
    PolicyDocument,
    PolicyKind,
    PolicySet,
    PolicySource,
)
from iacdrift.primitives.canonical import canonical_json

POLICY_DIR = "policies"
_KINDS = ", ".join(sorted(kind.value for kind in PolicyKind))
_FORMAT = DocumentFormat[PolicyDocument](
    models={kind.value: model for kind, model in KIND_MODELS.items()},
    documents=f"policy documents (kind: {_KINDS})",
    fields="apiVersion, kind, id, ...",
    missing_kind=f"add one of: {_KINDS}",
    unknown_kind=f"use one of: {_KINDS}",
    suggest_kind=True,
)


def default_policy_dir(root: Path) -> Path:
    """``policies/`` beside iacdrift.yaml (``root`` is the project root)."""
    return root / POLICY_DIR


def policy_version(files: Sequence[tuple[str, Sequence[PolicyDocument]]]) -> str:
    """The content hash of ``(file name, documents)`` pairs: ``sha256:<hex>``."""
    content = [
        [name, [document.model_dump(mode="json") for document in documents]]
        for name, documents in sorted(files, key=lambda pair: pair[0])
    ]
    return "sha256:" + hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def load_policies(
    directory: Path, *, cwd: Path | None = None, missing_ok: bool = False
) -> PolicySet:
    """Read every policy file of ``directory``; raise one RegistryError listing every problem.

    ``directory`` is relative to ``cwd`` (default: the current directory). A missing
    directory is an empty policy set when ``missing_ok``, a problem otherwise.
    """
    cwd = (cwd or Path.cwd()).resolve()
    directory = (cwd / directory).resolve()
    shown_dir = display_path(directory, cwd)
    if not directory.is_dir():
        if missing_ok and not directory.exists():
            return PolicySet(version=policy_version([]))
        message = (
            "is not a directory; point --policies at the policy directory"
            if directory.exists()
            else "policy directory not found; create it with policy files (kind: "
            f"{_KINDS}) or point --policies at it"
        )
        raise RegistryError([Problem(shown_dir, "", message)])

    problems: list[Problem] = []
    sources: list[PolicySource] = []
    by_file: list[tuple[str, list[PolicyDocument]]] = []
    for file in registry_files(directory):
        shown = display_path(file, cwd)
        loaded, file_problems = _FORMAT.load(file, shown)
        problems.extend(file_problems)
        sources.extend(
            PolicySource(file.name, shown, item.position, item.model, item.where) for item in loaded
        )
        by_file.append((file.name, [item.model for item in loaded]))

    problems.extend(_cross_document_problems(sources))
    if problems:
        raise RegistryError(problems)
    return PolicySet(version=policy_version(by_file), sources=tuple(sources))


def _cross_document_problems(sources: list[PolicySource]) -> list[Problem]:
    problems: list[Problem] = []
    by_id: dict[str, PolicySource] = {}
    by_type: dict[str, PolicySource] = {}
    table: PolicySource | None = None
    for source in sources:
        document = source.document
        first = by_id.setdefault(document.id, source)
        if first is not source:
            problems.append(
                Problem(
                    source.where,
                    "id",
                    f"duplicate id {document.id!r} (also in {first.where}); "
                    "ids must be unique across policy files",
                )
            )
        if isinstance(document, FieldOwnership):
            owner = by_type.setdefault(document.resourceType, source)
            if owner is not source:
                problems.append(
                    Problem(
                        source.where,
                        "resourceType",
                        f"{document.resourceType} already has FieldOwnership "
                        f"{owner.document.id!r} ({owner.where}); merge them into one",
                    )
                )
        if isinstance(document, DecisionTable):
            if table is not None:
                problems.append(
                    Problem(
                        source.where,
                        "kind",
                        f"a second DecisionTable (the first is {table.document.id!r} in "
                        f"{table.where}); keep one table and order its rows",
                    )
                )
            else:
                table = source
    return problems
