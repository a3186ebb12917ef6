"""Benchmark of the pure detection core against a plain ``json.load``.

    python bench/bench_core.py [--resources 10000] [--seed 7]

Generates, in a temporary directory, the ``show -json`` plan document and the
state of a stack of N resources shaped like the captured fixtures (Terraform
1.15, hashicorp/aws 3.39): a mix of security groups, S3 buckets, IAM roles,
policies and attachments, secrets and databases with sensitive values. About
3% of them have drifted (out of band, recorded != actual, deleted, desired !=
recorded) and about 1% carry provider read noise.

Then, in this one process, best of 3 each:

* baseline: ``json.load`` of the plan file;
* core: reading and parsing state and plan with ``load_json`` (``json.loads``
  with the cyclic collector paused), ``read_state``, ``read_plan`` and
  ``analyze`` (redact, normalize, diff, three-plane decision). The same run
  with a plain ``json.load`` is printed too, to show what the pause is worth.

It prints both times, their ratio, the file sizes and the peak memory of one
core run (tracemalloc, measured in a separate run because tracing slows Python
down) as a multiple of the plan file's size, with PASS/MISS against the
targets: core under 1 s at 10,000 resources, peak under 10x the file size.
It is a measurement, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from iacdrift.core.planes import analyze  # noqa: E402
from iacdrift.core.terraform_json import read_plan, read_state  # noqa: E402
from iacdrift.loaders.terraform_json import load_json  # noqa: E402

TIME_TARGET_SECONDS = 1.0
MEMORY_TARGET_MULTIPLE = 10.0
ACCOUNT = "123456789012"
PROVIDER = "registry.terraform.io/hashicorp/aws"
SALT = b"bench-salt"

Values = dict[str, Any]


# --- resource bodies, as the aws provider 3.39 writes them ------------------


def _tags(rng: random.Random, name: str) -> dict[str, str]:
    tags = {"Name": name, "environment": "prod", "owner": f"team-{rng.choice('abcdefgh')}"}
    if rng.random() < 0.5:
        tags["cost-center"] = str(rng.randint(1000, 9999))
    return tags


def _rule(port: int, cidr: str, description: str) -> Values:
    return {
        "cidr_blocks": [cidr],
        "description": description,
        "from_port": port,
        "ipv6_cidr_blocks": [],
        "prefix_list_ids": [],
        "protocol": "tcp",
        "security_groups": [],
        "self": False,
        "to_port": port,
    }


def security_group(rng: random.Random, i: int) -> tuple[Values, Values]:
    sg = f"sg-{i:017x}"
    name = f"app-{i}"
    ingress = [
        _rule(p, f"10.{i % 250}.0.0/16", f"port {p}")
        for p in sorted(rng.sample([80, 443, 5432, 6379, 8080, 9090], 2))
    ]
    values: Values = {
        "arn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{sg}",
        "description": f"application tier {i}",
        "egress": [
            {**_rule(0, "0.0.0.0/0", ""), "protocol": "-1"},
        ],
        "id": sg,
        "ingress": ingress,
        "name": name,
        "name_prefix": "",
        "owner_id": ACCOUNT,
        "revoke_rules_on_delete": False,
        "tags": _tags(rng, name),
        "tags_all": {},
        "timeouts": None,
        "vpc_id": "vpc-8ad48a12156892dce",
    }
    values["tags_all"] = dict(values["tags"])
    return values, _mask_like(values)


def bucket(rng: random.Random, i: int) -> tuple[Values, Values]:
    name = f"estate-bucket-{i}"
    values: Values = {
        "acceleration_status": "",
        "acl": "private",
        "arn": f"arn:aws:s3:::{name}",
        "bucket": name,
        "bucket_domain_name": f"{name}.s3.amazonaws.com",
        "bucket_prefix": None,
        "bucket_regional_domain_name": f"{name}.s3.amazonaws.com",
        "cors_rule": [],
        "force_destroy": False,
        "grant": [],
        "hosted_zone_id": "Z3AQBSTGFYJSTF",
        "id": name,
        "lifecycle_rule": [],
        "logging": [],
        "object_lock_configuration": [],
        "policy": None,
        "region": "us-east-1",
        "replication_configuration": [],
        "request_payer": "BucketOwner",
        "server_side_encryption_configuration": [],
        "tags": _tags(rng, name),
        "tags_all": {},
        "versioning": [{"enabled": rng.random() < 0.5, "mfa_delete": False}],
        "website": [],
        "website_domain": None,
        "website_endpoint": None,
    }
    values["tags_all"] = dict(values["tags"])
    return values, _mask_like(values)


def _policy(rng: random.Random, i: int) -> str:
    actions = sorted(
        rng.sample(["s3:GetObject", "s3:ListBucket", "s3:PutObject", "kms:Decrypt"], 2)
    )
    return json.dumps(
        {
            "Statement": [
                {
                    "Action": actions,
                    "Effect": "Allow",
                    "Resource": [
                        f"arn:aws:s3:::estate-bucket-{i}",
                        f"arn:aws:s3:::estate-bucket-{i}/*",
                    ],
                }
            ],
            "Version": "2012-10-17",
        },
        separators=(",", ":"),
    )


def role(rng: random.Random, i: int) -> tuple[Values, Values]:
    name = f"service-{i}"
    values: Values = {
        "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "assume_role_policy": json.dumps(
            {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    }
                ],
                "Version": "2012-10-17",
            },
            separators=(",", ":"),
        ),
        "create_date": "2026-11-25T13:07:43Z",
        "description": "",
        "force_detach_policies": False,
        "id": name,
        "inline_policy": [{"name": "", "policy": ""}],
        "managed_policy_arns": [f"arn:aws:iam::{ACCOUNT}:policy/policy-{i}"],
        "max_session_duration": 3600,
        "name": name,
        "name_prefix": None,
        "path": "/",
        "permissions_boundary": None,
        "tags": _tags(rng, name),
        "tags_all": {},
        "unique_id": f"AROA{i:017d}",
    }
    values["tags_all"] = dict(values["tags"])
    return values, _mask_like(values)


def policy(rng: random.Random, i: int) -> tuple[Values, Values]:
    name = f"policy-{i}"
    values: Values = {
        "arn": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "description": f"access for service {i}",
        "id": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "name": name,
        "name_prefix": None,
        "path": "/",
        "policy": _policy(rng, i),
        "policy_id": f"ANPA{i:017d}",
        "tags": {},
        "tags_all": {},
    }
    return values, _mask_like(values)


def attachment(rng: random.Random, i: int) -> tuple[Values, Values]:
    values: Values = {
        "id": f"service-{i}-{rng.randint(10**9, 10**10)}",
        "policy_arn": f"arn:aws:iam::{ACCOUNT}:policy/policy-{i}",
        "role": f"service-{i}",
    }
    return values, {}


def secret_version(rng: random.Random, i: int) -> tuple[Values, Values]:
    values: Values = {
        "arn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app-{i}-AbCdEf",
        "id": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app-{i}-AbCdEf|v{i}",
        "secret_binary": None,
        "secret_id": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app-{i}-AbCdEf",
        "secret_string": f"s3cr3t-{rng.getrandbits(64):016x}",
        "version_id": f"v{i}",
        "version_stages": ["AWSCURRENT"],
    }
    return values, {"secret_binary": True, "secret_string": True, "version_stages": [False]}


def database(rng: random.Random, i: int) -> tuple[Values, Values]:
    values: Values = {
        "address": f"db-{i}.cluster.us-east-1.rds.amazonaws.com",
        "allocated_storage": 20,
        "arn": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:db-{i}",
        "engine": "postgres",
        "engine_version": "13.4",
        "id": f"db-{i}",
        "identifier": f"db-{i}",
        "instance_class": "db.t3.micro",
        "password": f"pw-{rng.getrandbits(64):016x}",
        "skip_final_snapshot": True,
        "tags": _tags(rng, f"db-{i}"),
        "tags_all": {},
        "username": "app",
        "vpc_security_group_ids": [f"sg-{i:017x}"],
    }
    values["tags_all"] = dict(values["tags"])
    mask = _mask_like(values)
    mask["password"] = True
    return values, mask


def _mask_like(value: Any) -> Any:
    """Terraform's SensitiveAsBool for a value with nothing sensitive."""
    if isinstance(value, dict):
        out = {k: _mask_like(v) for k, v in value.items() if isinstance(v, dict | list)}
        return out
    if isinstance(value, list):
        return [_mask_like(v) if isinstance(v, dict | list) else False for v in value]
    return False


