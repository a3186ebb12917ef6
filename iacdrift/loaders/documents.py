"""Our YAML files read into pydantic models, every problem said as ``file: field: what to do``.

The layers, each used on its own where a format needs only part of it:

* :func:`read_yaml`: a file's text and its YAML documents (null ones dropped), or
  the problems: not UTF-8, unreadable, a syntax error, a duplicate key (PyYAML
  would silently keep the last value, see :class:`UniqueKeyLoader`).
* :class:`DocumentFormat`: a file of one or more ``kind:`` documents (policies,
  change records): each must be a mapping, is named ``file (document N)`` when the
  file holds several, and is validated by the model its ``kind`` picks.
* :func:`validation_problems`: pydantic's errors rephrased to say what to do.

Problems are collected, never raised, so a caller can report every one at once.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from iacdrift.errors import Problem

M = TypeVar("M", bound=BaseModel)

# PyYAML reads an unquoted 2026-13-01 as a timestamp and fails without a mark.
BAD_VALUE = "YAML cannot read a value ({}); fix the date or quote it"


# --- reading ------------------------------------------------------------------------


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


def read_yaml(
    file: Path, shown: str, *, bad_value: str = BAD_VALUE
) -> tuple[list[Any], list[Problem]]:
    """The non-null YAML documents of ``file``, or no documents and the problems.

    ``shown`` is the file as messages name it; ``bad_value`` says what to do about a
    value PyYAML cannot construct (``{}`` is replaced by its error).
    """
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [Problem(shown, "", f"not UTF-8 text ({exc.reason}); save it as UTF-8")]
    except OSError as exc:
        return [], [Problem(shown, "", f"cannot read: {exc.strerror or exc}; check the file")]
    try:
        documents = list(yaml.load_all(text, Loader=UniqueKeyLoader))
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
        return [], [Problem(shown, "", _syntax_message(exc))]
    except yaml.YAMLError as exc:
        return [], [Problem(shown, "", f"invalid YAML: {exc}; fix the syntax")]
    except ValueError as exc:
        return [], [Problem(shown, "", bad_value.format(exc))]
    return [document for document in documents if document is not None], []


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
    what = exc.problem or exc.context or "syntax error"
    return f"YAML syntax error at {where}: {what}; fix the syntax"


def yaml_kind(value: object) -> str:
    """What ``value`` is in YAML's own words, not Python's: users write YAML."""
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def not_a_mapping(document: object, fields: str) -> str:
    """The problem of a document that is not a mapping; ``fields`` names some it should hold."""
    return (
        f"the document is a {yaml_kind(document)}, not a mapping; write `key: value` "
        f"fields at the top level ({fields})"
    )


# --- files of kind: documents -----------------------------------------------------


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """One valid document of a file."""

    position: int  # 1-based, among the file's non-null documents
    where: str  # the file as shown, with " (document N)" when it holds several
    model: M


@dataclass(frozen=True)
class DocumentFormat(Generic[M]):
    """Files holding one or more documents, each validated by the model its ``kind`` picks.

    The strings complete this format's messages.
    """

    models: Mapping[str, type[M]]  # kind -> model
    documents: str  # "file is empty; write <documents> or delete it"
    fields: str  # top-level fields named when a document is not a mapping
    missing_kind: str  # "kind: required field is missing; <missing_kind>"
    unknown_kind: str  # "kind: unknown kind 'X'; <unknown_kind>"
    suggest_kind: bool = False  # add "; did you mean 'Y'?" for a close kind

    def load(self, file: Path, shown: str) -> tuple[list[Loaded[M]], list[Problem]]:
        """The valid documents of ``file`` in file order, and the problems of the others."""
        present, problems = read_yaml(file, shown)
        if problems:
            return [], problems
        if not present:
            return [], [Problem(shown, "", f"file is empty; write {self.documents} or delete it")]
        mappings: list[tuple[int, str, dict[str, Any]]] = []
        for position, document in enumerate(present, start=1):
            where = shown if len(present) == 1 else f"{shown} (document {position})"
            if isinstance(document, dict):
                mappings.append((position, where, document))
            else:
                problems.append(Problem(where, "", not_a_mapping(document, self.fields)))
        loaded: list[Loaded[M]] = []
        for position, where, document in mappings:
            model, document_problems = self.validate(document, where)
            problems.extend(document_problems)
            if model is not None:
                loaded.append(Loaded(position, where, model))
        return loaded, problems

    def validate(self, document: Mapping[str, Any], where: str) -> tuple[M | None, list[Problem]]:
        """The model ``document``'s kind picks, validated; or None and the problems."""
        kind = document.get("kind")
        if kind is None:
            return None, [Problem(where, "kind", f"required field is missing; {self.missing_kind}")]
        if not isinstance(kind, str) or kind not in self.models:
            close = (
                difflib.get_close_matches(str(kind), list(self.models), n=1)
                if self.suggest_kind
                else []
            )
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return None, [
                Problem(where, "kind", f"unknown kind {kind!r}; {self.unknown_kind}{hint}")
            ]
        model = self.models[kind]
        try:
            return model.model_validate(document), []
        except ValidationError as exc:
            return None, validation_problems(exc, model, where)


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
        return f"expected a mapping of fields, got a {yaml_kind(value)}; write `key: value` pairs"
    if kind == "list_type":
        return f"expected a list, got a {yaml_kind(value)}; write `- item` entries"
    if kind == "string_type":
        # YAML turns unquoted 1.10, yes, 2024-01-01 into numbers, booleans and dates.
        return f"expected a string, got a {yaml_kind(value)} ({value!r}); quote the value"
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
