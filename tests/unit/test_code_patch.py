"""UPDATE_CODE patches: the HCL says the accepted runtime value, edited as text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iacdrift.core.reconcile.patch import CodePatch, apply_unified_diff, patch_code, unified_diff
from iacdrift.engine.workspace import stack_files
from iacdrift.loaders.hcl_outline import outline
from iacdrift.models.finding import ChangedField

STACKS = Path(__file__).resolve().parents[2] / "stacks"
LEDGER = 'module.bucket["ledger"].aws_s3_bucket.this'
MARKER = "(sensitive:0123456789abcdef)"

ROOT_RESOURCE = """\
resource "aws_s3_bucket" "logs" {
  bucket = "logs"
  tags = {
    Name         = "logs"
    "data-class" = "internal" # reviewed in CHG-7
  }
}
"""

MODULE = """\
variable "data_class" {
  type = string
}

resource "aws_s3_bucket" "this" {
  bucket = "b"
  tags = {
    managed-by = "iacdrift"
    data-class = var.data_class
  }
}
"""

CALLER = """\
locals {
  buckets = {
    ledger   = { data_class = "confidential", versioning = true }
    receipts = { data_class = "confidential", versioning = false }
  }
}

module "bucket" {
  source     = "../modules/tagged-bucket"
  for_each   = local.buckets
  data_class = each.value.data_class
}
"""


def field(pointer: str, before: object, after: object, **extra: object) -> ChangedField:
    return ChangedField.model_validate(
        {"pointer": pointer, "before": before, "after": after, **extra}
    )


def patch(
    files: dict[str, str],
    address: str,
    *fields: ChangedField,
    root: str = "stack",
    shared: tuple[str, ...] = (),
) -> CodePatch:
    return patch_code(
        files, outline(files), root=root, address=address, fields=fields, shared_files=shared
    )


def apply(files: dict[str, str], result: CodePatch) -> dict[str, str]:
    """The files with the patch's edits made (by line, as a reader of the diff would)."""
    out = dict(files)
    for edit in result.edits:
        lines = out[edit.file].splitlines(keepends=True)
        assert lines[edit.line - 1].count(edit.old) == 1
        lines[edit.line - 1] = lines[edit.line - 1].replace(edit.old, edit.new)
        out[edit.file] = "".join(lines)
    return out


def test_the_real_ledger_tag_is_patched_in_the_locals_entry_of_its_instance_key() -> None:
    files = {p: b.decode() for p, b in stack_files(STACKS / "prod-payments").items()}
    result = patch(
        files,
        LEDGER,
        field("/tags/data-class", "confidential", "restricted"),
        field("/tags_all/data-class", "confidential", "restricted"),
        root="prod-payments",
        shared=("prod-payments/provider.tf",),
    )
    assert result.why is None
    assert [(e.file, e.line, e.old, e.new, e.rule) for e in result.edits] == [
        ("prod-payments/main.tf", 21, '"confidential"', '"restricted"', "instance locals")
    ]
    removed = [line for line in result.diff.splitlines() if line.startswith("-")]
    added = [line for line in result.diff.splitlines() if line.startswith("+")]
    assert removed == [
        "--- a/prod-payments/main.tf",
        '-    ledger   = { data_class = "confidential", versioning = true }',
    ]
    assert added == [
        "+++ b/prod-payments/main.tf",
        '+    ledger   = { data_class = "restricted", versioning = true }',
    ]
    assert result.notes and "may feed other addresses" in result.notes[0]


def test_a_root_resource_with_an_inline_tag_literal_is_patched_in_place() -> None:
    files = {"stack/main.tf": ROOT_RESOURCE}
    result = patch(files, "aws_s3_bucket.logs", field("/tags/data-class", "internal", "public"))
    assert result.why is None
    assert result.diff == (
        "--- a/stack/main.tf\n"
        "+++ b/stack/main.tf\n"
        "@@ -2,6 +2,6 @@\n"
        '   bucket = "logs"\n'
        "   tags = {\n"
        '     Name         = "logs"\n'
        '-    "data-class" = "internal" # reviewed in CHG-7\n'
        '+    "data-class" = "public" # reviewed in CHG-7\n'
        "   }\n"
        " }\n"
    )
    assert result.edits[0].rule == "direct" and not result.notes


