"""Token sources, STS session names, the credential resolver's decisions, and the
sandbox's role policies.

Token sources run against the real stand-in endpoint, served inside the test
process on a free loopback port. The resolver gets a small fake of STS (a
function recording what it was asked) so every branch of its decision table is
checked without a cloud; the integration tests run the real STS path.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from iacdrift.aws.session import AwsCredentials, Target
from iacdrift.aws.sts import SESSION_NAME_MAX, session_name
from iacdrift.credentials import (
    CredentialResolver,
    EnvTokenSource,
    FileTokenSource,
    GitHubActionsTokenSource,
    token_source,
)
from iacdrift.errors import CredentialsError
from iacdrift.models.finding import CredentialsSource
from iacdrift.models.registry import DriftManagedUnit, Oidc, Settings
from iacdrift.sandbox import iam
from iacdrift.sandbox import server as srv
from iacdrift.sandbox import token_endpoint as tokens
from iacdrift.sandbox.identity import sandbox_credentials, sandbox_token_source

ACCOUNT = "123456789012"
TARGET = Target("us-east-1", "http://127.0.0.1:1")


def unit(name: str, *, allow_ambient: bool = False) -> DriftManagedUnit:
    return DriftManagedUnit.model_validate(
        {
            "kind": "DriftManagedUnit",
            "metadata": {"name": name},
            "spec": {
                "type": "terraform-stack",
                "owner": "team",
                "environment": "prod",
                "riskTier": "high",
                "source": {"repo": "github.com/acme/infra-live", "path": f"stacks/{name}"},
                "state": {"backend": "s3", "bucket": "tfstate", "key": f"{name}.tfstate"},
                "credentials": {
                    "oidcRole": f"arn:aws:iam::{ACCOUNT}:role/iacdrift-{name}",
                    "allowAmbient": allow_ambient,
                },
                "schedule": {"frequency": "hourly"},
            },
        }
    )


def claims_of(jwt: str) -> dict[str, Any]:
    header, payload, signature = jwt.split(".")
    assert signature == ""
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "none", "typ": "JWT"}
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """(request URL, request token, state dir) of a stand-in served in this process."""
    request_token = "request-token-for-tests"
    with tokens.serving_in_thread(tmp_path, request_token) as url:
        yield url, request_token, tmp_path


# -- token sources -------------------------------------------------------------------


def test_github_actions_protocol_against_the_stand_in(endpoint: tuple[str, str, Path]) -> None:
    url, request_token, _ = endpoint
    source = GitHubActionsTokenSource(url, request_token, audience="sts.amazonaws.com")

    first, second = source.token("prod-network"), source.token("prod-network")

    claims = claims_of(first)
    assert claims["iss"] == "https://token.actions.githubusercontent.com"
    assert claims["aud"] == "sts.amazonaws.com"
    assert claims["sub"] == "repo:acme/infra-live:ref:refs/heads/main"
    assert claims["exp"] > claims["iat"]
    assert first != second  # a fresh token every time


def test_request_url_gets_audience_and_stack_appended() -> None:
    with_query = GitHubActionsTokenSource("https://t.example/idtoken?api-version=2.0", "x")
    without = GitHubActionsTokenSource("https://t.example/idtoken", "x", audience="aud one")
    assert with_query.url_for("prod-app") == (
        "https://t.example/idtoken?api-version=2.0&audience=sts.amazonaws.com"
        "&iacdrift_stack=prod-app"
    )
    assert without.url_for("prod-app") == (
        "https://t.example/idtoken?audience=aud+one&iacdrift_stack=prod-app"
    )


def test_request_token_never_shows_in_repr(endpoint: tuple[str, str, Path]) -> None:
    url, request_token, _ = endpoint
    assert request_token not in repr(GitHubActionsTokenSource(url, request_token))
    assert request_token not in repr(sandbox_token_source(url, request_token))


def test_refused_stack_is_a_credentials_error_naming_it(endpoint: tuple[str, str, Path]) -> None:
    url, request_token, state_dir = endpoint
    tokens.write_refusals(state_dir, ["prod-payments"])
    source = sandbox_token_source(url, request_token)

    with pytest.raises(CredentialsError) as caught:
        source.token("prod-payments")

    message = str(caught.value)
    assert message.startswith("prod-payments: the sandbox token endpoint refused a token")
    assert "HTTP 403" in message
    assert "`iacdrift sandbox token allow prod-payments`" in message
    assert "\n" not in message and request_token not in message
    assert claims_of(source.token("prod-network"))["aud"] == "sts.amazonaws.com"


def test_wrong_request_token_is_refused(endpoint: tuple[str, str, Path]) -> None:
    url, _, _ = endpoint
    with pytest.raises(
        CredentialsError, match=r"^prod-app: .* answered HTTP 401: missing or wrong"
    ):
        GitHubActionsTokenSource(url, "not-the-token").token("prod-app")


def test_unreachable_endpoint_says_what_to_do() -> None:
    url = f"http://127.0.0.1:{srv.free_port()}/token?api-version=2.0"
    with pytest.raises(CredentialsError) as caught:
        sandbox_token_source(url, "x").token("prod-app")
    message = str(caught.value)
    assert message.startswith("prod-app: the sandbox token endpoint at http://127.0.0.1:")
    assert "is unreachable" in message and "`iacdrift sandbox up`" in message


def test_github_actions_outside_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL", raising=False)
    source = GitHubActionsTokenSource.from_environment()
    with pytest.raises(CredentialsError) as caught:
        source.token("prod-iam")
    assert str(caught.value).startswith("prod-iam: no web identity token: the GitHub Actions")
    assert "permissions: id-token: write" in str(caught.value)


def test_token_file_is_read_again_for_every_stack(tmp_path: Path) -> None:
    path = tmp_path / "token"
    source = FileTokenSource(path)
    with pytest.raises(CredentialsError, match=r"^prod-app: the web identity token file .* does"):
        source.token("prod-app")
    path.write_text("first.jwt.\n")
    assert source.token("prod-app") == "first.jwt."
    path.write_text("second.jwt.")
    assert source.token("prod-iam") == "second.jwt."
    path.write_text("  \n")
    with pytest.raises(CredentialsError, match=r"^prod-iam: .* is empty"):
        source.token("prod-iam")


def test_token_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    source = EnvTokenSource("IACDRIFT_TEST_TOKEN")
    with pytest.raises(CredentialsError, match=r"^prod-app: environment variable IACDRIFT_TEST"):
        source.token("prod-app")
    monkeypatch.setenv("IACDRIFT_TEST_TOKEN", "env.jwt.")
    assert source.token("prod-app") == "env.jwt."


def test_settings_choose_the_token_source(tmp_path: Path) -> None:
    def oidc(**fields: Any) -> Oidc:
        return Oidc.model_validate(fields)

    assert token_source(None, root=tmp_path) is None
    github = token_source(oidc(source="github-actions", audience="a"), root=tmp_path, environ={})
    assert isinstance(github, GitHubActionsTokenSource) and github.audience == "a"
    file = token_source(oidc(source="file", tokenFile="t/jwt"), root=tmp_path)
    assert file == FileTokenSource(tmp_path / "t" / "jwt")
    env = token_source(oidc(source="env", tokenEnv="JWT"), root=tmp_path)
    assert isinstance(env, EnvTokenSource) and env.variable == "JWT"
    sandbox = token_source(
        oidc(source="sandbox"), root=tmp_path, sandbox=sandbox_token_source("http://u?q", "t")
    )
    assert isinstance(sandbox, GitHubActionsTokenSource)
    assert (sandbox.request_url, sandbox.label) == ("http://u?q", "the sandbox token endpoint")
    with pytest.raises(CredentialsError, match="no sandbox token endpoint was handed in"):
        token_source(oidc(source="sandbox"), root=tmp_path)
    not_running = token_source(
        oidc(source="sandbox"), root=tmp_path, sandbox=sandbox_token_source(None, None)
    )
    assert isinstance(not_running, GitHubActionsTokenSource)
    with pytest.raises(CredentialsError, match="start it with `iacdrift sandbox up`"):
        not_running.token("prod-app")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source": "file"}, "source: file needs tokenFile"),
        ({"source": "env"}, "source: env needs tokenEnv"),
        ({"source": "sandbox", "tokenFile": "x"}, "tokenFile is only read with source: file"),
        ({"source": "file", "tokenFile": "x", "sessionDurationSeconds": 60}, "greater than"),
    ],
)
def test_oidc_settings_are_strict(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Oidc.model_validate(fields)


def test_inventory_roles_are_keyed_by_their_own_account() -> None:
    arn = "arn:aws:iam::123456789012:role/iacdrift-inventory"
    settings = Settings.model_validate({"inventoryRoles": {"123456789012": arn}})
    assert settings.inventoryRoles == {"123456789012": arn}
    with pytest.raises(ValidationError, match="is in account 123456789012, not 210987654321"):
        Settings.model_validate({"inventoryRoles": {"210987654321": arn}})
    with pytest.raises(ValidationError, match="pattern"):
        Settings.model_validate({"inventoryRoles": {"12345": arn}})


# -- STS session names -------------------------------------------------------------

VALID_SESSION = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)


@pytest.mark.parametrize(
    ("stack", "run_id", "expected"),
    [
        ("prod-app", "0123456789ab", "iacdrift-prod-app-0123456789ab"),
        ("inventory", "r1", "iacdrift-inventory-r1"),
        ("weird name/ü", "run:1", "iacdrift-weird-name---run-1"),
        ("a" * 63, "0123456789ab", "iacdrift-" + "a" * 42 + "-0123456789ab"),
        ("prod-app", "", "iacdrift-prod-app"),
    ],
)
def test_session_name_is_sanitised_and_fits_sts(stack: str, run_id: str, expected: str) -> None:
    name = session_name(stack, run_id)
    assert name == expected
    assert VALID_SESSION.match(name) and len(name) <= SESSION_NAME_MAX


# -- the resolver --------------------------------------------------------------------


@dataclass
class FakeSts:
    """Stands in for sts:AssumeRoleWithWebIdentity: records calls, numbers keys."""

    calls: list[tuple[str, str, str, int]] = field(default_factory=list)
    failure: str | None = None

    def __call__(
        self, role_arn: str, session: str, token: str, duration: int, target: Target
    ) -> AwsCredentials:
        self.calls.append((role_arn, session, token, duration))
        if self.failure:
            raise CredentialsError(self.failure)
        return AwsCredentials(
            f"ASIA{len(self.calls):016d}", "secret", "session", source=CredentialsSource.OIDC
        )


@dataclass
class FakeTokens:
    refused: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def token(self, stack: str) -> str:
        self.asked.append(stack)
        if stack in self.refused:
            raise CredentialsError(f"{stack}: the token endpoint refused a token for this stack")
        return f"jwt-for-{stack}-{len(self.asked)}"


def ambient() -> AwsCredentials:
    return AwsCredentials("AKIAAMBIENT", "ambient-secret", source=CredentialsSource.AMBIENT)


def resolver(
    *,
    tokens_: FakeTokens | None = None,
    sts: FakeSts | None = None,
    allow_ambient: bool = False,
    inventory_roles: dict[str, str] | None = None,
    sandbox: bool = False,
    clock: list[float] | None = None,
) -> CredentialResolver:
    settings = Settings.model_validate(
        {
            "allowAmbientCredentials": allow_ambient,
            "oidc": {"source": "sandbox", "sessionDurationSeconds": 900},
            "inventoryRoles": inventory_roles or {},
        }
    )
    now = clock if clock is not None else [0.0]
    return CredentialResolver(
        settings,
        TARGET,
        run_id="run0000000a",
        token_source=tokens_,
        assume=sts or FakeSts(),
        ambient=sandbox_credentials if sandbox else ambient,
        clock=lambda: now[0],
    )


def test_oidc_gives_each_stack_its_own_role_and_session() -> None:
    sts, source = FakeSts(), FakeTokens()
    resolve = resolver(tokens_=source, sts=sts, allow_ambient=True)

    network = resolve.for_stack("prod-network", unit("prod-network"))
    app = resolve.for_stack("prod-app", unit("prod-app"))
    again = resolve.for_stack("prod-network", unit("prod-network"))

    assert (network.source, app.source) == ("oidc", "oidc")
    assert network.access_key_id != app.access_key_id
    assert again is network  # cached per stack within one resolver
    assert source.asked == ["prod-network", "prod-app"]  # one fresh token per stack
    assert sts.calls == [
        (
            f"arn:aws:iam::{ACCOUNT}:role/iacdrift-prod-network",
            "iacdrift-prod-network-run0000000a",
            "jwt-for-prod-network-1",
            900,
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:role/iacdrift-prod-app",
            "iacdrift-prod-app-run0000000a",
            "jwt-for-prod-app-2",
            900,
        ),
    ]


def test_expired_session_is_assumed_again() -> None:
    sts, clock = FakeSts(), [0.0]
    resolve = resolver(tokens_=FakeTokens(), sts=sts, clock=clock)
    first = resolve.for_stack("prod-app", unit("prod-app"))
    clock[0] = 900 - 121
    assert resolve.for_stack("prod-app", unit("prod-app")) is first
    clock[0] = 900 - 119  # inside the renewal margin
    assert resolve.for_stack("prod-app", unit("prod-app")) != first
    assert len(sts.calls) == 2


@pytest.mark.parametrize(
    ("entry_allows", "settings_allow", "sandbox", "source"),
    [
        (True, False, False, "ambient"),
        (False, True, False, "ambient"),
        (True, False, True, "sandbox"),
        (False, True, True, "sandbox"),
    ],
)
def test_without_a_token_source_ambient_only_where_allowed(
    entry_allows: bool, settings_allow: bool, sandbox: bool, source: str
) -> None:
    sts = FakeSts()
    resolve = resolver(sts=sts, allow_ambient=settings_allow, sandbox=sandbox)
    got = resolve.for_stack("prod-app", unit("prod-app", allow_ambient=entry_allows))
    assert got.source == source
    assert sts.calls == []
    if sandbox:
        assert got.access_key_id == srv.ACCESS_KEY_ID


def test_without_a_token_source_or_ambient_permission_is_an_error() -> None:
    with pytest.raises(CredentialsError) as caught:
        resolver().for_stack("prod-app", unit("prod-app"))
    message = str(caught.value)
    assert message.startswith("prod-app: no web identity configured to assume arn:aws:iam::")
    assert "allowAmbientCredentials: true" in message


def test_unregistered_directory_never_gets_a_role() -> None:
    sts = FakeSts()
    assert (
        resolver(tokens_=FakeTokens(), sts=sts, allow_ambient=True).for_stack("scratch", None)
        == ambient()
    )
    assert sts.calls == []
    with pytest.raises(CredentialsError, match=r"^scratch: not a registered stack"):
        resolver(tokens_=FakeTokens()).for_stack("scratch", None)


def test_refusal_without_explicit_entry_permission_is_an_error() -> None:
    # The settings allow ambient credentials, but that never turns a failed OIDC
    # exchange into ambient: only the stack's own entry can.
    source = FakeTokens(refused={"prod-payments"})
    resolve = resolver(tokens_=source, allow_ambient=True)
    with pytest.raises(CredentialsError, match=r"^prod-payments: the token endpoint refused"):
        resolve.for_stack("prod-payments", unit("prod-payments"))
    assert resolve.for_stack("prod-app", unit("prod-app")).source == "oidc"
    assert resolve.fallback_reason("prod-payments") is None


def test_refusal_with_explicit_entry_permission_falls_back_and_says_so() -> None:
    source = FakeTokens(refused={"prod-payments"})
    resolve = resolver(tokens_=source)
    got = resolve.for_stack("prod-payments", unit("prod-payments", allow_ambient=True))
    assert got.source == "ambient-fallback"
    assert got.access_key_id == ambient().access_key_id
    reason = resolve.fallback_reason("prod-payments")
    assert reason is not None and "refused a token" in reason


def test_sts_failure_names_the_stack() -> None:
    sts = FakeSts(failure="assuming arn:... with the web identity was refused: AccessDenied")
    with pytest.raises(CredentialsError, match=r"^prod-iam: assuming arn:\.\.\. with the web"):
        resolver(tokens_=FakeTokens(), sts=sts).for_stack("prod-iam", unit("prod-iam"))


def test_seeded_credentials_are_used_without_a_token() -> None:
    source, sts = FakeTokens(), FakeSts()
    resolve = resolver(tokens_=source, sts=sts)
    seeded = AwsCredentials("ASIASEEDED", "s", "t", source=CredentialsSource.OIDC)
    resolve.seed("prod-app", seeded)
    assert resolve.for_stack("prod-app", unit("prod-app")) is seeded
    assert (source.asked, sts.calls) == ([], [])


INVENTORY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/iacdrift-inventory"


def test_inventory_assumes_its_own_read_only_role() -> None:
    sts = FakeSts()
    resolve = resolver(tokens_=FakeTokens(), sts=sts, inventory_roles={ACCOUNT: INVENTORY_ROLE})
    got = resolve.for_inventory()
    assert got.source == "oidc"
    assert resolve.for_inventory(ACCOUNT) is got
    assert [(c[0], c[1]) for c in sts.calls] == [(INVENTORY_ROLE, "iacdrift-inventory-run0000000a")]


def test_inventory_without_a_role() -> None:
    assert resolver(tokens_=FakeTokens(), allow_ambient=True).for_inventory().source == "ambient"
    with pytest.raises(CredentialsError) as caught:
        resolver(tokens_=FakeTokens()).for_inventory("210987654321")
    message = str(caught.value)
    assert message.startswith("inventory (account 210987654321): no inventory role")
    assert '"210987654321": arn:aws:iam::210987654321:role/' in message


def test_inventory_refusal_does_not_fall_back() -> None:
    resolve = resolver(
        tokens_=FakeTokens(refused={"inventory"}),
        allow_ambient=True,
        inventory_roles={ACCOUNT: INVENTORY_ROLE},
    )
    with pytest.raises(CredentialsError, match=r"^inventory: the token endpoint refused"):
        resolve.for_inventory()


def test_orchestrator_is_never_a_stack_role() -> None:
    sts, source = FakeSts(), FakeTokens()
    got = resolver(tokens_=source, sts=sts, sandbox=True).orchestrator()
    assert (got.access_key_id, got.source) == (srv.ACCESS_KEY_ID, "sandbox")
    assert (source.asked, sts.calls) == ([], [])


# -- the sandbox's roles -------------------------------------------------------------


def access(stack: str, **fields: Any) -> iam.StackAccess:
    values: dict[str, Any] = {
        "stack": stack,
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/iacdrift-{stack}",
        "state_bucket": "tfstate",
        "state_key": f"prod/{stack}.tfstate",
        "lock_table": None,
        "resource_types": frozenset(),
        "remote_state_reads": frozenset(),
        **fields,
    }
    return iam.StackAccess(**values)


def statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_stack_policy_covers_its_state_reads_and_resources() -> None:
    policy = statements(
        iam.stack_policy(
            access(
                "app",
                resource_types=frozenset({"aws_security_group", "aws_s3_bucket", "aws_foo"}),
                remote_state_reads=frozenset({("tfstate", "prod/network.tfstate")}),
            )
        )
    )
    assert policy["OwnStateAndLockfile"]["Resource"] == [
        "arn:aws:s3:::tfstate/prod/app.tfstate",
        "arn:aws:s3:::tfstate/prod/app.tfstate.tflock",
    ]
    assert policy["ReadRemoteState"] == {
        "Sid": "ReadRemoteState",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::tfstate/prod/network.tfstate"],
    }
    assert policy["OwnBuckets"]["Resource"] == [
        "arn:aws:s3:::iacdrift-demo-*",
        "arn:aws:s3:::iacdrift-demo-*/*",
    ]
    # The version history of its own state only (a restored older state is seen).
    assert policy["ListOwnStateVersions"]["Action"] == ["s3:ListBucketVersions"]
    assert policy["ListOwnStateVersions"]["Resource"] == ["arn:aws:s3:::tfstate"]
    assert policy["ListOwnStateVersions"]["Condition"] == {
        "StringLike": {"s3:prefix": ["prod/app.tfstate"]}
    }
    assert policy["ReadOwnStateVersions"]["Action"] == ["s3:GetObjectVersion"]
    assert policy["ReadOwnStateVersions"]["Resource"] == ["arn:aws:s3:::tfstate/prod/app.tfstate"]
    assert set(policy) == {
        "OwnStateAndLockfile",
        "ListStateBucket",
        "ListOwnStateVersions",
        "ReadOwnStateVersions",
        "ReadRemoteState",
        "EC2",
        "OwnBuckets",
    }
    assert iam.services_for({"aws_security_group", "aws_foo"}) == ({"ec2"}, ["aws_foo"])


def test_stack_policy_narrows_buckets_and_locks_with_dynamodb() -> None:
    policy = statements(
        iam.stack_policy(
            access(
                "staging",
                lock_table="locks",
                resource_types=frozenset({"aws_s3_bucket", "aws_iam_role"}),
                bucket_names=frozenset({"b-two", "b-one"}),
            )
        )
    )
    assert policy["OwnBuckets"]["Resource"] == [
        "arn:aws:s3:::b-one",
        "arn:aws:s3:::b-one/*",
        "arn:aws:s3:::b-two",
        "arn:aws:s3:::b-two/*",
    ]
    assert policy["DynamoDB"]["Resource"] == ["*"]
    assert policy["NotIacdriftRoles"]["Effect"] == "Deny"
    assert "ReadRemoteState" not in policy


def test_inventory_role_reads_states_and_writes_nothing() -> None:
    policy = iam.inventory_policy(["tfstate"])
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert "s3:GetObject" in actions
    assert not [a for a in actions if a.startswith(("s3:Put", "s3:Delete")) or a.endswith(":*")]


def test_sts_client_reads_nothing_ambient(monkeypatch: pytest.MonkeyPatch) -> None:
    from iacdrift.aws.sts import _sts_client

    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://elsewhere.invalid")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    assert _sts_client(TARGET).meta.endpoint_url == TARGET.endpoint_url
    real = _sts_client(Target("eu-west-1"))
    assert real.meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"
