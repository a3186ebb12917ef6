"""Load ``iacdrift.yaml`` and ``registry/*.yaml`` into a :class:`Project`.

Every problem in every file is collected and raised at once as one
:class:`~iacdrift.errors.RegistryError`, each as ``file: field: what to do``, so a
user fixes a broken registry in one pass instead of one error per run.

Checks, in order: YAML syntax and duplicate keys (PyYAML would silently keep the
last value), one mapping document per file, the pydantic models (messages
rephrased to say what to do; see :mod:`iacdrift.loaders.documents`), then across files:
unique names, no two stacks on one state object, and a ``spec.source.path`` that
holds a root module.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from iacdrift.errors import Problem, RegistryError, UnknownStackError
from iacdrift.loaders.documents import not_a_mapping, read_yaml, validation_problems
from iacdrift.models.registry import DriftManagedUnit, Settings

SETTINGS_FILE = "iacdrift.yaml"
REGISTRY_DIR = "registry"
REGISTRY_SUFFIXES = (".yaml", ".yml")
# Terraform reads both native and JSON syntax files as a module's configuration.
ROOT_MODULE_GLOBS = ("*.tf", "*.tf.json")
_KNOWN_SHOWN = 10


@dataclass(frozen=True)
class RegisteredStack:
    """One registry entry: the validated unit, the file it came from, its directory."""

    unit: DriftManagedUnit
    file: Path
    stack_dir: Path

    @property
    def name(self) -> str:
        return self.unit.name


@dataclass(frozen=True)
class Project:
    """The settings and every registered stack, sorted by name."""

    root: Path
    settings: Settings
    settings_path: Path | None
    registry_dir: Path
    stacks: tuple[RegisteredStack, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stack.name for stack in self.stacks)

    def get(self, name: str) -> RegisteredStack:
        """The stack called ``name``; UnknownStackError with close matches otherwise."""
        for stack in self.stacks:
            if stack.name == name:
                return stack
        where = display_path(self.registry_dir, self.root) + "/"
        names = self.names
        if not names:
            known = "none"
        elif len(names) > _KNOWN_SHOWN:
            known = ", ".join(names[:_KNOWN_SHOWN]) + f", ... ({len(names) - _KNOWN_SHOWN} more)"
        else:
            known = ", ".join(names)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"add {where}{name}.yaml to register it"
        raise UnknownStackError(f"unknown stack {name!r}: not in {where} (known: {known}); {hint}")

    def resolve_path(self, path: str) -> Path:
        """A path from our files: relative ones are relative to the project root."""
        return (self.root / path).resolve()


def display_path(path: Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the current directory) when inside it."""
    base = (base or Path.cwd()).resolve()
    resolved = path.resolve()
    try:
        return resolved.relative_to(base).as_posix()
    except ValueError:
        return resolved.as_posix()


def load_project(
    config_path: Path | None = None,
    registry_dir: Path | None = None,
    cwd: Path | None = None,
) -> Project:
    """Read the settings and the registry; raise one RegistryError listing every problem.

    The settings file is ``config_path`` (must exist) or ``iacdrift.yaml`` in ``cwd``
    if present; its directory is the project root (``cwd`` without one). The registry
    is ``registry_dir`` (relative to ``cwd``) or ``<root>/registry``.
    """
    cwd = (cwd or Path.cwd()).resolve()
    problems: list[Problem] = []

    settings_path: Path | None
    if config_path is not None:
        explicit = (cwd / config_path).resolve()
        if not explicit.exists():
            raise RegistryError(
                [
                    Problem(
                        display_path(explicit, cwd),
                        "",
                        "settings file not found; create it, or leave out --config "
                        "(IACDRIFT_CONFIG) to use iacdrift.yaml in the current directory",
                    )
                ]
            )
        settings_path = explicit
    else:
        default = cwd / SETTINGS_FILE
        settings_path = default if default.is_file() else None

    settings = Settings()
    root = cwd
    if settings_path is not None:
        root = settings_path.parent
        loaded, settings_problems = _load_settings(settings_path, display_path(settings_path, cwd))
        problems.extend(settings_problems)
        settings = loaded or settings

    registry = (cwd / registry_dir).resolve() if registry_dir is not None else root / REGISTRY_DIR
    if not registry.is_dir():
        pointer = "point --registry (IACDRIFT_REGISTRY) at the registry directory"
        message = (
            f"is not a directory; {pointer}"
            if registry.exists()
            else f"registry directory not found; create it with one <stack-name>.yaml "
            f"per stack, or {pointer}"
        )
        problems.append(Problem(display_path(registry, cwd), "", message))
        raise RegistryError(problems)

    stacks: list[RegisteredStack] = []
    for file in registry_files(registry):
        shown = display_path(file, cwd)
        document, file_problems = _read_document(file, shown, required=True)
        problems.extend(file_problems)
        if document is None:
            continue
        try:
            unit = DriftManagedUnit.model_validate(document)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, DriftManagedUnit, shown))
            continue
        stack_dir = (root / unit.spec.source.path).resolve()
        stacks.append(RegisteredStack(unit=unit, file=file, stack_dir=stack_dir))

    problems.extend(_cross_file_problems(stacks, cwd))
    if problems:
        raise RegistryError(problems)
    return Project(
        root=root,
        settings=settings,
        settings_path=settings_path,
        registry_dir=registry,
        stacks=tuple(sorted(stacks, key=lambda stack: stack.name)),
    )