def test_several_fields_make_one_diff_and_strings_are_quoted_as_hcl() -> None:
    files = {"stack/main.tf": ROOT_RESOURCE}
    result = patch(
        files,
        "aws_s3_bucket.logs",
        field("/tags/Name", "logs", 'logs "${x}"'),
        field("/tags/data-class", "internal", "public"),
    )
    assert result.why is None
    assert [e.pointer for e in result.edits] == ["/tags/Name", "/tags/data-class"]
    patched = apply(files, result)["stack/main.tf"]
    assert '    Name         = "logs \\"$${x}\\""\n' in patched
    assert outline({"stack/main.tf": patched}).problems == ()


def test_a_value_only_in_a_shared_module_is_refused_naming_where_it_is() -> None:
    files = {"modules/tagged-bucket/main.tf": MODULE, "prod/main.tf": CALLER}
    result = patch(files, LEDGER, field("/tags/managed-by", "iacdrift", "hand"), root="prod")
    assert result.refused and not result.diff
    assert "modules/tagged-bucket/main.tf:8" in (result.why or "")
    assert "other" in (result.why or "") and "by hand" in (result.why or "")


def test_a_shared_file_of_the_root_directory_is_never_edited() -> None:
    files = {
        "stack/main.tf": (
            'resource "aws_instance" "web" {\n  instance_type = var.instance_type\n}\n'
        ),
        "stack/provider.tf": 'variable "instance_type" {\n  default = "t3.micro"\n}\n',
    }
    size = field("/instance_type", "t3.micro", "t3.large")
    assert patch(files, "aws_instance.web", size).edits[0].file == "stack/provider.tf"
    refused = patch(files, "aws_instance.web", size, shared=("stack/provider.tf",))
    assert refused.refused and "stack/provider.tf:2" in (refused.why or "")


def test_the_instance_key_breaks_a_tie_between_locals_entries() -> None:
    files = {"modules/tagged-bucket/main.tf": MODULE, "prod/main.tf": CALLER}
    result = patch(
        files, LEDGER, field("/tags/data-class", "confidential", "restricted"), root="prod"
    )
    assert [(e.line, e.rule) for e in result.edits] == [(3, "instance locals")]


def test_equally_good_candidates_are_refused_naming_them() -> None:
    files = {
        "stack/main.tf": (
            'resource "aws_s3_bucket" "x" {\n'
            "  tags = { data-class = var.data_class }\n"
            "}\n"
            'variable "data_class" {\n'
            '  default = "confidential"\n'
            "}\n"
            "locals {\n"
            '  data_class = "confidential"\n'
            "}\n"
        )
    }
    result = patch(files, "aws_s3_bucket.x", field("/tags/data-class", "confidential", "x"))
    assert result.refused
    assert "stack/main.tf:5, stack/main.tf:8" in (result.why or "")


def test_a_literal_in_another_resource_is_not_taken() -> None:
    files = {
        "stack/main.tf": (
            'resource "aws_s3_bucket" "x" {\n'
            "  tags = { data-class = var.data_class }\n"
            "}\n"
            'resource "aws_s3_bucket" "y" {\n'
            '  tags = { data-class = "confidential" }\n'
            "}\n"
        )
    }
    result = patch(files, "aws_s3_bucket.x", field("/tags/data-class", "confidential", "x"))
    assert result.refused and "blocks of something else (stack/main.tf:5)" in (result.why or "")


def test_sensitive_values_are_never_written() -> None:
    files = {"stack/main.tf": ROOT_RESOURCE}
    flagged = field("/tags/data-class", "internal", "public", sensitive=True)
    marked = field("/tags/data-class", "internal", MARKER)
    for changed in (flagged, marked):
        result = patch(files, "aws_s3_bucket.logs", changed)
        assert result.refused and "sensitive" in (result.why or "")
        assert MARKER not in result.diff


def test_one_refused_field_refuses_the_whole_patch_naming_it() -> None:
    files = {"stack/main.tf": ROOT_RESOURCE}
    result = patch(
        files,
        "aws_s3_bucket.logs",
        field("/tags/data-class", "internal", "public"),
        field("/tags/owner", None, "team-a"),
    )
    assert result.refused and not result.edits and not result.diff
    assert "1 field(s) refused: /tags/owner: before is null" in (result.why or "")


