"""`cloud.target: endpoint`: the settings it takes, what it refuses, and how its URLs
reach boto3 and Terraform (as data: the environment values and -backend-config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iacdrift.aws.session import SERVICES, Target, endpoint_target, endpoint_variable
from iacdrift.errors import InputError, RegistryError
from iacdrift.loaders.registry import load_project
from iacdrift.models.registry import Cloud, CloudTarget, endpoint_url_problem


def settings_error(tmp_path: Path, cloud: str) -> str:
    (tmp_path / "registry").mkdir(exist_ok=True)
    (tmp_path / "iacdrift.yaml").write_text(f"cloud: {cloud}\n", encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_project(cwd=tmp_path)
    return caught.value.message


def test_an_endpoint_target_takes_a_url_and_per_service_overrides(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "iacdrift.yaml").write_text(
        "cloud:\n  target: endpoint\n  region: eu-west-1\n"
        "  endpointUrl: http://localhost:4566\n"
        "  endpoints: {s3: 'https://s3-fips.eu-west-1.amazonaws.com', sts: 'http://127.0.0.1:9'}\n",
        encoding="utf-8",
    )

    cloud = load_project(cwd=tmp_path).settings.cloud

    assert cloud.target is CloudTarget.ENDPOINT
    target = endpoint_target(cloud)
    assert target.url_for("s3") == "https://s3-fips.eu-west-1.amazonaws.com"
    assert target.url_for("sts") == "http://127.0.0.1:9"
    assert target.url_for("dynamodb") == "http://localhost:4566"
    assert target.with_region("us-east-1").url_for("s3") == target.url_for("s3")
    assert target.urls() == (
        "http://127.0.0.1:9",
        "http://localhost:4566",
        "https://s3-fips.eu-west-1.amazonaws.com",
    )


def test_plain_http_to_a_host_that_is_not_loopback_is_refused(tmp_path: Path) -> None:
    message = settings_error(
        tmp_path, "{target: endpoint, endpointUrl: 'http://moto.ci.internal:5000'}"
    )

    assert message.startswith("iacdrift.yaml: cloud: endpointUrl: http://moto.ci.internal:5000 ")
    assert "allowInsecureEndpoint: true" in message
    assert "\n" not in message


def test_an_override_is_held_to_the_same_rule(tmp_path: Path) -> None:
    message = settings_error(
        tmp_path,
        "{target: endpoint, endpointUrl: 'http://localhost:4566', "
        "endpoints: {s3: 'http://10.1.2.3:4566'}}",
    )

    assert "cloud: endpoints.s3: http://10.1.2.3:4566 is plain http" in message


def test_allow_insecure_endpoint_lets_plain_http_through() -> None:
    cloud = Cloud(
        target=CloudTarget.ENDPOINT,
        endpointUrl="http://moto.ci.internal:5000",
        allowInsecureEndpoint=True,
    )

    assert endpoint_target(cloud).endpoint_url == "http://moto.ci.internal:5000"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:4566",
        "http://127.0.0.1:5000",
        "http://127.8.9.10",
        "http://[::1]:4566",
        "https://aws.example.internal",
        "https://s3-fips.us-east-1.amazonaws.com/",
    ],
)
def test_urls_that_are_accepted(url: str) -> None:
    assert endpoint_url_problem(url, allow_insecure=False) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://10.0.0.5:4566", "plain http"),
        ("http://169.254.169.254", "plain http"),
        ("ftp://localhost", "not an http(s) URL"),
        ("localhost:4566", "not an http(s) URL"),
        ("http://:4566", "not an http(s) URL"),
        ("https://user:secret@aws.example.internal", "user info"),
        ("https://aws.example.internal?x=1", "query or fragment"),
        ("http://localhost:0", "valid port"),
        ("http://localhost:70000", "valid port"),
    ],
)
def test_urls_that_are_refused(url: str, says: str) -> None:
    problem = endpoint_url_problem(url, allow_insecure=False)

    assert problem is not None and says in problem
    assert "secret" not in problem  # user info is never echoed


def test_the_endpoint_fields_belong_to_target_endpoint(tmp_path: Path) -> None:
    assert "needs endpointUrl" in settings_error(tmp_path, "{target: endpoint}")
    assert "endpointUrl is only read with target: endpoint" in settings_error(
        tmp_path, "{target: aws, endpointUrl: 'https://x.example'}"
    )
    assert "endpoints is only read with target: endpoint" in settings_error(
        tmp_path, "{target: sandbox, endpoints: {s3: 'https://x.example'}}"
    )
    assert "allowInsecureEndpoint is only read" in settings_error(
        tmp_path, "{target: aws, allowInsecureEndpoint: true}"
    )


def test_an_override_for_a_service_the_sdk_does_not_know_is_bad_input() -> None:
    cloud = Cloud(
        target=CloudTarget.ENDPOINT,
        endpointUrl="http://localhost:4566",
        endpoints={"s4": "http://localhost:4567"},
    )

    with pytest.raises(InputError, match=r"^iacdrift.yaml: cloud.endpoints.s4: not an AWS"):
        endpoint_target(cloud)


def test_the_sdk_names_each_services_endpoint_variable() -> None:
    # The AWS SDKs name it after the service id, not the client name.
    assert endpoint_variable("secretsmanager") == "AWS_ENDPOINT_URL_SECRETS_MANAGER"
    assert endpoint_variable("s3") == "AWS_ENDPOINT_URL_S3"
    assert endpoint_variable("dynamodb") == "AWS_ENDPOINT_URL_DYNAMODB"
    assert endpoint_variable("logs") == "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"


def test_terraform_gets_every_services_url_through_the_environment() -> None:
    target = Target(
        "eu-west-1",
        "http://localhost:4566",
        (("kms", "https://kms.example"), ("s3", "https://s3.x")),
    )

    values = target.stack_values()

    assert values["AWS_REGION"] == values["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert values["AWS_ENDPOINT_URL"] == "http://localhost:4566"
    assert values["AWS_ENDPOINT_URL_S3"] == "https://s3.x"
    assert values["AWS_ENDPOINT_URL_KMS"] == "https://kms.example"
    for service in set(SERVICES) - {"s3"}:
        assert values[endpoint_variable(service)] == "http://localhost:4566"
    # Provider aws 3.x reads one endpoint, from the stacks' `aws_endpoint` variable.
    assert values["TF_VAR_aws_endpoint"] == "http://localhost:4566"


def test_real_aws_gets_no_endpoint_values() -> None:
    assert Target("us-east-1").stack_values() == {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
