"""Loading a state migration file: the exact text kept, every problem as file: field: fix."""

from __future__ import annotations

import hashlib
from pathlib import Path
from textwrap import dedent

import pytest

from iacdrift.errors import RegistryError
from iacdrift.loaders.surgery import load_migration, read_migration
from iacdrift.models.surgery import MoveOperation

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
# a comment is part of what is bound
apiVersion: iacdrift.dev/v1
kind: StateMigration
id: rename-assets
stack: staging-app
operations:
  - op: mv
    from: module.assets.aws_s3_bucket.this
    to: module.static_assets.aws_s3_bucket.this
    reason: the module call was renamed
expectedPlan: no-changes
"""


def write(directory: Path, text: str, name: str = "m.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems(path: Path, cwd: Path, stacks: set[str] | None = None) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        load_migration(path, cwd=cwd, stacks=stacks)
    return [str(problem) for problem in caught.value.problems]


def test_a_migration_loads_with_its_exact_text(tmp_path: Path) -> None:
    write(tmp_path / "surgery", GOOD)
    loaded = read_migration(Path("surgery/m.yaml"), cwd=tmp_path, stacks={"staging-app"})
    assert loaded.shown == "surgery/m.yaml"
    assert loaded.text == GOOD
    assert loaded.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()
    move = loaded.migration.operations[0]
    assert isinstance(move, MoveOperation) and move.to == "module.static_assets.aws_s3_bucket.this"
    assert load_migration(Path("surgery/m.yaml"), cwd=tmp_path) == loaded.migration


def test_the_example_migration_loads() -> None:
    loaded = read_migration(Path("surgery/example-rename.yaml"), cwd=ROOT, stacks={"staging-app"})
    assert loaded.migration.id == "rename-assets-module"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: StateMigration\nid: [\n", "m.yaml: YAML syntax error at line 3, column 1"),
        ("", "m.yaml: file is empty; write one StateMigration document or delete it"),
        ("- a\n- b\n", "m.yaml: the document is a list, not a mapping"),
        (GOOD + "---\n" + GOOD, "m.yaml: holds 2 documents; write one StateMigration per file"),
        (
            GOOD.replace("kind: StateMigration", "kind: StateMigrations"),
            "m.yaml: kind: unknown kind 'StateMigrations'; a migration file holds one kind: "
            "StateMigration; did you mean 'StateMigration'?",
        ),
        (
            GOOD.replace("kind: StateMigration\n", ""),
            "m.yaml: kind: required field is missing; add kind: StateMigration",
        ),
        (
            GOOD.replace("stack: staging-app", "stack: staging-app\nstack: prod-app"),
            "m.yaml: stack: duplicate key on line 6 (first on line 5)",
        ),
    ],
)
def test_a_file_that_cannot_be_read_as_a_migration(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    found = problems(path, tmp_path)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_missing_file(tmp_path: Path) -> None:
    found = problems(Path("surgery/nope.yaml"), tmp_path)
    assert found == [
        "surgery/nope.yaml: file not found: No such file or directory; check the migration "
        "file's path"
    ]


def test_every_problem_of_the_operations_at_once_named_by_position(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        kind: StateMigration
        id: fix-state
        stack: staging-app
        operations:
          - op: mv
            from: module.assets.aws_s3_bucket.this
            to: module.static_assets.aws_s3_bucket.this
            reson: typo
          - op: move
            reason: x
          - addresses: [a_b.c]
            reason: x
          - op: rm
            addresses: [data.aws_ami.x]
            reason: ""
          - op: import
            to: aws_s3_bucket.logs
            id: acme-logs
        expectedPlan:
          - address: aws_s3_bucket.logs
            actions: [delete, create]
          - address: 3
            actions: [update]
        """,
    )
    assert problems(path, tmp_path) == [
        "m.yaml: expectedPlan.0: a delete and a create of one address is a replace; write replace",
        "m.yaml: expectedPlan.1.address: expected a string, got a number (3); quote the value",
        "m.yaml: operations.0.reason: required field is missing; add it",
        "m.yaml: operations.0.reson: unknown field; remove it (allowed here: from, op, "
        "reason, to); did you mean 'reason'?",
        "m.yaml: operations.1: unknown op 'move'; use one of mv, rm, import, "
        "replace-provider, force-unlock",
        "m.yaml: operations.2: op is missing; start the operation with op: one of mv, rm, "
        "import, replace-provider, force-unlock",
        "m.yaml: operations.3.addresses.0: 'data.aws_ami.x' is a data source: Terraform "
        "reads it again on every plan, so there is nothing to move, remove or import; name "
        "a managed resource",
        "m.yaml: operations.3.reason: the reason is empty; say why this operation is needed "
        "(reviewers read it)",
        "m.yaml: operations.4.reason: required field is missing; add it",
    ]


def test_the_expected_plan_word(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("no-changes", "none"))
    (found,) = problems(path, tmp_path)
    assert found.startswith("m.yaml: expectedPlan: write no-changes, or a list of entries")


def test_the_stack_must_be_registered_when_the_stacks_are_known(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("stack: staging-app", "stack: staging-ap"))
    assert problems(path, tmp_path, stacks={"staging-app", "prod-app"}) == [
        "m.yaml: stack: 'staging-ap' is not a registered stack; name one in registry/; "
        "did you mean 'staging-app'?"
    ]
    assert load_migration(path, cwd=tmp_path).stack == "staging-ap"


def test_the_error_message_is_one_line_naming_the_first_problem(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("reason: the module call was renamed", 'reason: " "'))
    with pytest.raises(RegistryError) as caught:
        load_migration(path, cwd=tmp_path)
    assert caught.value.message == (
        "m.yaml: operations.0.reason: the reason is empty; say why this operation is "
        "needed (reviewers read it)"
    )
