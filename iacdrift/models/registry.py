"""Our registry formats: one ``DriftManagedUnit`` per YAML file in ``registry/``,
and the registry-level ``Settings`` in ``iacdrift.yaml``.

Strict on purpose: unknown fields are rejected (``extra="forbid"``) so a typo
never silently turns a policy off. Durations and schedule frequencies are kept
as the user wrote them and validated by :mod:`iacdrift.primitives.duration`.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from iacdrift.primitives.duration import parse_duration, parse_frequency

if TYPE_CHECKING:  # resolved by iacdrift/models/__init__.py (context imports this module)
    from iacdrift.models.context import ContextSettings

API_VERSION = "iacdrift.dev/v1"
SCHEMA_VERSION = 1


def _check_frequency(value: str) -> str:
    parse_frequency(value)
    return value


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Frequency = Annotated[
    str,
    AfterValidator(_check_frequency),
    Field(
        description="hourly, daily, weekly, or a duration such as 15m, 6h, 2d",
        examples=["hourly", "15m"],
    ),
]
Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(description="A duration: <number><unit>, unit one of s m h d w y", examples=["90d"]),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StackType(StrEnum):
    TERRAFORM = "terraform-stack"
    OPENTOFU = "opentofu-stack"


class RiskTier(StrEnum):
    """Ordered from most to least critical; runs check critical tiers first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return list(RiskTier).index(self)


NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class Metadata(Strict):
    name: str = Field(
        pattern=NAME_PATTERN,
        description="Unique stack name: lowercase letters, digits and dashes, at most 63.",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form labels.")


class Source(Strict):
    repo: str = Field(description="Repository holding the stack, e.g. github.com/acme/infra-live.")
    path: str = Field(
        description="The stack's root module directory, relative to the directory of "
        "iacdrift.yaml (the project root) or absolute."
    )
    ref: str | None = Field(default=None, description="Branch, tag or commit that is desired.")


class StateBackend(Strict):
    backend: Literal["s3"] = Field(description="State backend type; only s3 is supported.")
    bucket: str = Field(min_length=3, description="S3 bucket holding the state.")
    key: str = Field(min_length=1, description="Object key of the state within the bucket.")
    region: str = Field(default="us-east-1", description="Region of the state bucket.")
    lockTable: str | None = Field(
        default=None,
        description="DynamoDB lock table, if the stack locks with dynamodb_table "
        "(OpenTofu < 1.10); null when it locks with use_lockfile.",
    )

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class Credentials(Strict):
    oidcRole: str = Field(
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$",
        description="IAM role assumed with the OIDC web identity for this stack only.",
    )
    allowAmbient: bool = Field(
        default=False,
        description="Explicitly allow the ambient credentials when no web identity is "
        "available. Recorded in every result that used them.",
    )


class Schedule(Strict):
    frequency: Frequency


class Policies(Strict):
    autoHeal: bool = Field(
        default=False,
        description="Switch for bounded auto-heal; its bounds come from policy files.",
    )
    requireIncidentForManualChange: bool = Field(
        default=True,
        description="A manual change without an incident or change record is unauthorized.",
    )


class Evidence(Strict):
    retention: Duration = "90d"


class UnitSpec(Strict):
    type: StackType
    owner: str = Field(min_length=1, description="Owning team; findings route here.")
    environment: str = Field(min_length=1, description="e.g. prod, staging, dev.")
    riskTier: RiskTier
    source: Source
    state: StateBackend
    credentials: Credentials
    schedule: Schedule
    policies: Policies = Field(default_factory=Policies)
    evidence: Evidence = Field(default_factory=Evidence)

    @model_validator(mode="after")
    def _opentofu_lock(self) -> UnitSpec:
        # OpenTofu 1.6 has no S3 use_lockfile: such stacks must name their lock table
        # so iacdrift can read the lock holder.
        if self.type is StackType.OPENTOFU and self.state.lockTable is None:
            raise ValueError(
                "state.lockTable is required for an opentofu-stack (OpenTofu < 1.10 "
                "locks S3 state with a DynamoDB table)"
            )
        return self


class DriftManagedUnit(Strict):
    """One drift-managed unit: a Terraform/OpenTofu root module with its state."""

    schemaVersion: Literal[1] = 1
    apiVersion: Literal["iacdrift.dev/v1"] = "iacdrift.dev/v1"
    kind: Literal["DriftManagedUnit"]
    metadata: Metadata
    spec: UnitSpec

    @property
    def name(self) -> str:
        return self.metadata.name


class CloudTarget(StrEnum):
    SANDBOX = "sandbox"
    AWS = "aws"
    ENDPOINT = "endpoint"


SERVICE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


# scheme://[userinfo@]host[:port][/path][?query][#fragment] (urllib is not for models/).
_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^@/?#]*@)?"
    r"(?P<host>\[[^\]/?#]*\]|[^:/?#@]*)(?::(?P<port>[^/?#]*))?"
    r"(?P<path>/[^?#]*)?(?P<query>\?[^#]*)?(?P<fragment>#.*)?$"
)


