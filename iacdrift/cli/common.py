"""What every command shares: the error handler, the project options, output."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from iacdrift.errors import ExitCode, IacdriftError, RegistryError
from iacdrift.flows.workbench import TF_LOG_LEVELS

LOG_DIR_ENV = "IACDRIFT_LOG_DIR"

Command = TypeVar("Command", bound=Callable[..., Any])


def _crash_log(exc: BaseException) -> Path | None:
    """Write an unexpected traceback to a file instead of the screen."""
    directory = Path(os.environ.get(LOG_DIR_ENV, ".iacdrift/logs"))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "crash.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write("".join(traceback.format_exception(exc)))
        return path
    except OSError:
        return None


def run_guarded(body: Callable[[], Any]) -> ExitCode:
    """Run a click command in non-standalone mode; map every outcome to an exit code."""
    try:
        result = body()
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return ExitCode.INTERRUPTED
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return ExitCode.INTERRUPTED
    except click.ClickException as exc:
        # Usage errors exit 1, never 2: 2 means "drift found".
        exc.show()
        return ExitCode.FAILED
    except RegistryError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        return ExitCode.FAILED
    except IacdriftError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:
        path = _crash_log(exc)
        where = f"; traceback in {path}" if path else ""
        click.echo(f"error: unexpected {type(exc).__name__}: {exc}{where}", err=True)
        return ExitCode.FAILED
    if isinstance(result, int):
        return ExitCode(result)
    return ExitCode.OK


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="IACDRIFT_CONFIG",
    help="Settings file (default: iacdrift.yaml in the current directory, if any).",
)
registry_option = click.option(
    "--registry",
    "registry_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="IACDRIFT_REGISTRY",
    help="Registry directory (default: registry/ beside the settings file).",
)
tf_log_option = click.option(
    "--tf-log",
    "tf_log",
    type=click.Choice(TF_LOG_LEVELS, case_sensitive=False),
    envvar="IACDRIFT_TF_LOG",
    default=None,
    metavar="LEVEL",
    help="Keep Terraform's own log (TF_LOG=LEVEL: TRACE, DEBUG, INFO, WARN, ERROR or "
    "JSON): one file per Terraform call under .iacdrift/logs/<run>/<stack>/, mode 0600. "
    "Off by default; an ERROR result names its file. WARNING: TRACE and DEBUG logs can "
    "contain secret values (request and response bodies, variable values): keep them "
    "private and delete them when done [env: IACDRIFT_TF_LOG].",
)
format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)


def text_or_json_option(record: str, schema: str) -> Callable[[Command], Command]:
    """``--format text|json`` of a command that prints one record: json is ``record``,
    validated by ``schemas/<schema>``."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=f"json: a {record} (schemas/{schema}).",
    )


def report_options(schema: str, out_files: str) -> Callable[[Command], Command]:
    """``--format table|json|markdown``, ``--out DIR`` and ``--history FILE``: how
    ``check`` and ``run`` report. ``schema`` names the JSON's schema file in schemas/,
    ``out_files`` what ``--out`` writes."""
    options = (
        click.option(
            "--format",
            "output_format",
            type=click.Choice(["table", "json", "markdown", "junit", "sarif", "github"]),
            default="table",
            show_default=True,
            help=f"Output format; json validates against schemas/{schema}. For CI: junit "
            "(one test case per stack), sarif (SARIF 2.1.0, one result per alerting "
            "finding at its resource block), github (Markdown, also appended to "
            "$GITHUB_STEP_SUMMARY when set).",
        ),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help=f"Also write {out_files} into this directory.",
        ),
        click.option(
            "--history",
            "history_file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Run-history SQLite file; `iacdrift explain` reads the findings there "
            "(default .iacdrift/history.sqlite).",
        ),
    )

    def decorate(command: Command) -> Command:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def wide_console() -> Console:
    """A rich console; when piped (CI, files) wide enough not to fold addresses."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=200, soft_wrap=False)
