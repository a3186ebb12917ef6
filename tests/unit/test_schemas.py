"""The JSON Schemas in schemas/ are generated from the models and must not drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from iacdrift.flows.schemas import write_schemas
from iacdrift.models.catalog import PUBLISHED, SCHEMA_BASE_URL, render_schema
from iacdrift.models.registry import DriftManagedUnit

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
REGENERATE = "run `python -m iacdrift.flows.schemas schemas/` and commit the result"

SAMPLE_UNIT = """\
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
  state: {backend: s3, bucket: iacdrift-sandbox-tfstate, key: prod/network.tfstate}
  credentials: {oidcRole: "arn:aws:iam::123456789012:role/iacdrift-prod-network"}
  schedule: {frequency: hourly}
  policies: {autoHeal: false, requireIncidentForManualChange: true}
  evidence: {retention: 7y}
"""


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_schema_is_up_to_date(name: str) -> None:
    path = SCHEMAS / name
    assert path.is_file(), f"schemas/{name} is missing; {REGENERATE}"
    expected = render_schema(PUBLISHED[name]).encode("utf-8")
    assert path.read_bytes() == expected, f"schemas/{name} is out of date; {REGENERATE}"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_schema_names_itself(name: str) -> None:
    schema = json.loads(render_schema(PUBLISHED[name]))
    assert schema["$id"] == SCHEMA_BASE_URL + name
    assert schema["additionalProperties"] is False


def test_no_stray_schema_files() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(PUBLISHED)


def test_write_schemas_writes_what_render_schema_renders(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "out")
    assert [p.name for p in written] == sorted(PUBLISHED)
    for path in written:
        assert path.read_text(encoding="utf-8") == render_schema(PUBLISHED[path.name])


def test_render_schema_refuses_an_unpublished_model() -> None:
    from iacdrift.models.registry import Metadata

    with pytest.raises(ValueError, match="no published schema"):
        render_schema(Metadata)


def test_sample_unit_is_valid_for_the_model_and_the_published_schema() -> None:
    document: dict[str, Any] = yaml.safe_load(SAMPLE_UNIT)
    DriftManagedUnit.model_validate(document)

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMAS / "drift-managed-unit.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(document)) == []

    # The schema is as strict as the model: a misspelt field is an error for editors too.
    document["spec"]["credentials"]["oidcrole"] = document["spec"]["credentials"].pop("oidcRole")
    messages = [error.message for error in validator.iter_errors(document)]
    assert any("oidcrole" in message for message in messages), messages
