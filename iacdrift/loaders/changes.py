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
from datetime import datetime
from pathlib import Path

from iacdrift.errors import Problem, RegistryError
from iacdrift.loaders.documents import DocumentFormat, Loaded
from iacdrift.loaders.registry import display_path, registry_files
from iacdrift.models.context import ChangeRecord

CHANGES_DIR = "changes"
_KIND = "ChangeRecord"
_FORMAT = DocumentFormat(
    models={_KIND: ChangeRecord},
    documents=f"{_KIND} documents",
    fields="kind, id, type, stack, window, ...",
    missing_kind=f"add kind: {_KIND}",
    unknown_kind=f"a change record directory holds only kind: {_KIND}",
)


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
    loaded: list[Loaded[ChangeRecord]] = []
    for file in registry_files(directory):
        records, file_problems = _FORMAT.load(file, display_path(file, cwd))
        problems.extend(file_problems)
        loaded.extend(records)

    problems.extend(_duplicate_ids(loaded))
    if problems:
        raise RegistryError(problems)
    return sorted((item.model for item in loaded), key=_order)


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


def _duplicate_ids(loaded: list[Loaded[ChangeRecord]]) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, Loaded[ChangeRecord]] = {}
    for item in loaded:
        seen = first.setdefault(item.model.id, item)
        if seen is not item:
            problems.append(
                Problem(
                    item.where,
                    "id",
                    f"duplicate id {item.model.id!r} (also in {seen.where}); ids must be "
                    "unique across change record files",
                )
            )
    return problems
