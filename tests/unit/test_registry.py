"""Loading registry/ and iacdrift.yaml: every problem as ``file: field: what to do``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from iacdrift.errors import Problem, RegistryError, UnknownStackError
from iacdrift.loaders.registry import load_project

VALID = """\
apiVersion: iacdrift.dev/v1
kind: DriftManagedUnit
metadata:
  name: prod-network
spec:
  type: terraform-stack
  owner: platform-network
  environment: prod
  riskTier: critical
  source: {repo: github.com/acme/infra-live, path: stacks/prod-network}
  state:
    backend: s3
    bucket: iacdrift-sandbox-tfstate
    key: prod/network.tfstate
    region: us-east-1
  credentials: {oidcRole: "arn:aws:iam::123456789012:role/iacdrift-prod-network"}
  schedule: {frequency: hourly}
  policies: {autoHeal: false, requireIncidentForManualChange: true}
  evidence: {retention: 7y}
"""


def unit(name: str, **spec: Any) -> dict[str, Any]:
    """A valid unit called ``name`` on its own state key; ``spec`` overrides fields."""
    document: dict[str, Any] = yaml.safe_load(VALID)
    document["metadata"]["name"] = name
    document["spec"]["source"]["path"] = f"stacks/{name}"
    document["spec"]["state"]["key"] = f"{name}.tfstate"
    document["spec"].update(spec)
    return document


def write_unit(root: Path, file: str, document: dict[str, Any] | str) -> Path:
    """Write a registry file and give its stack a root module so source.path is valid."""
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    path = root / "registry" / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if isinstance(document, dict):
        stack = root / document["spec"]["source"]["path"]
        stack.mkdir(parents=True, exist_ok=True)
        (stack / "main.tf").write_text('terraform {\n  backend "s3" {}\n}\n', encoding="utf-8")
    return path


def problems_of(root: Path, **kwargs: Any) -> list[Problem]:
    with pytest.raises(RegistryError) as caught:
        load_project(cwd=root, **kwargs)
    return caught.value.problems


def only_problem(root: Path) -> Problem:
    problems = problems_of(root)
    assert len(problems) == 1, problems
    return problems[0]


# --- a valid project ---------------------------------------------------------------


def test_valid_registry_loads_sorted_with_absolute_stack_dirs(tmp_path: Path) -> None:
    write_unit(tmp_path, "z.yaml", unit("prod-network"))
    write_unit(tmp_path, "a.yml", unit("dev-app", riskTier="low"))

    project = load_project(cwd=tmp_path)

    assert [stack.name for stack in project.stacks] == ["dev-app", "prod-network"]
    network = project.get("prod-network")
    assert network.file == tmp_path / "registry" / "z.yaml"
    assert network.stack_dir == tmp_path / "stacks" / "prod-network"
    assert network.stack_dir.is_absolute()
    assert network.unit.spec.evidence.retention == "7y"
    assert project.root == tmp_path
    assert project.settings_path is None
    assert project.registry_dir == tmp_path / "registry"
    assert project.resolve_path("stacks/dev-app") == tmp_path / "stacks" / "dev-app"


def test_the_documented_shape_is_valid(tmp_path: Path) -> None:
    write_unit(tmp_path, "prod-network.yaml", VALID)
    (tmp_path / "stacks" / "prod-network").mkdir(parents=True)
    (tmp_path / "stacks" / "prod-network" / "main.tf").write_text("", encoding="utf-8")

    project = load_project(cwd=tmp_path)

    assert project.get("prod-network").unit.spec.state.uri == (
        "s3://iacdrift-sandbox-tfstate/prod/network.tfstate"
    )


def test_file_name_may_differ_from_the_stack_name(tmp_path: Path) -> None:
    write_unit(tmp_path, "network.yaml", unit("prod-network"))

    assert load_project(cwd=tmp_path).get("prod-network").file.name == "network.yaml"


def test_tf_json_root_module_counts_as_a_stack(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a"))
    (tmp_path / "stacks" / "a" / "main.tf").rename(tmp_path / "stacks" / "a" / "main.tf.json")

    assert load_project(cwd=tmp_path).get("a").name == "a"


def test_empty_registry_is_a_project_without_stacks(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()

    assert load_project(cwd=tmp_path).stacks == ()


def test_unknown_stack_suggests_a_close_name(tmp_path: Path) -> None:
    for name in ("dev-app", "prod-network", "prod-app"):
        write_unit(tmp_path, f"{name}.yaml", unit(name))
    project = load_project(cwd=tmp_path)

    with pytest.raises(UnknownStackError) as caught:
        project.get("prod-netwrok")

    assert str(caught.value) == (
        "unknown stack 'prod-netwrok': not in registry/ "
        "(known: dev-app, prod-app, prod-network); did you mean 'prod-network'?"
    )


def test_unknown_stack_without_close_match_says_how_to_register(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("dev-app"))

    with pytest.raises(UnknownStackError, match=r"add registry/zzz\.yaml to register it"):
        load_project(cwd=tmp_path).get("zzz")


# --- settings ----------------------------------------------------------------------


def test_settings_file_sets_the_root(tmp_path: Path) -> None:
    project_dir = tmp_path / "ops"
    write_unit(project_dir, "a.yaml", unit("a"))
    (project_dir / "iacdrift.yaml").write_text(
        "cloud: {target: aws, region: eu-west-1}\nallowAmbientCredentials: true\n",
        encoding="utf-8",
    )

    project = load_project(config_path=Path("ops/iacdrift.yaml"), cwd=tmp_path)

    assert project.root == project_dir
    assert project.settings_path == project_dir / "iacdrift.yaml"
    assert project.settings.cloud.region == "eu-west-1"
    assert project.settings.allowAmbientCredentials is True
    assert project.get("a").stack_dir == project_dir / "stacks" / "a"


def test_default_settings_file_in_cwd_is_used(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a"))
    (tmp_path / "iacdrift.yaml").write_text("cloud: {target: aws}\n", encoding="utf-8")

    project = load_project(cwd=tmp_path)

    assert project.settings_path == tmp_path / "iacdrift.yaml"
    assert project.settings.cloud.target == "aws"


def test_empty_settings_file_means_defaults(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "iacdrift.yaml").write_text("# project root\n", encoding="utf-8")

    assert load_project(cwd=tmp_path).settings.cloud.target == "sandbox"


def test_explicit_settings_file_must_exist(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()

    problems = problems_of(tmp_path, config_path=Path("nope.yaml"))

    assert [(p.file, p.field) for p in problems] == [("nope.yaml", "")]
    assert "settings file not found" in problems[0].message


def test_settings_problems_are_reported_like_registry_problems(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a", riskTier="extreme"))
    (tmp_path / "iacdrift.yaml").write_text(
        textwrap.dedent(
            """\
            exclusions:
              - {type: aws_s3_bucket, idd: logs-*, reason: shared}
              - {type: aws_iam_role, reason: no matcher}
            terraform: {timeout: soon}
            """
        ),
        encoding="utf-8",
    )

    problems = problems_of(tmp_path)

    assert [(p.file, p.field) for p in problems] == [
        ("iacdrift.yaml", "exclusions.0.idd"),
        ("iacdrift.yaml", "exclusions.1"),
        ("iacdrift.yaml", "terraform.timeout"),
        ("registry/a.yaml", "spec.riskTier"),
    ]
    assert problems[0].message == (
        "unknown field; remove it (allowed here: id, name, reason, type); did you mean 'id'?"
    )
    assert problems[1].message == "an exclusion needs `id` or `name` (globs allowed)"
    assert problems[2].message.startswith("'soon' is not a duration")


# --- the registry directory --------------------------------------------------------


def test_missing_registry_dir_names_it_and_the_fix(tmp_path: Path) -> None:
    problem = only_problem(tmp_path)

    assert problem.file == "registry"
    assert problem.field == ""
    assert "registry directory not found; create it" in problem.message
    assert "--registry" in problem.message


def test_explicit_registry_dir_is_relative_to_cwd(tmp_path: Path) -> None:
    write_unit(tmp_path / "elsewhere", "a.yaml", unit("a"))

    problems = problems_of(tmp_path, registry_dir=Path("elsewhere/registry"))

    # The stack directory is resolved against the project root (cwd), not the registry.
    assert [(p.file, p.field) for p in problems] == [
        ("elsewhere/registry/a.yaml", "spec.source.path")
    ]


def test_only_yaml_files_at_the_top_level_are_read(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a"))
    (tmp_path / "registry" / "README.md").write_text("not yaml: [", encoding="utf-8")
    (tmp_path / "registry" / "old").mkdir()
    (tmp_path / "registry" / "old" / "b.yaml").write_text("broken: [", encoding="utf-8")

    assert [stack.name for stack in load_project(cwd=tmp_path).stacks] == ["a"]


# --- one file's problems -----------------------------------------------------------


def test_unknown_field_lists_the_allowed_fields_there(tmp_path: Path) -> None:
    document = unit("a")
    document["spec"]["credentials"]["roleArn"] = "arn:aws:iam::123456789012:role/x"
    write_unit(tmp_path, "a.yaml", document)

    problem = only_problem(tmp_path)

    assert problem == Problem(
        "registry/a.yaml",
        "spec.credentials.roleArn",
        "unknown field; remove it (allowed here: allowAmbient, oidcRole)",
    )


def test_unknown_top_level_field(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", {**unit("a"), "status": {}})

    problem = only_problem(tmp_path)

    assert problem.field == "status"
    assert problem.message == (
        "unknown field; remove it (allowed here: apiVersion, kind, metadata, schemaVersion, spec)"
    )


def test_missing_field_says_add_it(tmp_path: Path) -> None:
    document = unit("a")
    del document["spec"]["owner"]
    write_unit(tmp_path, "a.yaml", document)

    assert only_problem(tmp_path) == Problem(
        "registry/a.yaml", "spec.owner", "required field is missing; add it"
    )


def test_bad_enum_keeps_the_allowed_values(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a", riskTier="extreme"))

    problem = only_problem(tmp_path)

    assert (problem.file, problem.field) == ("registry/a.yaml", "spec.riskTier")
    assert problem.message.startswith("Input should be 'critical', 'high', 'medium' or 'low'")
    assert "'extreme'" in problem.message


def test_bad_frequency(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a", schedule={"frequency": "every-tuesday"}))

    assert only_problem(tmp_path) == Problem(
        "registry/a.yaml",
        "spec.schedule.frequency",
        "'every-tuesday' is not a frequency: use hourly, daily, weekly or a duration such as 15m",
    )


def test_bad_retention(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a", evidence={"retention": "7 years"}))

    problem = only_problem(tmp_path)

    assert (problem.field, problem.message.split(":")[0]) == (
        "spec.evidence.retention",
        "'7 years' is not a duration",
    )
    assert not problem.message.startswith("Value error")


def test_opentofu_stack_needs_a_lock_table(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a", type="opentofu-stack"))

    problem = only_problem(tmp_path)

    assert (problem.file, problem.field) == ("registry/a.yaml", "spec")
    assert problem.message.startswith("state.lockTable is required for an opentofu-stack")


def test_opentofu_stack_with_a_lock_table_is_valid(tmp_path: Path) -> None:
    document = unit("a", type="opentofu-stack")
    document["spec"]["state"]["lockTable"] = "tf-locks"
    write_unit(tmp_path, "a.yaml", document)

    assert load_project(cwd=tmp_path).get("a").unit.spec.state.lockTable == "tf-locks"


def test_unquoted_yaml_scalar_is_told_to_be_quoted(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", VALID.replace("environment: prod", "environment: 2024-01-01"))

    problems = problems_of(tmp_path)

    assert [(p.field, p.message) for p in problems if p.field == "spec.environment"] == [
        (
            "spec.environment",
            "expected a string, got a date (datetime.date(2024, 1, 1)); quote the value",
        )
    ]


def test_name_pattern(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", VALID.replace("name: prod-network", "name: Prod_Network"))

    problems = problems_of(tmp_path)

    assert [p.field for p in problems] == ["metadata.name"]
    assert problems[0].message.startswith("'Prod_Network' does not match the pattern")


def test_section_that_is_not_a_mapping(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a", schedule="hourly"))

    assert only_problem(tmp_path) == Problem(
        "registry/a.yaml",
        "spec.schedule",
        "expected a mapping of fields, got a string; write `key: value` pairs",
    )


# --- YAML itself -------------------------------------------------------------------


def test_duplicate_yaml_key_reports_key_path_and_lines(tmp_path: Path) -> None:
    text = VALID.replace(
        "  policies: {autoHeal: false, requireIncidentForManualChange: true}\n",
        "  policies:\n    autoHeal: false\n    autoHeal: true\n",
    )
    write_unit(tmp_path, "a.yaml", text)

    assert only_problem(tmp_path) == Problem(
        "registry/a.yaml",
        "spec.policies.autoHeal",
        "duplicate key on line 20 (first on line 19); keep only one "
        "(YAML would silently use the last)",
    )


def test_duplicate_keys_in_a_list_item(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "iacdrift.yaml").write_text(
        "exclusions:\n  - type: aws_s3_bucket\n    id: a\n    id: b\n    reason: r\n",
        encoding="utf-8",
    )

    problem = only_problem(tmp_path)

    assert (problem.file, problem.field) == ("iacdrift.yaml", "exclusions.0.id")
    assert problem.message.startswith("duplicate key on line 4 (first on line 3)")


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "iacdrift.yaml").write_text(
        textwrap.dedent(
            """\
            exclusions:
              - &base {type: aws_s3_bucket, id: a, reason: shared}
              - {<<: *base, id: b}
            """
        ),
        encoding="utf-8",
    )

    assert [e.id for e in load_project(cwd=tmp_path).settings.exclusions] == ["a", "b"]


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", "metadata:\n  name: [a, b\nspec: {}\n")

    problem = only_problem(tmp_path)

    assert (problem.file, problem.field) == ("registry/a.yaml", "")
    assert problem.message.startswith("YAML syntax error at line 3, column 5:")
    assert problem.message.endswith("; fix the syntax")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "file is empty"),
        ("# nothing yet\n", "file is empty"),
        ("- a\n- b\n", "the document is a list, not a mapping"),
        ("just words\n", "the document is a string, not a mapping"),
        ("a: 1\n---\nb: 2\n", "holds 2 YAML documents; keep one per file"),
    ],
)
def test_file_must_hold_one_mapping(tmp_path: Path, text: str, expected: str) -> None:
    write_unit(tmp_path, "a.yaml", text)

    problem = only_problem(tmp_path)

    assert (problem.file, problem.field) == ("registry/a.yaml", "")
    assert problem.message.startswith(expected)


# --- across files ------------------------------------------------------------------


def test_duplicate_name(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("app"))
    second = unit("app")
    second["spec"]["state"]["key"] = "other.tfstate"
    write_unit(tmp_path, "b.yaml", second)

    assert only_problem(tmp_path) == Problem(
        "registry/b.yaml",
        "metadata.name",
        "duplicate name 'app' (also in registry/a.yaml); names must be unique",
    )


def test_two_stacks_sharing_a_state(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("app"))
    second = unit("app-copy")
    second["spec"]["state"]["key"] = "app.tfstate"
    write_unit(tmp_path, "b.yaml", second)

    problem = only_problem(tmp_path)

    assert (problem.file, problem.field) == ("registry/b.yaml", "spec.state.key")
    assert problem.message == (
        "state s3://iacdrift-sandbox-tfstate/app.tfstate is also used by 'app' "
        "(registry/a.yaml); two stacks must never share a state"
    )


def test_same_key_in_another_bucket_is_fine(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a"))
    second = unit("b")
    second["spec"]["state"].update(key="a.tfstate", bucket="another-bucket")
    write_unit(tmp_path, "b.yaml", second)

    assert len(load_project(cwd=tmp_path).stacks) == 2


def test_source_path_without_tf_files(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a"))
    (tmp_path / "stacks" / "a" / "main.tf").unlink()
    (tmp_path / "stacks" / "a" / "README.md").write_text("", encoding="utf-8")

    assert only_problem(tmp_path) == Problem(
        "registry/a.yaml",
        "spec.source.path",
        "no *.tf files in stacks/a: point source.path at the stack's root module",
    )


def test_source_path_that_does_not_exist(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", VALID)

    problem = only_problem(tmp_path)

    assert (problem.field, problem.message.split(";")[0]) == (
        "spec.source.path",
        "stacks/prod-network does not exist",
    )


def test_all_problems_of_all_files_are_reported_at_once(tmp_path: Path) -> None:
    write_unit(tmp_path, "a.yaml", unit("a", riskTier="extreme", schedule={"frequency": "x"}))
    write_unit(tmp_path, "b.yaml", "spec: [\n")
    write_unit(tmp_path, "c.yaml", unit("c"))
    write_unit(tmp_path, "d.yaml", unit("c", owner=""))

    with pytest.raises(RegistryError) as caught:
        load_project(cwd=tmp_path)

    assert [(p.file, p.field) for p in caught.value.problems] == [
        ("registry/a.yaml", "spec.riskTier"),
        ("registry/a.yaml", "spec.schedule.frequency"),
        ("registry/b.yaml", ""),
        ("registry/d.yaml", "spec.owner"),
    ]
    assert str(caught.value).endswith("(and 3 more)")


# --- the CLI -----------------------------------------------------------------------


def run_cli(args: list[str]) -> int:
    # Imported here: the cli package imports every command module, and a missing one
    # should fail these tests only, not the loader tests above.
    from iacdrift.cli.common import run_guarded
    from iacdrift.cli.registry_cmd import registry_group

    return int(
        run_guarded(
            lambda: registry_group.main(
                args=args, prog_name="iacdrift registry", standalone_mode=False
            )
        )
    )


@pytest.fixture
def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IACDRIFT_CONFIG", raising=False)
    monkeypatch.delenv("IACDRIFT_REGISTRY", raising=False)
    return tmp_path


def test_cli_validate_prints_each_problem_and_exits_1(
    in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_unit(in_project, "x.yaml", unit("x", riskTier="extreme"))
    write_unit(in_project, "y.yaml", unit("y", owner=7))

    code = run_cli(["validate"])

    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[0].startswith(
        "error: registry/x.yaml: spec.riskTier: Input should be 'critical', 'high', 'medium'"
    )
    assert err[1] == (
        "error: registry/y.yaml: spec.owner: expected a string, got a number (7); quote the value"
    )


def test_cli_validate_ok(in_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_unit(in_project, "a.yaml", unit("a"))
    write_unit(in_project, "b.yaml", unit("b"))

    code = run_cli(["validate"])

    assert (code, capsys.readouterr().out) == (0, "ok: 2 stacks valid in registry/\n")


def test_cli_list_json(in_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_unit(in_project, "z.yaml", unit("b"))
    write_unit(in_project, "a.yaml", unit("a"))

    code = run_cli(["list", "--format", "json"])

    listed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(entry["metadata"]["name"], entry["file"]) for entry in listed] == [
        ("a", "registry/a.yaml"),
        ("b", "registry/z.yaml"),
    ]
    assert listed[0]["spec"]["policies"] == {
        "autoHeal": False,
        "requireIncidentForManualChange": True,
    }


def test_cli_list_table(in_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_unit(in_project, "a.yaml", unit("prod-network"))

    code = run_cli(["list"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split() == [
        "NAME", "TYPE", "ENVIRONMENT", "TIER", "OWNER", "SCHEDULE", "STATE", "SOURCE"
    ]  # fmt: skip
    assert lines[1].split() == [
        "prod-network",
        "terraform-stack",
        "prod",
        "critical",
        "platform-network",
        "hourly",
        "s3://iacdrift-sandbox-tfstate/prod-network.tfstate",
        "stacks/prod-network",
    ]


def test_cli_list_on_a_broken_registry_exits_1(
    in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_unit(in_project, "a.yaml", "kind: [\n")

    assert run_cli(["list"]) == 1
    assert capsys.readouterr().err.startswith("error: registry/a.yaml: YAML syntax error")


def test_an_impossible_date_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    from iacdrift.errors import RegistryError
    from iacdrift.loaders.registry import load_project

    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "x.yaml").write_text(
        "apiVersion: iacdrift.dev/v1\nkind: DriftManagedUnit\nwhen: 2026-13-01\n"
    )
    with pytest.raises(RegistryError) as caught:
        load_project(cwd=tmp_path)
    assert "invalid value" in str(caught.value) and "x.yaml" in str(caught.value)
