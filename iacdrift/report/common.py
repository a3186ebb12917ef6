"""What every renderer shares: the colour of each stack status, canonical JSON, and
how a value from outside is written so that it reads as itself.

Values that come from Terraform, a state, the cloud or a user's file (addresses,
ARNs, tags, reasons, rule ids, who holds a lock) are data, never markup:

* rich: a ``str`` handed to a table cell or ``console.print`` is parsed for console
  markup (``[bold]``, ``[/]``, ``[link=...]``) and emoji codes (``:secret:``), so
  data goes in a :class:`rich.text.Text` (:func:`literal`), which rich never parses.
  Markup and emoji belong to our own labels only.
* Markdown: data goes in a code span (:func:`md_code`; no emphasis, links, HTML or
  GitHub emoji inside one) or a fenced block (:func:`md_block`); in a table cell a
  pipe is escaped even inside a code span (GitHub's table rule).
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel
from rich.text import Text

from iacdrift.models.finding import LockHolder, StackStatus
from iacdrift.primitives.wording import count

__all__ = [
    "STATUS_STYLE",
    "count",
    "literal",
    "lock_summary",
    "md_block",
    "md_code",
    "md_lines",
    "md_name",
    "render_json",
    "seconds_text",
]

STATUS_STYLE: dict[StackStatus, str] = {
    StackStatus.CLEAN: "green",
    StackStatus.DRIFTED: "bold red",
    StackStatus.ERROR: "bold magenta",
    StackStatus.LOCKED: "bold yellow",
    StackStatus.STALE: "yellow",
}

# A name made only of these has no meaning in Markdown (no emphasis, link, emoji code).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]*")
_BACKTICKS = re.compile(r"`+")


def render_json(record: BaseModel) -> str:
    """Canonical JSON for people and files: sorted keys, indented, a final newline; the
    same bytes for the same record."""
    return json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def literal(value: str, style: str = "") -> Text:
    """``value`` as rich text that rich renders as written (no markup, no emoji)."""
    return Text(value, style=style)


def seconds_text(value: float) -> str:
    """A duration as ``42s``, ``17m`` or ``3h05m``."""
    seconds = max(0, int(value))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def lock_summary(lock: LockHolder) -> str:
    """``who (operation, age)``, then ``STALE LOCK`` when the lock is older than the
    stale threshold; plain text (the holder is data)."""
    held = f"{lock.who or 'unknown holder'} ({lock.operation or '?'}"
    if lock.ageSeconds is not None:
        held += f", {seconds_text(lock.ageSeconds)}"
    held += ")"
    return held + (" STALE LOCK" if lock.stale else "")


def md_code(value: str, *, in_table: bool = False) -> str:
    """``value`` as one Markdown code span: rendered literally by CommonMark and GitHub.

    The fence is one backtick longer than the longest run inside; a value that starts
    or ends with a backtick or a space is padded (CommonMark strips one space on each
    side). Line breaks become spaces, as inside any code span. ``in_table``: pipes are
    escaped, which GitHub requires even inside code spans in a table cell.
    """
    if not value:
        return ""
    text = value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if text[0] in "` " or text[-1] in "` ":
        text = f" {text} "
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def md_name(value: str, *, in_table: bool = False) -> str:
    """A name (a stack) as itself when it has no Markdown meaning, else a code span."""
    if _PLAIN_NAME.fullmatch(value):
        return value
    return md_code(value, in_table=in_table)


def md_lines(lines: list[str]) -> str:
    """Several values in one table cell: a code span each, joined by ``<br>``."""
    return "<br>".join(md_code(line, in_table=True) for line in lines if line)


def md_block(text: str) -> list[str]:
    """``text`` as a fenced code block (literal whatever it holds), as lines."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", *text.splitlines(), fence]