MAKERS: list[tuple[str, Callable[[random.Random, int], tuple[Values, Values]], int]] = [
    ("aws_security_group", security_group, 25),
    ("aws_s3_bucket", bucket, 20),
    ("aws_iam_role", role, 15),
    ("aws_iam_policy", policy, 15),
    ("aws_iam_role_policy_attachment", attachment, 15),
    ("aws_secretsmanager_secret_version", secret_version, 5),
    ("aws_db_instance", database, 5),
]


# --- drift kinds --------------------------------------------------------------


def _drifted_copy(type_name: str, values: Values, rng: random.Random) -> Values:
    """What the provider reads after someone changed the object out of band."""
    actual = copy.deepcopy(values)
    if type_name == "aws_security_group":
        actual["ingress"] = [_rule(22, "0.0.0.0/0", "debug"), *actual["ingress"]]
    elif type_name == "aws_iam_role":
        actual["managed_policy_arns"] = [
            *actual["managed_policy_arns"],
            "arn:aws:iam::aws:policy/AdministratorAccess",
        ]
    elif "secret_string" in actual:
        actual["secret_string"] = f"rotated-{rng.getrandbits(64):016x}"
    elif "password" in actual:
        actual["password"] = f"changed-{rng.getrandbits(64):016x}"
    elif isinstance(actual.get("tags"), dict) and actual["tags"]:
        actual["tags"]["data-class"] = "public"
        actual["tags_all"] = dict(actual["tags"])
    else:
        actual["description"] = "edited in the console"
    return actual


