"""UPDATE_CODE: a unified diff that makes a stack's HCL say the accepted runtime value.

Pure: the caller passes the stack's files as text (``{path: text}``, paths relative to
the common parent of the root module and its local modules, as
:func:`iacdrift.engine.workspace.stack_files` keys them) and their outline (every
literal and block with its position, as :func:`iacdrift.loaders.hcl_outline.outline`
reads it with python-hcl2); nothing here parses HCL, reads a file or writes one. The
patch edits text, never re-renders HCL: only the characters of one literal change,
so indentation, alignment and comments stay as they are.

Contract of :func:`patch_code` (one Terraform address, its changed fields; ``before``
is the value the code says today, ``after`` the accepted runtime value):

1. Refuse the whole patch up front when the address does not parse or is a data
   source, there are no changed fields, or a file of the root module does not parse.
2. Refuse a field whose value is sensitive (``sensitive``, or a fingerprint marker in
   ``before``/``after``/``desired``): a secret is never written into code. Refuse a
   field whose ``before`` or ``after`` is not a single scalar (null: an element added
   or removed; a list or object: a whole value), or whose pointer does not parse.
3. The owner block: for a root-module resource its ``resource "TYPE" "NAME"`` block;
   for ``module.NAME...`` the root module's ``module "NAME"`` call block. Only files
   directly in the root module's directory are edited, never a local module (shared
   by several stacks) nor a file the caller names shared (a link out of the stack).
4. Direct: the owner block of a root resource states the field's path (``/tags_all``
   read as ``/tags``) as a literal. It holds ``before``: that literal is the edit. It
   holds another value: refuse (the code does not say what the finding says it says;
   check again). It is an expression: go on to rule 5.
5. Trace: literals equal to ``before`` (same type) in the root module whose last path
   segment (a variable's default: the variable's name) matches the field's last
   segment loosely (case, ``-`` and ``_`` ignored), outside blocks that belong to
   something else (other resources, data sources, module calls, providers, outputs,
   ``terraform``, a variable's type or description). Preferred in this order: inside
   the owner block; in a ``locals`` entry keyed by the address's instance key (the
   ``ledger = {...}`` of ``module.bucket["ledger"]`` with ``for_each =
   local.buckets``); anywhere else allowed (other locals, variable defaults, variable
   files). The best tier holding exactly one candidate gives the edit; several in it
   -> refuse naming them (file:line). A literal outside the owner block may feed
   other addresses too: the result says so in ``notes``, and the plan after the
   merge shows it.
6. No candidate in the root module: refuse, naming where the value is written when it
   is in a local module or a shared file ("change it there, by hand: other stacks use
   it") or in a block of something else, else saying the code computes it.
7. Several fields make several edits in one diff; two fields that land on one literal
   with one new value make one edit, with two values -> refuse. Any refused field
   refuses the whole patch, naming the field.
8. The diff: ``difflib.unified_diff`` per edited file, sorted by path, ``a/`` and
   ``b/`` prefixes on paths relative to the common parent, "\\ No newline at end of
   file" where a file has none, so ``git apply`` and ``patch -p1`` take it.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from iacdrift.core.reconcile import hcl
from iacdrift.core.redact import contains_marker
from iacdrift.models.finding import ChangedField

Scalar = str | int | float | bool

# Blocks whose literals belong to something other than the address being patched.
_FOREIGN_BLOCKS = frozenset(
    {"resource", "data", "module", "provider", "output", "terraform", "import", "moved"}
)


@dataclass(frozen=True)
class HclValue:
    """One attribute or object-element value in an HCL file, where it is written.

    ``path``: the enclosing block type and labels, then attribute names, object keys and
    tuple indexes, e.g. ``("locals", "buckets", "ledger", "data_class")``. ``value``:
    the literal's value, None when the value is an expression (a reference, a
    template, a function call). ``text``: its source text. Lines are 1-based, columns
    0-based character offsets (``end_column`` exclusive).
    """

    file: str
    path: tuple[str, ...]
    line: int
    column: int
    end_line: int
    end_column: int
    value: Scalar | None
    text: str


@dataclass(frozen=True)
class HclBlock:
    """One block: its type and labels (``("resource", "aws_s3_bucket", "logs")``),
    where it starts and ends (1-based lines)."""

    file: str
    path: tuple[str, ...]
    line: int
    end_line: int


@dataclass(frozen=True)
class HclOutline:
    """What python-hcl2 read of a stack's files. ``problems``: ``file: why`` for each
    HCL file that did not parse."""

    blocks: tuple[HclBlock, ...] = ()
    values: tuple[HclValue, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Edit:
    """One literal replaced: ``old`` and ``new`` are the literal's source text."""

    file: str
    line: int
    pointer: str
    old: str
    new: str
    rule: str  # which rule chose it: "direct", "owner block", "instance locals", "elsewhere"


