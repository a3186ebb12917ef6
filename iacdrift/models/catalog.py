"""The JSON Schemas we publish in ``schemas/``, generated from the models.

Editors validate registry files against these (e.g. yaml-language-server's
``# yaml-language-server: $schema=...``), and a unit test fails when a model
changes without the files being regenerated::

    python -m iacdrift.flows.schemas schemas/

Rendering is canonical (sorted keys, two-space indent, trailing newline) so the
files are byte-identical for the same models.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from iacdrift.models.ci import Matrix
from iacdrift.models.context import AuditEvent, ChangeRecord
from iacdrift.models.finding import CheckReport, Finding, StackResult
from iacdrift.models.notification import NotificationReport, WebhookPayload
from iacdrift.models.policy import (
    AutoHealPolicy,
    DecisionTable,
    FieldOwnership,
    Guardrail,
    IgnoreRule,
    Route,
)
from iacdrift.models.provider_diff import ProviderDiffReport
from iacdrift.models.registry import DriftManagedUnit, Settings
from iacdrift.models.repair import RepairApplyReport, RepairPlan
from iacdrift.models.run import RunReport, StatusReport
from iacdrift.models.surgery import (
    StateMigration,
    SurgeryApplyReport,
    SurgeryApproval,
    SurgeryPlan,
    SurgeryStatus,
)

SCHEMA_BASE_URL = "https://iacdrift.dev/schemas/"
# pydantic generates JSON Schema draft 2020-12; saying so lets validators pick it.
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

PUBLISHED: dict[str, type[BaseModel]] = {
    "drift-managed-unit.schema.json": DriftManagedUnit,
    "settings.schema.json": Settings,
    "finding.schema.json": Finding,
    "stack-result.schema.json": StackResult,
    "check-report.schema.json": CheckReport,
    "run-report.schema.json": RunReport,
    "status-report.schema.json": StatusReport,
    "field-ownership.schema.json": FieldOwnership,
    "ignore-rule.schema.json": IgnoreRule,
    "auto-heal-policy.schema.json": AutoHealPolicy,
    "guardrail.schema.json": Guardrail,
    "decision-table.schema.json": DecisionTable,
    "route.schema.json": Route,
    "change-record.schema.json": ChangeRecord,
    "audit-event.schema.json": AuditEvent,
    "webhook-payload.schema.json": WebhookPayload,
    "notification-report.schema.json": NotificationReport,
    "repair-plan.schema.json": RepairPlan,
    "repair-apply-report.schema.json": RepairApplyReport,
    "state-migration.schema.json": StateMigration,
    "surgery-plan.schema.json": SurgeryPlan,
    "surgery-approval.schema.json": SurgeryApproval,
    "surgery-apply-report.schema.json": SurgeryApplyReport,
    "surgery-status.schema.json": SurgeryStatus,
    "provider-diff-report.schema.json": ProviderDiffReport,
    "ci-matrix.schema.json": Matrix,
}

# Files we read are validated as input; records we emit are described as output
# (pydantic's serialization mode: defaults are always present).
OUTPUT_MODELS: frozenset[type[BaseModel]] = frozenset(
    {
        Finding,
        StackResult,
        CheckReport,
        RunReport,
        StatusReport,
        AuditEvent,
        WebhookPayload,
        NotificationReport,
        RepairPlan,
        SurgeryPlan,
        SurgeryApplyReport,
        SurgeryStatus,
        ProviderDiffReport,
        Matrix,
    }
)


def schema_file(model: type[BaseModel]) -> str:
    """The published file name of ``model``; ValueError if it is not published."""
    for name, published in PUBLISHED.items():
        if published is model:
            return name
    raise ValueError(f"{model.__name__} has no published schema; add it to PUBLISHED")


def render_schema(model: type[BaseModel]) -> str:
    """The canonical JSON Schema text of ``model``, with its ``$id``."""
    if model in OUTPUT_MODELS:
        schema = model.model_json_schema(mode="serialization")
    else:
        schema = model.model_json_schema(mode="validation")
    schema["$id"] = SCHEMA_BASE_URL + schema_file(model)
    schema["$schema"] = JSON_SCHEMA_DIALECT
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