def endpoint_url_problem(url: str, *, allow_insecure: bool) -> str | None:
    """What is wrong with ``url`` as an AWS-compatible endpoint, or None.

    http(s) with a host and nothing secret in it (no user:password, query or
    fragment); plain http only to a loopback host (localhost, 127.0.0.0/8, ::1)
    unless ``allow_insecure``: credentials and state travel in every request.
    """
    match = _URL.match(url.strip())
    scheme = match.group("scheme").lower() if match else ""
    if match is None or scheme not in ("http", "https") or not match.group("host"):
        return f"{url!r} is not an http(s) URL with a host; write e.g. http://localhost:4566"
    if match.group("userinfo"):
        return "the URL carries user info; remove it (credentials come from the stack's role)"
    if match.group("query") or match.group("fragment"):
        return f"{url!r} has a query or fragment; give the endpoint's base URL only"
    port = match.group("port")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        return f"{url!r} has no valid port (1-65535); fix the port"
    if scheme == "http" and not allow_insecure and not is_loopback_host(match.group("host")):
        return (
            f"{url} is plain http to a host that is not loopback: credentials and state "
            "would cross the network unencrypted; use https, or set "
            "cloud.allowInsecureEndpoint: true if this network is trusted"
        )
    return None


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Cloud(Strict):
    target: CloudTarget = Field(
        default=CloudTarget.SANDBOX,
        description="sandbox: the loopback moto cloud started by `iacdrift sandbox up`; "
        "aws: the real AWS endpoints; endpoint: any AWS-compatible endpoint (LocalStack, "
        "a moto server, a private or FIPS endpoint) at endpointUrl.",
    )
    region: str = Field(default="us-east-1")
    sandboxDir: str = Field(
        default=".iacdrift/sandbox",
        description="State directory of the sandbox, relative to the project root.",
    )
    endpointUrl: str | None = Field(
        default=None,
        description="target: endpoint only (and required there). The base URL every AWS "
        "service is reached at, e.g. http://localhost:4566; plain http only to a loopback "
        "host unless allowInsecureEndpoint.",
        examples=["http://localhost:4566", "https://aws.example.internal"],
    )
    endpoints: dict[
        Annotated[str, Field(pattern=SERVICE_NAME_PATTERN)], Annotated[str, Field(min_length=1)]
    ] = Field(
        default_factory=dict,
        description="target: endpoint only. Per-service URLs that replace endpointUrl for "
        "that service, keyed by the AWS SDK's service name (s3, sts, dynamodb, iam, ec2, "
        "secretsmanager, ...).",
        examples=[{"s3": "https://s3-fips.us-east-1.amazonaws.com"}],
    )
    allowInsecureEndpoint: bool = Field(
        default=False,
        description="Allow plain http endpoints on hosts that are not loopback (credentials "
        "and state then cross the network unencrypted).",
    )

    @model_validator(mode="after")
    def _endpoint_fields(self) -> Cloud:
        if self.target is not CloudTarget.ENDPOINT:
            if self.endpointUrl is not None or self.endpoints:
                field = "endpointUrl" if self.endpointUrl is not None else "endpoints"
                raise ValueError(
                    f"{field} is only read with target: endpoint (target is {self.target}); "
                    f"set target: endpoint or remove {field}"
                )
            if self.allowInsecureEndpoint:
                raise ValueError(
                    "allowInsecureEndpoint is only read with target: endpoint; remove it"
                )
            return self
        if self.endpointUrl is None:
            raise ValueError(
                "target: endpoint needs endpointUrl (the base URL of the AWS-compatible "
                "endpoint, e.g. http://localhost:4566)"
            )
        problems = [("endpointUrl", self.endpointUrl)] + [
            (f"endpoints.{service}", url) for service, url in sorted(self.endpoints.items())
        ]
        for field, url in problems:
            problem = endpoint_url_problem(url, allow_insecure=self.allowInsecureEndpoint)
            if problem is not None:
                raise ValueError(f"{field}: {problem}")
        return self