def _noisy_copy(values: Values) -> Values:
    """The same object as the provider reads it back differently."""
    actual = copy.deepcopy(values)
    if isinstance(actual.get("policy"), str):
        # Same policy, other key order and a scalar Action: IAM read noise.
        doc = json.loads(actual["policy"])
        doc["Statement"][0]["Resource"] = list(reversed(doc["Statement"][0]["Resource"]))
        actual["policy"] = json.dumps(doc, sort_keys=False, indent=None)
        actual["tags"] = None
    elif "ingress" in actual:
        actual["ingress"] = list(reversed(actual["ingress"]))
    else:
        actual["tags"] = actual.get("tags") or {}
        actual["description"] = actual.get("description") or None
    return actual


def _entry(
    address: str,
    module: str | None,
    type_name: str,
    name: str,
    index: int,
    actions: list[str],
    before: Values | None,
    after: Values | None,
    mask: Values,
    after_unknown: Values | None = None,
) -> Values:
    entry: Values = {
        "address": address,
        "change": {
            "actions": actions,
            "after": after,
            "after_sensitive": mask if after is not None else False,
            "after_unknown": after_unknown or {},
            "before": before,
            "before_sensitive": mask if before is not None else False,
        },
        "index": index,
        "mode": "managed",
        "name": name,
        "provider_name": PROVIDER,
        "type": type_name,
    }
    if module:
        entry["module_address"] = module
    return entry


