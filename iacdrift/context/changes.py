"""Load change records (``changes/*.yaml``) and find the ones covering a resource.

The directory is ``changes/`` beside ``iacdrift.yaml`` unless the settings say
otherwise (``context.changeRecords``). Its ``*.yaml`` and ``*.yml`` files are
read in file-name order (not recursively); each holds one or more
``kind: ChangeRecord`` documents. Every problem in every file is collected and
raised at once as one :class:`~iacdrift.errors.RegistryError`, each as
``file: field: what to do``; in a file with several documents the file is
shown as ``changes/x.yaml (document 2)``. Ids are unique across files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from iacdrift.errors import Problem, RegistryError
from iacdrift.models.context import ChangeRecord
from iacdrift.registry import (
    DuplicateKeyError,
    UniqueKeyLoader,
    _yaml_kind,
    _yaml_syntax_message,
    display_path,
    registry_files,
    validation_problems,
)

CHANGES_DIR = "changes"
_KIND = "ChangeRecord"


@dataclass(frozen=True)
class _Loaded:
    record: ChangeRecord
    where: str


def load_change_records(
    directory: Path, *, cwd: Path | None = None, missing_ok: bool = True
) -> list[ChangeRecord]:
    """Every change record in ``directory``, sorted by (window.start, id).

    ``directory`` is relative to ``cwd`` (default: the current directory). A
    missing directory means no records when ``missing_ok``, a problem otherwise.
    """
    cwd = (cwd or Path.cwd()).resolve()
    directory = (cwd / directory).resolve()
    if not directory.is_dir():
        if missing_ok and not directory.exists():
            return []
        message = (
            "is not a directory; point context.changeRecords in iacdrift.yaml at the "
            "change record directory"
            if directory.exists()
            else "change record directory not found; create it with ChangeRecord files "
            "or fix context.changeRecords in iacdrift.yaml"
        )
        raise RegistryError([Problem(display_path(directory, cwd), "", message)])

    problems: list[Problem] = []
    loaded: list[_Loaded] = []
    for file in registry_files(directory):
        documents, file_problems = _read_documents(file, display_path(file, cwd))
        problems.extend(file_problems)
        for where, document in documents:
            record, document_problems = _validate(document, where)
            problems.extend(document_problems)
            if record is not None:
                loaded.append(_Loaded(record, where))

    problems.extend(_duplicate_ids(loaded))
    if problems:
        raise RegistryError(problems)
    return sorted((item.record for item in loaded), key=_order)


def records_covering(
    records: Iterable[ChangeRecord],
    *,
    stack: str,
    address: str | None,
    resource_id: str | None,
    at: datetime | None,
) -> list[ChangeRecord]:
    """The records that cover this resource at ``at`` (see ChangeRecord.covers), sorted."""
    return sorted(
        (
            record
            for record in records
            if record.covers(stack=stack, address=address, resource_id=resource_id, at=at)
        ),
        key=_order,
    )


def _order(record: ChangeRecord) -> tuple[datetime, str]:
    return record.window.start, record.id


def _read_documents(
    file: Path, shown: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[Problem]]:
    """The mapping documents of ``file`` as (where, document), and the problems."""
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
        return [], [Problem(shown, "", f"file is empty; write {_KIND} documents or delete it")]
    documents: list[tuple[str, dict[str, Any]]] = []
    problems: list[Problem] = []
    for position, document in enumerate(present, start=1):
        where = shown if len(present) == 1 else f"{shown} (document {position})"
        if isinstance(document, dict):
            documents.append((where, document))
            continue
        problems.append(
            Problem(
                where,
                "",
                f"the document is a {_yaml_kind(document)}, not a mapping; write `key: value` "
                "fields at the top level (kind, id, type, stack, window, ...)",
            )
        )
    return documents, problems


def _validate(document: dict[str, Any], where: str) -> tuple[ChangeRecord | None, list[Problem]]:
    kind = document.get("kind")
    if kind is None:
        return None, [Problem(where, "kind", f"required field is missing; add kind: {_KIND}")]
    if kind != _KIND:
        return None, [
            Problem(
                where,
                "kind",
                f"unknown kind {kind!r}; a change record directory holds only kind: {_KIND}",
            )
        ]
    try:
        return ChangeRecord.model_validate(document), []
    except ValidationError as exc:
        return None, validation_problems(exc, ChangeRecord, where)


def _duplicate_ids(loaded: list[_Loaded]) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, _Loaded] = {}
    for item in loaded:
        seen = first.setdefault(item.record.id, item)
        if seen is not item:
            problems.append(
                Problem(
                    item.where,
                    "id",
                    f"duplicate id {item.record.id!r} (also in {seen.where}); ids must be "
                    "unique across change record files",
                )
            )
    return problems