@dataclass(frozen=True)
class CodePatch:
    """Either a diff (``diff`` and ``edits``) or a refusal (``why``), never both."""

    address: str
    diff: str = ""
    edits: tuple[Edit, ...] = ()
    why: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def refused(self) -> bool:
        return self.why is not None


class _RefusedError(Exception):
    """One field cannot be patched; the message says why and what to do."""


def hcl_literal(value: Scalar) -> str:
    """``value`` as HCL literal text (strings quoted as Terraform reads them back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return hcl.hcl_string(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _RefusedError(f"{value!r} has no HCL literal")
    return json.dumps(value)


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """An RFC 6901 pointer's segments; ValueError when it is not one."""
    if not pointer.startswith("/"):
        raise ValueError(f"{pointer!r} is not a JSON pointer (it must start with /)")
    return tuple(s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/"))


def _loose(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _named(value: HclValue) -> str:
    """The name a value goes by: a variable's default goes by the variable's name."""
    if value.path[0] == "variable" and value.path[2:] == ("default",):
        return _loose(value.path[1])
    return _loose(value.path[-1])


def _same(a: object, b: object) -> bool:
    """Equal and of one kind: ``true`` is not ``1``, ``"1"`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return isinstance(a, int | float) and isinstance(b, int | float) and a == b


def _where(value: HclValue) -> str:
    return f"{value.file}:{value.line}"


def _inside(value: HclValue, block: HclBlock) -> bool:
    return value.file == block.file and value.path[: len(block.path)] == block.path


def _scalar(value: object) -> bool:
    return isinstance(value, str | bool | int | float)


class _Stack:
    """The files and outline, split into the root module's (editable) and the rest."""

    def __init__(
        self,
        files: Mapping[str, str],
        outline: HclOutline,
        root: str,
        shared_files: Collection[str],
    ) -> None:
        root_dir = PurePosixPath(root)
        self.editable = {
            path
            for path in files
            if PurePosixPath(path).parent == root_dir and path not in shared_files
        }
        self.root_values = [v for v in outline.values if v.file in self.editable]
        self.other_values = [v for v in outline.values if v.file not in self.editable]
        self.root_blocks = [b for b in outline.blocks if b.file in self.editable]

    def blocks(self, path: tuple[str, ...]) -> list[HclBlock]:
        return [b for b in self.root_blocks if b.path == path]


def _owner_block(stack: _Stack, steps: tuple[hcl.Step, ...], address: str) -> HclBlock:
    if steps[0].name == "module":
        wanted: tuple[str, ...] = ("module", steps[1].name)
        what = f'module "{steps[1].name}"'
    else:
        wanted = ("resource", steps[0].name, steps[1].name)
        what = f'resource "{steps[0].name}" "{steps[1].name}"'
    found = stack.blocks(wanted)
    if len(found) != 1:
        places = ", ".join(f"{b.file}:{b.line}" for b in found)
        raise _RefusedError(
            f"{address}: {'no' if not found else 'several'} {what} block in the root "
            f"module{f' ({places})' if places else ''}; check the address against the code"
        )
    return found[0]


def _instance_key(steps: tuple[hcl.Step, ...]) -> str | None:
    """The key of the root module's step: ``ledger`` of ``module.bucket["ledger"]``."""
    step = steps[1]
    return None if step.key is None else str(step.key)


def _foreign(value: HclValue, owner: HclBlock) -> bool:
    """The literal belongs to another block (another resource, a provider, ...)."""
    return value.path[0] in _FOREIGN_BLOCKS and not _inside(value, owner)


def _tier(value: HclValue, owner: HclBlock, key: str | None) -> tuple[int, str] | None:
    if _inside(value, owner):
        return 0, "owner block"
    if _foreign(value, owner):
        return None
    if value.path[0] == "locals" and key is not None and key in value.path[1:-1]:
        return 1, "instance locals"
    if value.path[0] == "variable" and "default" not in value.path[2:]:
        return None  # a variable's description or type, not its value
    return 2, "elsewhere"


def _field_edit(
    stack: _Stack,
    steps: tuple[hcl.Step, ...],
    owner: HclBlock,
    changed: ChangedField,
) -> tuple[HclValue, str]:
    """The literal to edit for one field and the rule that chose it; _RefusedError if none."""
    pointer = changed.pointer
    if changed.sensitive or any(
        contains_marker(v) for v in (changed.before, changed.after, changed.desired)
    ):
        raise _RefusedError(f"{pointer} is sensitive: a secret is never written into code")
    for side, value in (("before", changed.before), ("after", changed.after)):
        if value is None:
            raise _RefusedError(
                f"{pointer}: {side} is null (an attribute or element added or removed): "
                "the code has no single literal to change; write it by hand"
            )
        if not _scalar(value):
            raise _RefusedError(
                f"{pointer}: {side} is a whole {type(value).__name__}, not one literal; "
                "write it by hand"
            )
    try:
        segments = parse_pointer(pointer)
    except ValueError as exc:
        raise _RefusedError(str(exc)) from exc
    if segments and segments[0] == "tags_all":
        segments = ("tags", *segments[1:])  # the provider's merge: the code writes tags
    # What the code says today: the plan's desired value when it gave one.
    before = changed.desired if _scalar(changed.desired) else changed.before

    if steps[0].name != "module":  # rule 4: the resource block states the path itself
        stated = [v for v in stack.root_values if v.path == owner.path + segments]
        if len(stated) == 1:
            value = stated[0]
            if value.value is not None:
                if _same(value.value, before):
                    return value, "direct"
                raise _RefusedError(
                    f"{pointer}: the code says {value.text} at {_where(value)}, not "
                    f"{hcl_literal(before)} as the finding says; check again"
                )

    name = _loose(segments[-1]) if segments else ""
    key = _instance_key(steps)
    holding = [
        v
        for v in stack.root_values
        if v.value is not None and _same(v.value, before) and _named(v) == name
    ]
    tiers: dict[int, list[tuple[HclValue, str]]] = {}
    foreign: list[HclValue] = []
    for value in holding:
        tier = _tier(value, owner, key)
        if tier is None:
            foreign.append(value)
        else:
            tiers.setdefault(tier[0], []).append((value, tier[1]))
    if tiers:
        best = tiers[min(tiers)]
        if len(best) == 1:
            return best[0]
        places = ", ".join(_where(v) for v, _rule in sorted(best, key=lambda c: _where(c[0])))
        raise _RefusedError(
            f"{pointer}: {hcl_literal(before)} is written in {len(best)} equally likely "
            f"places ({places}); change the right one by hand"
        )

    elsewhere = sorted(
        v.file + f":{v.line}"
        for v in stack.other_values
        if v.value is not None and _same(v.value, before) and _named(v) == name
    )
    if elsewhere:
        raise _RefusedError(
            f"{pointer}: {hcl_literal(before)} is written only outside the root module's "
            f"own files ({', '.join(elsewhere)}): a local module or shared file other "
            "stacks use too; change it there by hand, or pass the value in from the stack"
        )
    if foreign:
        places = ", ".join(_where(v) for v in sorted(foreign, key=_where))
        raise _RefusedError(
            f"{pointer}: {hcl_literal(before)} is written only in blocks of something else "
            f"({places}); change it by hand if it is meant for this address"
        )
    named = segments[-1] if segments else pointer
    raise _RefusedError(
        f"{pointer}: no literal {hcl_literal(before)} named like {named!r} "
        "in the stack's code (the value is computed or comes from outside); write the "
        "change by hand"
    )


def _replace(text: str, value: HclValue, new: str) -> str:
    lines = text.splitlines(keepends=True)
    line = lines[value.line - 1]
    if line[value.column : value.end_column] != value.text:
        raise _RefusedError(
            f"{_where(value)}: the outline does not match the file's text; read the files again"
        )
    lines[value.line - 1] = line[: value.column] + new + line[value.end_column :]
    return "".join(lines)


def unified_diff(path: str, old: str, new: str) -> str:
    """A ``git apply``-able unified diff of one file (``a/path`` -> ``b/path``)."""
    out: list[str] = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    ):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def patch_code(
    files: Mapping[str, str],
    outline: HclOutline,
    *,
    root: str,
    address: str,
    fields: Sequence[ChangedField],
    shared_files: Collection[str] = (),
) -> CodePatch:
    """The diff that makes the root module ``root`` say each field's ``after`` for
    ``address`` (rules in the module docstring, in order); a refusal naming the field
    and the places it looked at when there is no single honest edit."""
    try:
        steps = hcl.parse_address(address)
    except ValueError as exc:
        return CodePatch(address, why=str(exc))
    if steps[0].name == "data" or len(steps) < 2:
        return CodePatch(address, why=f"{address}: not a managed resource; nothing to patch")
    if not fields:
        return CodePatch(address, why=f"{address}: no changed fields to write into code")
    stack = _Stack(files, outline, root, shared_files)
    broken = sorted(p for p in outline.problems if p.split(":", 1)[0] in stack.editable)
    if broken:
        return CodePatch(
            address, why=f"the root module does not parse ({'; '.join(broken)}); fix it first"
        )

    refusals: list[str] = []
    chosen: dict[HclValue, tuple[str, str, str]] = {}  # literal -> (new, pointer, rule)
    try:
        owner = _owner_block(stack, steps, address)
    except _RefusedError as exc:
        return CodePatch(address, why=str(exc))
    for changed in sorted(fields, key=lambda f: f.pointer):
        try:
            value, rule = _field_edit(stack, steps, owner, changed)
            new = hcl_literal(changed.after)
        except _RefusedError as exc:
            refusals.append(str(exc))
            continue
        earlier = chosen.get(value)
        if earlier is not None and earlier[0] != new:
            refusals.append(
                f"{changed.pointer} and {earlier[1]} both come from {_where(value)} but "
                f"want {new} and {earlier[0]}; change it by hand"
            )
            continue
        if earlier is None:
            chosen[value] = (new, changed.pointer, rule)
    if refusals:
        return CodePatch(
            address,
            why=f"{address}: not patched, {len(refusals)} field(s) refused: " + "; ".join(refusals),
        )

    edits: list[Edit] = []
    texts = dict(files)
    try:
        # Right to left within a line, bottom to top within a file: earlier offsets hold.
        for value in sorted(chosen, key=lambda v: (v.file, -v.line, -v.column)):
            new, pointer, rule = chosen[value]
            texts[value.file] = _replace(texts[value.file], value, new)
            edits.append(Edit(value.file, value.line, pointer, value.text, new, rule))
    except _RefusedError as exc:
        return CodePatch(address, why=str(exc))
    edits.sort(key=lambda e: (e.file, e.line, e.pointer))
    diff = "".join(
        unified_diff(path, files[path], texts[path]) for path in sorted({e.file for e in edits})
    )
    notes = tuple(
        f"{e.file}:{e.line} ({e.rule}) may feed other addresses too: the plan after the "
        "merge must change nothing else"
        for e in edits
        if e.rule in ("instance locals", "elsewhere")
    )
    return CodePatch(address, diff=diff, edits=tuple(edits), notes=notes)


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply_unified_diff(files: Mapping[str, str], diff: str) -> dict[str, str]:
    """The files ``diff`` (as :func:`unified_diff` writes it) changes, with their new
    text; ValueError naming the file and line when a hunk does not match ``files``
    (the stack changed since the patch was made)."""
    changed: dict[str, str] = {}
    lines = diff.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        if not lines[i].startswith("--- a/"):
            i += 1
            continue
        path = lines[i + 1].removeprefix("+++ b/").rstrip("\n")
        if path not in files:
            raise ValueError(f"{path}: not among the stack's files; the patch does not apply")
        old = files[path].splitlines(keepends=True)
        new: list[str] = []
        cursor = 0
        i += 2
        while i < len(lines) and lines[i].startswith("@@"):
            match = _HUNK.match(lines[i])
            if match is None:
                raise ValueError(f"{path}: unreadable hunk header {lines[i].strip()!r}")
            start = (
                max(int(match.group(1)) - 1, 0) if match.group(2) != "0" else int(match.group(1))
            )
            new.extend(old[cursor:start])
            cursor = start
            # The header's counts say where the hunk ends (a next file's "--- a/" line
            # starts with "-" too).
            old_left = int(match.group(2) or 1)
            new_left = int(match.group(4) or 1)
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
                line = lines[i]
                marker, body = line[:1], line[1:]
                if marker == "\\":  # "\ No newline at end of file": the previous line has none
                    target = new if lines[i - 1].startswith(("+", " ")) else None
                    if target is not None and target and target[-1].endswith("\n"):
                        target[-1] = target[-1][:-1]
                    i += 1
                    continue
                if marker not in (" ", "-", "+"):
                    raise ValueError(f"{path}: a hunk ends early at {line.strip()!r}")
                if marker in (" ", "-"):
                    old_left -= 1
                if marker in (" ", "+"):
                    new_left -= 1
                if marker in (" ", "-"):
                    have = old[cursor] if cursor < len(old) else None
                    if have is None or have.rstrip("\n") != body.rstrip("\n"):
                        raise ValueError(
                            f"{path}:{cursor + 1}: the file does not say what the patch "
                            "expects; the stack changed since planning, plan again"
                        )
                    cursor += 1
                    if marker == " ":
                        new.append(have)
                else:
                    new.append(body)
                i += 1
        new.extend(old[cursor:])
        changed[path] = "".join(new)
    return changed