def generate(count: int, seed: int) -> tuple[Values, Values, Counter[str]]:
    """(plan document, state document, how many resources of each drift kind)."""
    rng = random.Random(seed)
    weights = [w for _, _, w in MAKERS]
    kinds: Counter[str] = Counter()
    changes: list[Values] = []
    drift: list[Values] = []
    prior: list[Values] = []
    planned: list[Values] = []
    state_resources: list[Values] = []
    config: list[Values] = []
    for i in range(count):
        type_name, maker, _ = rng.choices(MAKERS, weights)[0]
        module = f'module.unit["u{i // 50}"]'
        name = "this"
        address = f"{module}.{type_name}.{name}[{i % 50}]"
        recorded, mask = maker(rng, i)
        roll = rng.random()
        common = {
            "address": address,
            "mode": "managed",
            "name": name,
            "index": i % 50,
            "provider_name": PROVIDER,
            "schema_version": 0,
            "type": type_name,
        }
        prior.append({**common, "sensitive_values": mask, "values": recorded})
        state_resources.append(
            {
                "instances": [
                    {
                        "attributes": recorded,
                        "index_key": i % 50,
                        "private": "eyJzY2hlbWFfdmVyc2lvbiI6IjEifQ==",
                        "schema_version": 0,
                        "sensitive_attributes": [],
                    }
                ],
                "mode": "managed",
                "module": module,
                "name": name,
                "provider": f'provider["{PROVIDER}"]',
                "type": type_name,
            }
        )
        if i % 50 == 0:
            config.append(
                {
                    "address": f"{type_name}.{name}",
                    "expressions": {
                        key: {"references": [f"var.{key}"]} for key in sorted(recorded)[:6]
                    },
                    "mode": "managed",
                    "name": name,
                    "provider_config_key": "aws",
                    "type": type_name,
                }
            )
        if roll < 0.012:
            kinds["out-of-band"] += 1
            actual = _drifted_copy(type_name, recorded, rng)
            drift.append(
                _entry(address, module, type_name, name, i % 50, ["update"], recorded, actual, mask)
            )
            changes.append(
                _entry(address, module, type_name, name, i % 50, ["update"], actual, recorded, mask)
            )
            planned.append({**common, "sensitive_values": mask, "values": recorded})
        elif roll < 0.020:
            kinds["recorded!=actual"] += 1
            actual = _drifted_copy(type_name, recorded, rng)
            drift.append(
                _entry(address, module, type_name, name, i % 50, ["update"], recorded, actual, mask)
            )
            changes.append(
                _entry(address, module, type_name, name, i % 50, ["no-op"], actual, actual, mask)
            )
            planned.append({**common, "sensitive_values": mask, "values": actual})
        elif roll < 0.024:
            kinds["missing-in-actual"] += 1
            drift.append(
                _entry(address, module, type_name, name, i % 50, ["delete"], recorded, None, mask)
            )
            unknown = {"arn": True, "id": True}
            desired = {k: v for k, v in recorded.items() if k not in unknown}
            changes.append(
                _entry(
                    address,
                    module,
                    type_name,
                    name,
                    i % 50,
                    ["create"],
                    None,
                    desired,
                    mask,
                    unknown,
                )
            )
            planned.append({**common, "sensitive_values": mask, "values": desired})
        elif roll < 0.030:
            kinds["desired!=recorded"] += 1
            desired = copy.deepcopy(recorded)
            desired["tags"] = {**(desired.get("tags") or {}), "release": "2026-11"}
            if "tags_all" in desired:
                desired["tags_all"] = dict(desired["tags"])
            changes.append(
                _entry(
                    address, module, type_name, name, i % 50, ["update"], recorded, desired, mask
                )
            )
            planned.append({**common, "sensitive_values": mask, "values": desired})
        elif roll < 0.040:
            kinds["noise"] += 1
            actual = _noisy_copy(recorded)
            drift.append(
                _entry(address, module, type_name, name, i % 50, ["update"], recorded, actual, mask)
            )
            changes.append(
                _entry(address, module, type_name, name, i % 50, ["no-op"], actual, actual, mask)
            )
            planned.append({**common, "sensitive_values": mask, "values": actual})
        else:
            kinds["clean"] += 1
            changes.append(
                _entry(
                    address, module, type_name, name, i % 50, ["no-op"], recorded, recorded, mask
                )
            )
            planned.append({**common, "sensitive_values": mask, "values": recorded})
    plan: Values = {
        "applyable": True,
        "complete": True,
        "configuration": {
            "provider_config": {
                "aws": {"full_name": PROVIDER, "name": "aws", "version_constraint": "3.39.0"}
            },
            "root_module": {
                "module_calls": {
                    "unit": {"module": {"resources": config}, "source": "./modules/unit"}
                }
            },
        },
        "errored": False,
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": planned}},
        "prior_state": {
            "format_version": "1.0",
            "terraform_version": "1.15.5",
            "values": {"root_module": {"resources": prior}},
        },
        "relevant_attributes": [],
        "resource_changes": changes,
        "resource_drift": drift,
        "terraform_version": "1.15.5",
        "timestamp": "2026-11-25T13:08:00Z",
        "variables": {},
    }
    state: Values = {
        "check_results": None,
        "lineage": "7203f719-53db-405a-d4a9-22fcb098c51e",
        "outputs": {},
        "resources": state_resources,
        "serial": 42,
        "terraform_version": "1.15.5",
        "version": 4,
    }
    return plan, state, kinds


