"""Read the settings and the registry: `iacdrift registry validate | list`, and
:func:`open_project` for the commands that only need the project (plan, sandbox)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iacdrift.loaders.registry import Project, display_path, load_project
from iacdrift.models.registry import DriftManagedUnit


@dataclass(frozen=True)
class RegistryView:
    """The registered stacks, sorted by name, with the files they came from."""

    directory: str  # the registry directory, as shown to the user
    units: tuple[DriftManagedUnit, ...]
    files: tuple[str, ...]  # each unit's file, as shown to the user

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
    )
