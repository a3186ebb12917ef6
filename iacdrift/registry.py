"""Load ``iacdrift.yaml`` and ``registry/*.yaml`` into a :class:`Project`.

Every problem in every file is collected and raised at once as one
:class:`~iacdrift.errors.RegistryError`, each as ``file: field: what to do``, so a
user fixes a broken registry in one pass instead of one error per run.

Checks, in order: YAML syntax and duplicate keys (PyYAML would silently keep the
last value), one mapping document per file, the pydantic models (messages
rephrased to say what to do), then across files: unique names, no two stacks on
one state object, and a ``spec.source.path`` that holds a root module.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from iacdrift.errors import Problem, RegistryError, UnknownStackError
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


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key more than once; carries (key path, line, first line)."""

    def __init__(self, duplicates: list[tuple[str, int, int]]) -> None:
        super().__init__(problem="duplicate mapping keys")
        self.duplicates = duplicates


class UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate mapping keys.

    PyYAML keeps the last of two equal keys without a word, so a second
    ``autoHeal: true`` further down would override the reviewed value unnoticed.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        duplicates = list(_duplicate_keys(node, (), set()))
        if duplicates:
            raise DuplicateKeyError(duplicates)
        return super().construct_document(node)


def _duplicate_keys(
    node: yaml.Node, path: tuple[str, ...], seen: set[int]
) -> Iterator[tuple[str, int, int]]:
    # Aliases reuse node objects (and may be recursive): visit each node once.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            # `<<` merge keys are resolved by PyYAML; explicit keys override merged ones.
            if key_node.tag != "tag:yaml.org,2002:merge":
                identity = (key_node.tag, key)
                if identity in first_line:
                    yield ".".join((*path, key)), line, first_line[identity]
                else:
                    first_line[identity] = line
            yield from _duplicate_keys(value_node, (*path, key), seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, str(index)), seen)


def _read_document(file: Path, shown: str, *, required: bool) -> tuple[Any, list[Problem]]:
    """The one mapping document of ``file``, or None with the problems found.

    An empty file is a problem when ``required``; otherwise it reads as ``{}``.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(shown, "", f"not UTF-8 text ({exc.reason}); save it as UTF-8")]
    except OSError as exc:
        return None, [Problem(shown, "", f"cannot read: {exc.strerror or exc}; check the file")]
    try:
        documents = list(yaml.load_all(text, Loader=UniqueKeyLoader))
    except DuplicateKeyError as exc:
        return None, [
            Problem(
                shown,
                key_path,
                f"duplicate key on line {line} (first on line {first}); keep only one "
                "(YAML would silently use the last)",
            )
            for key_path, line, first in exc.duplicates
        ]
    except yaml.MarkedYAMLError as exc:
        return None, [Problem(shown, "", _yaml_syntax_message(exc))]
    except yaml.YAMLError as exc:
        return None, [Problem(shown, "", f"invalid YAML: {exc}; fix the syntax")]
    except ValueError as exc:
        # PyYAML turns an impossible unquoted date (2026-13-01) into a bare ValueError.
        return None, [Problem(shown, "", f"invalid value: {exc}; fix it or quote it")]

    documents = [document for document in documents if document is not None]
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
            Problem(
                shown,
                "",
                f"the document is a {_yaml_kind(document)}, not a mapping; write "
                "`key: value` fields at the top level (apiVersion, kind, metadata, ...)",
            )
        ]
    return document, []


def _yaml_syntax_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
    what = exc.problem or exc.context or "syntax error"
    return f"YAML syntax error at {where}: {what}; fix the syntax"


def _yaml_kind(value: object) -> str:
    # Name YAML's own words, not Python's: users write YAML.
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


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


# --- pydantic errors -> problems ------------------------------------------------


def validation_problems(exc: ValidationError, model: type[BaseModel], file: str) -> list[Problem]:
    """Rephrase pydantic's errors for ``model`` as ``file: field: what to do`` problems."""
    return sorted(
        Problem(file, ".".join(str(part) for part in error["loc"]), _message(error, model))
        for error in exc.errors()
    )


def _message(error: ErrorDetails, model: type[BaseModel]) -> str:
    kind = error["type"]
    message = error["msg"]
    value = error.get("input")
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "extra_forbidden":
        owner = _model_at(model, error["loc"][:-1])
        if owner is None:
            return "unknown field; remove it"
        allowed = sorted(owner.model_fields)
        close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field; remove it (allowed here: {', '.join(allowed)}){hint}"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind in ("enum", "literal_error"):
        return f"{message} (got {_short(value)})"
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return f"{_short(value)} does not match the pattern {pattern}; change the value to match"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of fields, got a {_yaml_kind(value)}; write `key: value` pairs"
    if kind == "list_type":
        return f"expected a list, got a {_yaml_kind(value)}; write `- item` entries"
    if kind == "string_type":
        # YAML turns unquoted 1.10, yes, 2024-01-01 into numbers, booleans and dates.
        return f"expected a string, got a {_yaml_kind(value)} ({value!r}); quote the value"
    return f"{message} (got {_short(value)}); change the value"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class found by walking ``loc`` through field annotations."""
    current: object = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = get_origin(current)
        args = get_args(current)
        if origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _unwrap(annotation: object) -> object:
    """Strip Annotated[...] and Optional[...] down to the one model or type inside."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            inner = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(inner) != 1:
                return annotation
            annotation = inner[0]
        else:
            return annotation


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