# --- measurement --------------------------------------------------------------


def run_core(
    plan_path: Path, state_path: Path, *, plain_load: bool = False
) -> tuple[int, dict[str, float]]:
    """The core on the two files; returns (divergences, seconds per step).

    ``plain_load`` parses with ``json.load`` (collector running) instead of
    ``load_json``, to show what pausing the collector is worth.
    """

    def parse(path: Path) -> Any:
        if plain_load:
            with path.open("rb") as handle:
                return json.load(handle)
        return load_json(path.read_bytes(), path.name)

    t0 = time.perf_counter()
    state_data = parse(state_path)
    t1 = time.perf_counter()
    state = read_state(state_data, state_path.name)
    del state_data  # the raw state holds every secret; keep only the view
    t2 = time.perf_counter()
    plan_data = parse(plan_path)
    t3 = time.perf_counter()
    plan = read_plan(plan_data, plan_path.name)
    del plan_data
    t4 = time.perf_counter()
    found = analyze(plan, salt=SALT)
    t5 = time.perf_counter()
    steps = {
        "load state": t1 - t0,
        "read_state": t2 - t1,
        "load plan": t3 - t2,
        "read_plan": t4 - t3,
        "analyze": t5 - t4,
    }
    assert state.resources
    return len(found), steps


def best_core(
    plan_path: Path, state_path: Path, *, plain_load: bool = False
) -> tuple[float, dict[str, float], int]:
    best, best_steps, found = float("inf"), {}, 0
    for _ in range(3):
        gc.collect()
        started = time.perf_counter()
        found, steps = run_core(plan_path, state_path, plain_load=plain_load)
        elapsed = time.perf_counter() - started
        if elapsed < best:
            best, best_steps = elapsed, steps
    return best, best_steps, found


def best_of(times: int, func: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    result: Any = None
    for _ in range(times):
        gc.collect()
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="iacdrift-bench-") as tmp:
        plan_doc, state_doc, kinds = generate(args.resources, args.seed)
        plan_path = Path(tmp) / "plan.json"
        state_path = Path(tmp) / "state.json"
        plan_path.write_text(json.dumps(plan_doc, separators=(",", ":")))
        state_path.write_text(json.dumps(state_doc, indent=2))
        del plan_doc, state_doc
        plan_size = plan_path.stat().st_size
        state_size = state_path.stat().st_size

        def load_plan() -> Any:
            with plan_path.open("rb") as handle:
                return json.load(handle)

        baseline, _ = best_of(3, load_plan)
        core_best, best_steps, divergences = best_core(plan_path, state_path)
        plain_best, _, _ = best_core(plan_path, state_path, plain_load=True)

        gc.collect()
        tracemalloc.start()
        run_core(plan_path, state_path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    multiple = peak / plan_size
    mix = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
    print(f"resources            {args.resources} ({mix})")
    print(f"plan file            {plan_size / 1e6:.1f} MB; state file {state_size / 1e6:.1f} MB")
    print(f"divergences found    {divergences}")
    print(f"json.load plan       {baseline:.3f} s (baseline, best of 3)")
    print(
        f"core                 {core_best:.3f} s (best of 3), {core_best / baseline:.2f}x baseline"
    )
    for step, seconds in best_steps.items():
        print(f"  {step:<18} {seconds:.3f} s")
    own = best_steps["read_state"] + best_steps["read_plan"] + best_steps["analyze"]
    print(f"  without loading    {own:.3f} s")
    print(f"core, plain json.load {plain_best:.3f} s (collector running while parsing)")
    print(f"peak memory          {peak / 1e6:.1f} MB = {multiple:.1f}x plan file (tracemalloc)")
    time_ok = core_best < TIME_TARGET_SECONDS
    memory_ok = multiple < MEMORY_TARGET_MULTIPLE
    print(f"target time   < {TIME_TARGET_SECONDS:.0f} s        {'PASS' if time_ok else 'MISS'}")
    print(
        f"target memory < {MEMORY_TARGET_MULTIPLE:.0f}x file     {'PASS' if memory_ok else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
