"""Load a state migration file (``surgery/*.yaml``): one ``kind: StateMigration`` document.

Every problem in the file is collected and raised at once as one
:class:`~iacdrift.errors.RegistryError`, each as ``file: field: what to do``
(malformed YAML, a duplicate key, a wrong kind, an unknown op, a missing reason, an
address that is not one, a stack that is not registered). Fields inside an
operation are named by its position, ``operations.0.reason``, never by pydantic's
union tag.

The exact text is kept with the model (:class:`MigrationFile`): a surgery plan binds
the migration by the sha256 of its bytes, so what is hashed must be what was parsed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from iacdrift.core.surgery.plan import migration_sha256
from iacdrift.errors import Problem, RegistryError
from iacdrift.loaders.documents import DocumentFormat, not_a_mapping, read_yaml
from iacdrift.loaders.registry import display_path
from iacdrift.models.surgery import (
    ForceUnlockOperation,
    ImportOperation,
    MoveOperation,
    OperationKind,
    RemoveOperation,
    ReplaceProviderOperation,
    StateMigration,
)

SURGERY_DIR = "surgery"
_KIND = "StateMigration"
_FORMAT = DocumentFormat(
    models={_KIND: StateMigration},
    documents=f"one {_KIND} document",
    fields="kind, id, stack, operations, expectedPlan",
    missing_kind=f"add kind: {_KIND}",
    unknown_kind=f"a migration file holds one kind: {_KIND}",
    suggest_kind=True,
)
_OPERATION_MODELS: dict[str, type[BaseModel]] = {
    OperationKind.MV.value: MoveOperation,
    OperationKind.RM.value: RemoveOperation,
    OperationKind.IMPORT.value: ImportOperation,
    OperationKind.REPLACE_PROVIDER.value: ReplaceProviderOperation,
    OperationKind.FORCE_UNLOCK.value: ForceUnlockOperation,
}
# pydantic names the branch of a tagged union in an error's location:
# operations.0.mv.reason, expectedPlan.changes.0.address.
_OPERATION_TAG = re.compile(
    r"^(operations\.\d+)\.(" + "|".join(re.escape(t) for t in _OPERATION_MODELS) + r")(?=\.|$)"
)
_EXPECTATION_TAG = re.compile(r"^expectedPlan\.(changes|no-changes)(?=\.|$)")


@dataclass(frozen=True)
class MigrationFile:
    """A migration file as read: where, its exact text, that text's sha256, the model."""

    shown: str
    text: str
    sha256: str
    migration: StateMigration


def read_migration(
    path: Path, *, cwd: Path | None = None, stacks: Collection[str] | None = None
) -> MigrationFile:
    """The migration in ``path``, with its text; RegistryError listing every problem.

    ``path`` is relative to ``cwd`` (default: the current directory) and shown so in
    messages. ``stacks``: the registered stack names, when known; the migration's
    ``stack`` must be one of them.
    """
    cwd = (cwd or Path.cwd()).resolve()
    file = cwd / path
    shown = display_path(file, cwd)
    try:
        before = file.read_bytes()
    except OSError as exc:
        what = "file not found" if isinstance(exc, FileNotFoundError) else "cannot read"
        raise RegistryError(
            [Problem(shown, "", f"{what}: {exc.strerror or exc}; check the migration file's path")]
        ) from exc
    documents, problems = read_yaml(file, shown)
    if problems:
        raise RegistryError(problems)
    # What is hashed must be what was parsed: the same bytes before and after parsing.
    try:
        after = file.read_bytes()
    except OSError:
        after = b""
    if after != before:
        raise RegistryError([Problem(shown, "", "changed while it was read; read it again")])
    if not documents:
        raise RegistryError(
            [Problem(shown, "", f"file is empty; write one {_KIND} document or delete it")]
        )
    if len(documents) > 1:
        raise RegistryError(
            [
                Problem(
                    shown,
                    "",
                    f"holds {len(documents)} documents; write one {_KIND} per file "
                    "(one migration is reviewed and applied as a whole)",
                )
            ]
        )
    document = documents[0]
    if not isinstance(document, dict):
        raise RegistryError([Problem(shown, "", not_a_mapping(document, _FORMAT.fields))])
    migration, problems = _FORMAT.validate(document, shown)
    if migration is None:
        raise RegistryError(sorted(set(_plain(problem) for problem in problems)))
    if stacks is not None and migration.stack not in stacks:
        close = difflib.get_close_matches(migration.stack, sorted(stacks), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise RegistryError(
            [
                Problem(
                    shown,
                    "stack",
                    f"{migration.stack!r} is not a registered stack; name one in registry/{hint}",
                )
            ]
        )
    text = before.decode("utf-8")  # read_yaml has decoded it already: valid UTF-8
    return MigrationFile(shown=shown, text=text, sha256=migration_sha256(text), migration=migration)


def load_migration(
    path: Path, *, cwd: Path | None = None, stacks: Collection[str] | None = None
) -> StateMigration:
    """The migration in ``path`` (see :func:`read_migration`)."""
    return read_migration(path, cwd=cwd, stacks=stacks).migration


def _plain(problem: Problem) -> Problem:
    """``problem`` with the union tags out of its field, and the allowed fields named
    for an unknown field of an operation."""
    field = _EXPECTATION_TAG.sub("expectedPlan", problem.field)
    match = _OPERATION_TAG.match(field)
    if match is None:
        return Problem(problem.file, field, problem.message)
    field = _OPERATION_TAG.sub(r"\1", field)
    message = problem.message
    if message == "unknown field; remove it":
        model = _OPERATION_MODELS[match.group(2)]
        allowed = sorted(info.alias or name for name, info in model.model_fields.items())
        close = difflib.get_close_matches(field.rsplit(".", 1)[-1], allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        message = f"unknown field; remove it (allowed here: {', '.join(allowed)}){hint}"
    return Problem(problem.file, field, message)