def registry_files(directory: Path) -> list[Path]:
    """The registry files of ``directory``: ``*.yaml`` and ``*.yml``, not recursive, sorted."""
    return sorted(
        path for path in directory.iterdir() if path.suffix in REGISTRY_SUFFIXES and path.is_file()
    )


# --- YAML -------------------------------------------------------------------------


def _read_document(file: Path, shown: str, *, required: bool) -> tuple[Any, list[Problem]]:
    """The one mapping document of ``file``, or None with the problems found.

    An empty file is a problem when ``required``; otherwise it reads as ``{}``.
    """
    # PyYAML turns an impossible unquoted date (2026-13-01) into a bare ValueError.
    documents, problems = read_yaml(file, shown, bad_value="invalid value: {}; fix it or quote it")
    if problems:
        return None, problems
    if not documents:
        if not required:
            return {}, []
        return None, [
            Problem(shown, "", "file is empty; write one DriftManagedUnit or delete the file")
        ]
    if len(documents) > 1:
        return None, [
            Problem(
                shown,
                "",
                f"holds {len(documents)} YAML documents; keep one per file "
                "(split them into one file per stack)",
            )
        ]
    document = documents[0]
    if not isinstance(document, dict):
        return None, [
            Problem(shown, "", not_a_mapping(document, "apiVersion, kind, metadata, ..."))
        ]
    return document, []


def _load_settings(path: Path, shown: str) -> tuple[Settings | None, list[Problem]]:
    # Every settings field has a default, so an empty iacdrift.yaml is valid: it marks
    # the project root.
    document, problems = _read_document(path, shown, required=False)
    if document is None:
        return None, problems
    try:
        return Settings.model_validate(document), []
    except ValidationError as exc:
        return None, validation_problems(exc, Settings, shown)


# --- across files ---------------------------------------------------------------


def _cross_file_problems(stacks: list[RegisteredStack], cwd: Path) -> list[Problem]:
    problems: list[Problem] = []
    by_name: dict[str, RegisteredStack] = {}
    by_state: dict[tuple[str, str], RegisteredStack] = {}
    for stack in stacks:
        shown = display_path(stack.file, cwd)
        first = by_name.setdefault(stack.name, stack)
        if first is not stack:
            problems.append(
                Problem(
                    shown,
                    "metadata.name",
                    f"duplicate name {stack.name!r} (also in {display_path(first.file, cwd)}); "
                    "names must be unique",
                )
            )
        state = stack.unit.spec.state
        owner = by_state.setdefault((state.bucket, state.key), stack)
        if owner is not stack:
            problems.append(
                Problem(
                    shown,
                    "spec.state.key",
                    f"state {state.uri} is also used by {owner.name!r} "
                    f"({display_path(owner.file, cwd)}); two stacks must never share a state",
                )
            )
        problems.extend(_source_problems(stack, shown, cwd))
    return problems


def _source_problems(stack: RegisteredStack, shown: str, cwd: Path) -> list[Problem]:
    directory = stack.stack_dir
    where = display_path(directory, cwd)
    fix = "point source.path at the stack's root module (relative to the project root)"
    if not directory.exists():
        return [Problem(shown, "spec.source.path", f"{where} does not exist; {fix}")]
    if not directory.is_dir():
        return [Problem(shown, "spec.source.path", f"{where} is not a directory; {fix}")]
    if not any(path.is_file() for pattern in ROOT_MODULE_GLOBS for path in directory.glob(pattern)):
        return [
            Problem(
                shown,
                "spec.source.path",
                f"no *.tf files in {where}: point source.path at the stack's root module",
            )
        ]
    return []
