"""Where a stack's resources are written (iacdrift.loaders.resource_lines), on the
example project's real stacks and on small stacks written here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iacdrift.loaders.resource_lines import ResourceLocation, location_for, resource_locations

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"


def test_legacy_storage_resources_on_their_lines() -> None:
    table = resource_locations(STACKS / "legacy-storage", ROOT)
    main = "stacks/legacy-storage/main.tf"
    assert table == {
        "aws_s3_bucket.archive": ResourceLocation(main, 22),
        "aws_iam_role.archiver": ResourceLocation(main, 33),
        "aws_iam_role_policy.archive_write": ResourceLocation(main, 47),
        "aws_security_group.archive": ResourceLocation(main, 60),
    }
    # provider.tf links to ../shared/aws-provider.tf: it declares no resource here.
    assert location_for("aws_s3_bucket.archive", table) == ResourceLocation(main, 22)


def test_staging_app_module_calls_stand_for_their_resources() -> None:
    table = resource_locations(STACKS / "staging-app", ROOT)
    main = "stacks/staging-app/main.tf"
    assert table == {
        "module.assets": ResourceLocation(main, 20),
        "module.app_sg": ResourceLocation(main, 29),
    }
    assert location_for("module.assets.aws_s3_bucket.this", table) == ResourceLocation(main, 20)
    assert location_for("module.app_sg.aws_security_group.this[0]", table) == ResourceLocation(
        main, 29
    )
    assert location_for("module.missing.aws_s3_bucket.this", table) is None


def test_instance_keys_and_data_sources() -> None:
    table = resource_locations(STACKS / "prod-payments", ROOT)
    main = "stacks/prod-payments/main.tf"
    assert location_for('module.bucket["x.y"].aws_s3_bucket.this', table) == ResourceLocation(
        main, 26
    )
    assert location_for(
        "data.aws_secretsmanager_secret_version.ledger_db_password", table
    ) == ResourceLocation(main, 52)
    assert location_for("aws_secretsmanager_secret_version.ledger_dsn", table) == (
        ResourceLocation(main, 63)
    )
    # An unmanaged resource's ref and a resource gone from the code: no place.
    assert location_for("aws_s3_bucket:shadow-exports", table) is None
    assert location_for("aws_s3_bucket.gone", table) is None


_BLOCK = re.compile(r'^(resource|data)\s+"([^"]+)"\s+"([^"]+)"|^module\s+"([^"]+)"')


@pytest.mark.parametrize(
    "stack", sorted(p.name for p in STACKS.iterdir() if list(p.glob("*.tf"))), ids=str
)
def test_every_stack_agrees_with_a_plain_reading_of_its_files(stack: str) -> None:
    """Every top-level block a line-by-line reading finds (the example stacks start
    their blocks in column 0) is in the table, on that line, and nothing else is."""
    expected: dict[str, ResourceLocation] = {}
    for path in sorted((STACKS / stack).glob("*.tf")):
        file = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = _BLOCK.match(line)
            if match is None:
                continue
            kind, type_name, name, module = match.groups()
            if module is not None:
                address = f"module.{module}"
            else:
                address = f"{'data.' if kind == 'data' else ''}{type_name}.{name}"
            expected.setdefault(address, ResourceLocation(file, number))
    assert resource_locations(STACKS / stack, ROOT) == expected


def _write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")


def test_nested_blocks_overrides_and_broken_files(tmp_path: Path) -> None:
    stack = tmp_path / "stacks" / "demo"
    _write(
        stack,
        "a.tf",
        'resource "aws_s3_bucket" "logs" {\n'
        '  bucket = "x"\n'
        '  dynamic "resource" {\n'
        '    for_each = ["a"]\n'
        "    content {}\n"
        "  }\n"
        "}\n"
        "\n"
        'module "net" {\n'
        '  source = "./modules/net"\n'
        "}\n",
    )
    _write(stack, "b_override.tf", 'resource "aws_s3_bucket" "logs" {\n  bucket = "y"\n}\n')
    _write(stack, "c.tf", '\n\nresource "aws_iam_role" "r" {\n  name = "r"\n}\n')
    _write(stack, "broken.tf", 'resource "aws_iam_role" "broken" {\n')
    _write(stack, "notes.txt", 'resource "aws_iam_role" "not_hcl" {}\n')
    _write(stack / "modules" / "net", "main.tf", 'resource "aws_vpc" "this" {}\n')
    table = resource_locations(stack, tmp_path)
    assert table == {
        # The ordinary file wins over the override file.
        "aws_s3_bucket.logs": ResourceLocation("stacks/demo/a.tf", 1),
        "module.net": ResourceLocation("stacks/demo/a.tf", 9),
        "aws_iam_role.r": ResourceLocation("stacks/demo/c.tf", 3),
    }
    assert location_for("module.net.module.inner.aws_vpc.this", table) == ResourceLocation(
        "stacks/demo/a.tf", 9
    )


def test_files_are_relative_to_the_root_however_paths_are_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = tmp_path / "project" / "stacks" / "demo"
    _write(stack, "main.tf", 'resource "aws_iam_role" "r" {}\n')
    expected = {"aws_iam_role.r": ResourceLocation("stacks/demo/main.tf", 1)}
    assert resource_locations(stack, tmp_path / "project") == expected
    monkeypatch.chdir(tmp_path / "project")
    assert resource_locations(Path("stacks/demo"), Path()) == expected
    assert resource_locations(Path("stacks/../stacks/demo"), tmp_path / "project") == expected
    # A stack outside the root: still a relative POSIX path.
    assert resource_locations(stack, tmp_path / "project" / "other") == {
        "aws_iam_role.r": ResourceLocation("../stacks/demo/main.tf", 1)
    }


def test_an_empty_or_missing_directory_has_no_blocks(tmp_path: Path) -> None:
    assert resource_locations(tmp_path / "nowhere", tmp_path) == {}
    (tmp_path / "empty").mkdir()
    assert resource_locations(tmp_path / "empty", tmp_path) == {}