class Exclusion(Strict):
    """A live resource that is never drift-managed and never reported as unmanaged."""

    type: str = Field(description="Terraform resource type, e.g. aws_s3_bucket.")
    id: str | None = Field(default=None, description="Resource id; shell-style globs allowed.")
    name: str | None = Field(default=None, description="Resource name; globs allowed.")
    reason: str = Field(min_length=1, description="Why it is excluded.")

    @model_validator(mode="after")
    def _one_matcher(self) -> Exclusion:
        if self.id is None and self.name is None:
            raise ValueError("an exclusion needs `id` or `name` (globs allowed)")
        return self


class TerraformSettings(Strict):
    providerMirror: str | None = Field(
        default=None,
        description="Packed filesystem mirror of providers; null uses the registry "
        "(the sandbox always uses its own mirror).",
    )
    pluginCacheDir: str = Field(default=".iacdrift/plugin-cache")
    lockTimeout: Duration = "30s"
    timeout: Duration = Field(default="15m", description="Timeout of one Terraform call.")
    workdirRetention: Duration = Field(
        default="7d",
        description="A working copy under .iacdrift/workdirs/ of a stack that is no "
        "longer registered (or of a directory checked by path) is removed by the next "
        "run once unused this long; registered stacks keep theirs.",
    )
    seedWorkdirs: bool = Field(
        default=True,
        description="Write what `init` would into a stack's fresh working copy (provider "
        "links into the plugin cache, local module records, the backend record) instead "
        "of running it, once one real init of the same engine has been reproduced "
        "exactly. Terraform refuses records that do not match the stack's files, iacdrift "
        "checks that the plan read the state the registry names, and either way the "
        "real init runs instead. false: always run init.",
    )


class TokenSourceKind(StrEnum):
    """Where the OIDC web identity token comes from."""

    GITHUB_ACTIONS = "github-actions"
    FILE = "file"
    ENV = "env"
    SANDBOX = "sandbox"


ACCOUNT_ID_PATTERN = r"^\d{12}$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::(\d{12}):role/.+$"

AccountId = Annotated[
    str, Field(pattern=ACCOUNT_ID_PATTERN, description="A 12-digit AWS account id.")
]
RoleArn = Annotated[str, Field(pattern=ROLE_ARN_PATTERN, description="An IAM role ARN.")]


