"""The environment of a Terraform child: an allowlist plus one stack's own values.

Never a copy of ``os.environ``: a scheduler's environment holds other stacks'
credentials, CI tokens and a ``TF_CLI_CONFIG_FILE`` we do not control (this
machine image points it at a file that does not exist). The child gets:

* the allowlisted variables of the parent (locale, CA bundles, proxies, PATH),
* our own Terraform settings (generated CLI config, no input, no checkpoint),
* a private HOME and TMPDIR,
* with ``--tf-log`` only: ``TF_LOG`` and ``TF_LOG_PATH`` (a file of our own; never
  stderr, which we read),
* the stack's values: its credentials, region, endpoints and ``TF_VAR_*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

# Names copied from the parent when present. Nothing credential-bearing is here:
# credentials only ever come from the stack's own values.
ALLOWED_PARENT_VARIABLES: frozenset[str] = frozenset(
    {
        "PATH",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "AWS_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)

# Prefixes a stack's own values may use. Anything else is refused, so a bug can
# not smuggle e.g. TF_CLI_CONFIG_FILE or TF_LOG_PATH in through "stack values".
STACK_VARIABLE_PREFIXES: tuple[str, ...] = ("AWS_", "TF_VAR_")
STACK_VARIABLES_REFUSED: frozenset[str] = frozenset(
    {"AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}
)


def build_child_env(
    *,
    parent: Mapping[str, str],
    stack_values: Mapping[str, str],
    cli_config: Path,
    home: Path,
    tmpdir: Path,
    log: tuple[str, Path] | None = None,
) -> dict[str, str]:
    """Return the complete environment of one Terraform call (``log``: TF_LOG's
    level and the file Terraform appends its log to)."""
    env = {name: value for name, value in parent.items() if name in ALLOWED_PARENT_VARIABLES}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(tmpdir),
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            # Read no ~/.aws files: only the credentials we pass.
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    if log is not None:
        level, path = log
        env.update({"TF_LOG": level, "TF_LOG_PATH": str(path)})
    for name, value in stack_values.items():
        if not name.startswith(STACK_VARIABLE_PREFIXES) or name in STACK_VARIABLES_REFUSED:
            raise ValueError(f"refusing stack variable {name!r}: only AWS_* and TF_VAR_* pass")
        env[name] = value
    return env
