"""Reading our YAML files: every problem as ``file: field: what to do``, documents named
``file (document N)``, the model picked by ``kind``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from iacdrift.errors import Problem
from iacdrift.loaders.documents import DocumentFormat, not_a_mapping, read_yaml, validation_problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Apple(_Strict):
    kind: Literal["Apple"]
    id: str
    weight: int


class Pear(_Strict):
    kind: Literal["Pear"]
    id: str


FRUIT = DocumentFormat[Apple | Pear](
    models={"Apple": Apple, "Pear": Pear},
    documents="fruit documents (kind: Apple, Pear)",
    fields="kind, id, ...",
    missing_kind="add one of: Apple, Pear",
    unknown_kind="use one of: Apple, Pear",
    suggest_kind=True,
)
APPLES = DocumentFormat(
    models={"Apple": Apple},
    documents="Apple documents",
    fields="kind, id, weight",
    missing_kind="add kind: Apple",
    unknown_kind="an orchard holds only kind: Apple",
)


def write(tmp_path: Path, text: str | bytes, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def messages(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


# --- read_yaml --------------------------------------------------------------------


def test_documents_without_the_null_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "---\na: 1\n---\n---\n- x\n")
    assert read_yaml(path, "f.yaml") == ([{"a": 1}, ["x"]], [])
    assert read_yaml(write(tmp_path, "", "empty.yaml"), "empty.yaml") == ([], [])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "a: 1\nb:\n  c: 2\n  c: 3\n",
            [
                "f.yaml: b.c: duplicate key on line 4 (first on line 3); keep only one "
                "(YAML would silently use the last)"
            ],
        ),
        (
            "a: [1, 2\n",
            [
                "f.yaml: YAML syntax error at line 2, column 1: expected ',' or ']', but got "
                "'<stream end>'; fix the syntax"
            ],
        ),
        (b"a: \xff\xfe\n", ["f.yaml: not UTF-8 text (invalid start byte); save it as UTF-8"]),
        (
            "when: 2026-13-01\n",
            ["f.yaml: YAML cannot read a value (month must be in 1..12); fix the date or quote it"],
        ),
    ],
    ids=["duplicate-key", "syntax", "not-utf8", "bad-date"],
)
def test_unreadable_files_are_problems_not_exceptions(
    tmp_path: Path, content: str | bytes, expected: list[str]
) -> None:
    documents, problems = read_yaml(write(tmp_path, content), "f.yaml")
    assert documents == []
    assert messages(problems) == expected


def test_the_bad_value_message_is_the_callers(tmp_path: Path) -> None:
    path = write(tmp_path, "when: 2026-13-01\n")
    _, problems = read_yaml(path, "x.yaml", bad_value="invalid value: {}; fix it or quote it")
    assert messages(problems) == [
        "x.yaml: invalid value: month must be in 1..12; fix it or quote it"
    ]


def test_a_missing_file_cannot_be_read(tmp_path: Path) -> None:
    _, problems = read_yaml(tmp_path / "gone.yaml", "gone.yaml")
    assert messages(problems) == [
        "gone.yaml: cannot read: No such file or directory; check the file"
    ]


def test_not_a_mapping_says_what_it_is_in_yaml_words() -> None:
    assert not_a_mapping(["a"], "kind, id") == (
        "the document is a list, not a mapping; write `key: value` fields at the top level "
        "(kind, id)"
    )
    assert "is a string," in not_a_mapping("text", "x")
    assert "is a boolean," in not_a_mapping(True, "x")
    assert "is a number," in not_a_mapping(1.5, "x")


# --- DocumentFormat -------------------------------------------------------------


def test_one_document_is_named_by_its_file(tmp_path: Path) -> None:
    loaded, problems = FRUIT.load(write(tmp_path, "kind: Apple\nid: a\nweight: 3\n"), "f.yaml")
    assert problems == []
    assert [(item.position, item.where, item.model) for item in loaded] == [
        (1, "f.yaml", Apple(kind="Apple", id="a", weight=3))
    ]


def test_several_documents_are_numbered_and_every_problem_is_kept(tmp_path: Path) -> None:
    text = "\n---\n".join(
        [
            "kind: Pear\nid: p",
            "- not a mapping",
            "id: no-kind",
            "kind: Aple\nid: typo",
            "kind: Apple\nid: a\nweight: heavy\ncolour: red",
            "kind: Apple\nid: b\nweight: 1",
        ]
    )
    loaded, problems = FRUIT.load(write(tmp_path, text), "f.yaml")
    assert [(item.position, item.where, item.model.id) for item in loaded] == [
        (1, "f.yaml (document 1)", "p"),
        (6, "f.yaml (document 6)", "b"),
    ]
    assert messages(problems) == [
        "f.yaml (document 2): the document is a list, not a mapping; write `key: value` "
        "fields at the top level (kind, id, ...)",
        "f.yaml (document 3): kind: required field is missing; add one of: Apple, Pear",
        "f.yaml (document 4): kind: unknown kind 'Aple'; use one of: Apple, Pear; "
        "did you mean 'Apple'?",
        "f.yaml (document 5): colour: unknown field; remove it (allowed here: id, kind, weight)",
        "f.yaml (document 5): weight: Input should be a valid integer, unable to parse "
        "string as an integer (got 'heavy'); change the value",
    ]


def test_a_format_without_suggestions_names_only_its_kind(tmp_path: Path) -> None:
    _, problems = APPLES.load(write(tmp_path, "kind: Apples\nid: a\n"), "f.yaml")
    assert messages(problems) == [
        "f.yaml: kind: unknown kind 'Apples'; an orchard holds only kind: Apple"
    ]
    _, problems = APPLES.load(write(tmp_path, "kind: [Apple]\nid: a\n"), "f.yaml")
    assert messages(problems) == [
        "f.yaml: kind: unknown kind ['Apple']; an orchard holds only kind: Apple"
    ]


def test_an_empty_file_says_what_to_write(tmp_path: Path) -> None:
    _, problems = APPLES.load(write(tmp_path, "# nothing\n---\n"), "f.yaml")
    assert messages(problems) == ["f.yaml: file is empty; write Apple documents or delete it"]


def test_read_problems_stop_before_any_document(tmp_path: Path) -> None:
    loaded, problems = APPLES.load(write(tmp_path, "kind: Apple\nkind: Apple\n"), "f.yaml")
    assert loaded == []
    assert [problem.field for problem in problems] == ["kind"]


# --- validation_problems ----------------------------------------------------------


class Inner(_Strict):
    name: str


class Outer(_Strict):
    inner: Inner | None = None
    items: list[Inner] = []


def test_validation_problems_name_the_nested_model_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"inner": {"nme": "x"}, "items": "one"})
    assert messages(validation_problems(caught.value, Outer, "o.yaml")) == [
        "o.yaml: inner.name: required field is missing; add it",
        "o.yaml: inner.nme: unknown field; remove it (allowed here: name); did you mean 'name'?",
        "o.yaml: items: expected a list, got a string; write `- item` entries",
    ]