class Oidc(Strict):
    """How each stack gets the web identity token it exchanges for its own role."""

    source: TokenSourceKind = Field(
        description="github-actions: the job's ID token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL "
        "and ACTIONS_ID_TOKEN_REQUEST_TOKEN; the job needs `permissions: id-token: write`); "
        "file: a token file, read again for every stack; env: an environment variable; "
        "sandbox: the loopback stand-in endpoint started by `iacdrift sandbox up`."
    )
    tokenFile: str | None = Field(
        default=None,
        description="source: file only. The token file, relative to the project root or absolute.",
    )
    tokenEnv: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="source: env only. Name of the environment variable holding the token.",
    )
    audience: str = Field(
        default="sts.amazonaws.com",
        min_length=1,
        description="Audience requested from the token endpoint (github-actions, sandbox).",
    )
    sessionDurationSeconds: int = Field(
        default=900,
        ge=900,
        le=43200,
        description="Lifetime of each stack's role session (STS allows 900 to 43200).",
    )

    @model_validator(mode="after")
    def _source_fields(self) -> Oidc:
        if self.source is TokenSourceKind.FILE and not self.tokenFile:
            raise ValueError("source: file needs tokenFile (the path of the token file)")
        if self.source is TokenSourceKind.ENV and not self.tokenEnv:
            raise ValueError("source: env needs tokenEnv (the variable holding the token)")
        if self.tokenFile and self.source is not TokenSourceKind.FILE:
            raise ValueError(f"tokenFile is only read with source: file (source is {self.source})")
        if self.tokenEnv and self.source is not TokenSourceKind.ENV:
            raise ValueError(f"tokenEnv is only read with source: env (source is {self.source})")
        return self


class SurgerySettings(Strict):
    """State surgery: how many distinct reviewers (other than the author) approve a plan."""

    approvals: dict[RiskTier, int] = Field(
        default_factory=lambda: {
            RiskTier.CRITICAL: 2,
            RiskTier.HIGH: 2,
            RiskTier.MEDIUM: 1,
            RiskTier.LOW: 1,
        },
        description="Distinct approvals a surgery plan needs, by the stack's risk tier; a "
        "tier left out needs 2.",
    )

    staleLockAfterMinutes: int = Field(
        default=120,
        ge=1,
        description="A force-unlock releases only a lock older than this: a younger one "
        "may belong to a run that is still alive.",
    )

    def required(self, tier: RiskTier) -> int:
        return max(1, self.approvals.get(tier, 2))


class Settings(Strict):
    """Registry-level settings, from ``iacdrift.yaml`` beside ``registry/``."""

    schemaVersion: Literal[1] = 1
    apiVersion: Literal["iacdrift.dev/v1"] = "iacdrift.dev/v1"
    kind: Literal["Settings"] = "Settings"
    cloud: Cloud = Field(default_factory=Cloud)
    allowAmbientCredentials: bool = Field(
        default=False,
        description="Let stacks use the ambient credentials (local use, the sandbox).",
    )
    oidc: Oidc | None = Field(
        default=None,
        description="Web identity for stack credentials; null: no token source (then only "
        "ambient credentials, where allowed).",
    )
    inventoryRoles: dict[AccountId, RoleArn] = Field(
        default_factory=dict,
        description="Per account id, the read-only role that lists live resources and reads "
        "every registered state (assumed with the web identity; never a stack's role).",
    )
    exclusions: list[Exclusion] = Field(default_factory=list)
    terraform: TerraformSettings = Field(default_factory=TerraformSettings)
    surgery: SurgerySettings = Field(default_factory=SurgerySettings)
    leaseTable: str | None = Field(
        default=None,
        description="DynamoDB table (hash key LockID) for iacdrift's per-stack orchestrator "
        "leases, e.g. the Terraform lock table; the sandbox uses its own lock table.",
    )
    context: ContextSettings | None = Field(
        default=None,
        description="Where audit logs and change records are, and which identities are "
        "break-glass or controllers; null: change records from changes/ only.",
    )

    @model_validator(mode="after")
    def _inventory_role_accounts(self) -> Settings:
        for account, arn in sorted(self.inventoryRoles.items()):
            match = re.match(ROLE_ARN_PATTERN, arn)
            if match is not None and match.group(1) != account:
                raise ValueError(
                    f"inventoryRoles: {arn} is in account {match.group(1)}, not {account}; "
                    "key each role by its own account id"
                )
        return self
