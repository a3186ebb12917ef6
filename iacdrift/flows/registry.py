"""Read the settings and the registry: `iacdrift registry validate | list`,
:func:`open_project` for the commands that only need the project (plan, sandbox), and
:func:`require_stacks` for those that have nothing to say without a registered stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iacdrift.errors import InputError
from iacdrift.loaders.registry import Project, display_path, load_project
from iacdrift.models.registry import DriftManagedUnit


@dataclass(frozen=True)
class RegistryView:
    """The registered stacks, sorted by name, with the files they came from."""

    directory: str  # the registry directory, as shown to the user
    units: tuple[DriftManagedUnit, ...]
    files: tuple[str, ...]  # each unit's file, as shown to the user
    warning: str | None = None  # valid, but nothing to check (no stack registered)

    @property
    def count(self) -> int:
        return len(self.units)


def open_project(config_path: Path | None, registry_dir: Path | None) -> Project:
    """The settings (``config_path``, else iacdrift.yaml here if present) and the registry
    (``registry_dir``, else registry/ beside the settings); one RegistryError listing
    every problem otherwise."""
    return load_project(config_path, registry_dir)


def read_registry(config_path: Path | None, registry_dir: Path | None) -> RegistryView:
    """Every registered stack; one RegistryError listing every problem otherwise."""
    project = open_project(config_path, registry_dir)
    return RegistryView(
        directory=display_path(project.registry_dir),
        units=tuple(stack.unit for stack in project.stacks),
        files=tuple(display_path(stack.file) for stack in project.stacks),
        warning=None if project.stacks else no_stacks_message(project),
    )


def no_stacks_message(project: Project) -> str:
    """Why an empty registry is not an answer, and how to register a stack (one line)."""
    where = display_path(project.registry_dir)
    return (
        f"no stacks are registered in {where}/ (nothing checked is not a clean estate): "
        f"register one with a file per stack, e.g. {where}/prod-network.yaml with kind: "
        "DriftManagedUnit (schemas/drift-managed-unit.schema.json), and check it with "
        "`iacdrift registry validate`"
    )


def require_stacks(project: Project) -> None:
    """InputError (exit 1) when no stack is registered: `run` and `status` have no
    answer to give, and an empty answer must not read as "all clean"."""
    if not project.stacks:
        raise InputError(no_stacks_message(project))
