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

import difflib
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from iacdrift.core.normalize import canonical_json
from iacdrift.errors import Problem, RegistryError
from iacdrift.models.policy import (
    KIND_MODELS,
    DecisionTable,
    FieldOwnership,
    PolicyDocument,
    PolicyKind,
    PolicySet,
    PolicySource,
)
from iacdrift.registry import (
    DuplicateKeyError,
    UniqueKeyLoader,
    _yaml_kind,
    _yaml_syntax_message,
    display_path,
    registry_files,
    validation_problems,
)

POLICY_DIR = "policies"
_KINDS = ", ".join(sorted(kind.value for kind in PolicyKind))


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
        documents, file_problems = _read_documents(file, shown)
        problems.extend(file_problems)
        loaded: list[PolicyDocument] = []
        for position, where, document in documents:
            model, document_problems = _validate(document, where)
            problems.extend(document_problems)
            if model is not None:
                loaded.append(model)
                sources.append(PolicySource(file.name, shown, position, model, where))
        by_file.append((file.name, loaded))

    problems.extend(_cross_document_problems(sources))
    if problems:
        raise RegistryError(problems)
    return PolicySet(version=policy_version(by_file), sources=tuple(sources))


def _read_documents(
    file: Path, shown: str
) -> tuple[list[tuple[int, str, dict[str, Any]]], list[Problem]]:
    """The mapping documents of ``file`` as (position, where, document), and the problems."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [Problem(shown, "", f"not UTF-8 text ({exc.reason}); save it as UTF-8")]
    except OSError as exc:
        return [], [Problem(shown, "", f"cannot read: {exc.strerror or exc}; check the file")]
    try:
        raw = list(yaml.load_all(text, Loader=UniqueKeyLoader))
    except DuplicateKeyError as exc:
        return [], [
            Problem(
                shown,
                key_path,
                f"duplicate key on line {line} (first on line {first}); keep only one "
                "(YAML would silently use the last)",
            )
            for key_path, line, first in exc.duplicates
        ]
    except yaml.MarkedYAMLError as exc:
        return [], [Problem(shown, "", _yaml_syntax_message(exc))]
    except yaml.YAMLError as exc:
        return [], [Problem(shown, "", f"invalid YAML: {exc}; fix the syntax")]
    except ValueError as exc:
        # PyYAML reads an unquoted 2026-13-01 as a timestamp and fails without a mark.
        return [], [
            Problem(shown, "", f"YAML cannot read a value ({exc}); fix the date or quote it")
        ]

    present = [document for document in raw if document is not None]
    if not present:
        return [], [
            Problem(
                shown, "", f"file is empty; write policy documents (kind: {_KINDS}) or delete it"
            )
        ]
    documents: list[tuple[int, str, dict[str, Any]]] = []
    problems: list[Problem] = []
    for position, document in enumerate(present, start=1):
        where = shown if len(present) == 1 else f"{shown} (document {position})"
        if isinstance(document, dict):
            documents.append((position, where, document))
            continue
        problems.append(
            Problem(
                where,
                "",
                f"the document is a {_yaml_kind(document)}, not a mapping; write `key: value` "
                "fields at the top level (apiVersion, kind, id, ...)",
            )
        )
    return documents, problems


def _validate(document: dict[str, Any], where: str) -> tuple[PolicyDocument | None, list[Problem]]:
    kind = document.get("kind")
    if kind is None:
        return None, [Problem(where, "kind", f"required field is missing; add one of: {_KINDS}")]
    if not isinstance(kind, str) or kind not in {k.value for k in PolicyKind}:
        close = difflib.get_close_matches(str(kind), [k.value for k in PolicyKind], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return None, [Problem(where, "kind", f"unknown kind {kind!r}; use one of: {_KINDS}{hint}")]
    model = KIND_MODELS[PolicyKind(kind)]
    try:
        return model.model_validate(document), []
    except ValidationError as exc:
        return None, validation_problems(exc, model, where)


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