def test_the_code_disagreeing_with_the_finding_is_refused() -> None:
    files = {"stack/main.tf": ROOT_RESOURCE}
    result = patch(files, "aws_s3_bucket.logs", field("/tags/data-class", "secret", "public"))
    assert result.refused and 'says "internal" at stack/main.tf:5' in (result.why or "")


def test_types_are_not_confused_and_numbers_and_bools_are_patched() -> None:
    files = {
        "stack/main.tf": (
            'resource "aws_sqs_queue" "q" {\n'
            "  delay_seconds = 5\n"
            "  fifo_queue    = false\n"
            '  name          = "5"\n'
            "}"  # no final newline
        )
    }
    result = patch(
        files,
        "aws_sqs_queue.q",
        field("/delay_seconds", 5, 10),
        field("/fifo_queue", False, True),
    )
    assert result.why is None
    assert "+  delay_seconds = 10\n" in result.diff and "+  fifo_queue    = true\n" in result.diff
    assert result.diff.endswith("\\ No newline at end of file\n")
    refused = patch(files, "aws_sqs_queue.q", field("/name", 5, 6))
    assert refused.refused


def test_unparseable_root_files_and_bad_addresses_are_refused() -> None:
    broken = {"stack/main.tf": 'resource "a" "b" {\n'}
    assert "does not parse" in (patch(broken, "a.b", field("/x", "1", "2")).why or "")
    files = {"stack/main.tf": ROOT_RESOURCE}
    assert patch(files, "data.aws_s3_bucket.logs", field("/x", "1", "2")).refused
    assert patch(files, "aws_s3_bucket.logs").refused  # no fields
    missing = patch(files, "aws_s3_bucket.other", field("/tags/x", "1", "2"))
    assert missing.refused and 'no resource "aws_s3_bucket" "other"' in (missing.why or "")


def test_the_outline_reads_literals_and_keeps_expressions_apart() -> None:
    text = (
        "locals {\n"
        '  a = "q\\"uote"\n'
        '  b = "t-${var.x}"\n'
        "  c = -3\n"
        '  d = merge(var.m, { k = "v" })\n'
        "}\n"
    )
    read = outline({"s/main.tf": text, "s/README.md": "# not HCL"})
    found = {v.path: (v.value, v.text) for v in read.values}
    assert found[("locals", "a")] == ('q"uote', '"q\\"uote"')
    assert found[("locals", "b")] == (None, '"t-${var.x}"')
    assert found[("locals", "c")] == (-3, "-3")
    assert found[("locals", "d", "k")] == ("v", '"v"')
    assert [b.path for b in read.blocks] == [("locals",)]


# --- apply_unified_diff: what `repair apply --write-code` does with the plan's patch ---

_LINES = st.lists(st.sampled_from(["a", "b", "x = 1", 'y = "z"', "", "}"]), max_size=30)


@given(old=_LINES, new=_LINES, old_nl=st.booleans(), new_nl=st.booleans())
def test_a_diff_applied_gives_the_new_text(
    old: list[str], new: list[str], old_nl: bool, new_nl: bool
) -> None:
    before = "\n".join(old) + ("\n" if old_nl and old else "")
    after = "\n".join(new) + ("\n" if new_nl and new else "")
    diff = unified_diff("s/main.tf", before, after)
    changed = apply_unified_diff({"s/main.tf": before}, diff)
    assert changed.get("s/main.tf", before) == after


def test_a_diff_that_no_longer_matches_is_refused() -> None:
    diff = unified_diff("s/main.tf", "a\nb\n", "a\nc\n")
    with pytest.raises(ValueError, match=r"s/main.tf:2: the file does not say"):
        apply_unified_diff({"s/main.tf": "a\nq\n"}, diff)
    with pytest.raises(ValueError, match="not among the stack's files"):
        apply_unified_diff({}, diff)


def test_a_diff_of_two_files_applies_both() -> None:
    files = {"s/a.tf": "x = 1\ny = 2\n", "s/b.tf": "p = 1\nq = 2\n"}
    diff = unified_diff("s/a.tf", files["s/a.tf"], "x = 1\ny = 3\n") + unified_diff(
        "s/b.tf", files["s/b.tf"], "p = 0\nq = 2\n"
    )
    assert apply_unified_diff(files, diff) == {
        "s/a.tf": "x = 1\ny = 3\n",
        "s/b.tf": "p = 0\nq = 2\n",
    }
