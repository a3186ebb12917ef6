"""Where a stack's resources are written: the file and line of each resource, data and
module block of a root module, for outputs that point at code (SARIF's locations).

python-hcl2 8.x's dict output carries no positions (``with_meta`` is refused by
``load`` and ignored by ``loads``, seen in 8.1.4), so the lines come from
:func:`iacdrift.loaders.hcl_outline.outline`, which walks python-hcl2's Lark tree.
Only the root module's own ``*.tf`` files are read: a resource inside a module call
(``module.assets.aws_s3_bucket.this``) points at the ``module "assets"`` block, the
line a stack's owner edits. A file python-hcl2 cannot parse gives no lines (Terraform
reports it when it runs); JSON syntax (``*.tf.json``) is left out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from iacdrift.loaders.hcl_outline import outline
from iacdrift.primitives.address import config_address

# Block types whose blocks are addressed, and the address prefix each gets.
_ADDRESSED = {"resource": "", "data": "data."}


@dataclass(frozen=True)
class ResourceLocation:
    """One block's place: ``file`` is a POSIX path relative to the project root (as a
    repository holds it), ``line`` the 1-based line of the block's first line."""

    file: str
    line: int


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form, without resolving links: a stack's
    ``provider.tf`` that links to a shared file is reported where the stack has it."""
    absolute = Path(os.path.normpath(path.absolute()))
    base = Path(os.path.normpath(root.absolute()))
    if absolute.is_relative_to(base):
        return absolute.relative_to(base).as_posix()
    return Path(os.path.relpath(absolute, base)).as_posix()


def _is_override(name: str) -> bool:
    # Terraform merges override.tf and *_override.tf into the blocks they override.
    return name == "override.tf" or name.endswith("_override.tf")


def resource_locations(stack_dir: Path, root: Path) -> dict[str, ResourceLocation]:
    """The configuration address of each block of the root module in ``stack_dir`` ->
    where it is written, with files relative to ``root``.

    Keys: ``aws_s3_bucket.archive`` (resource), ``data.aws_iam_policy_document.x``
    (data source), ``module.assets`` (module call). When two files declare one address
    (an override file), the block in the ordinary file wins; otherwise files are read
    in name order and the first block wins. Unreadable files are skipped.
    """
    texts: dict[str, str] = {}
    order: list[str] = []
    paths = sorted(stack_dir.glob("*.tf"), key=lambda p: (_is_override(p.name), p.name))
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        file = _relative(path, root)
        texts[file] = text
        order.append(file)
    shape = outline(texts)
    by_file: dict[str, list[tuple[int, int, tuple[str, ...]]]] = {}
    for block in shape.blocks:
        by_file.setdefault(block.file, []).append((block.line, block.end_line, block.path))
    table: dict[str, ResourceLocation] = {}
    for file in order:
        for line, labels in _top_level(by_file.get(file, [])):
            address = _address(labels)
            if address is not None:
                table.setdefault(address, ResourceLocation(file, line))
    return table


def _top_level(
    blocks: list[tuple[int, int, tuple[str, ...]]],
) -> list[tuple[int, tuple[str, ...]]]:
    """(line, path) of the blocks no other block of the same file encloses, in order:
    a nested block is never taken for a top-level one, whatever its labels."""
    found: list[tuple[int, tuple[str, ...]]] = []
    outer_end = 0
    # Outer blocks first where two start on one line (the longer range, the shorter path).
    for line, end, path in sorted(blocks, key=lambda b: (b[0], -b[1], len(b[2]))):
        if line > outer_end:
            found.append((line, path))
            outer_end = end
    return found


def _address(path: tuple[str, ...]) -> str | None:
    """The configuration address a top-level block declares, if it declares one."""
    if len(path) == 3 and path[0] in _ADDRESSED:
        return f"{_ADDRESSED[path[0]]}{path[1]}.{path[2]}"
    if len(path) == 2 and path[0] == "module":
        return f"module.{path[1]}"
    return None


def location_for(
    resource_ref: str, table: Mapping[str, ResourceLocation]
) -> ResourceLocation | None:
    """Where ``resource_ref`` (a Terraform address, instance keys and all) is written:
    its own block in the root module, else the outermost module call it is under
    (``module.bucket["x"].aws_s3_bucket.this`` -> ``module.bucket``), else None (an
    unmanaged ``<type>:<id>``, a resource no longer in the code)."""
    address = config_address(resource_ref)
    found = table.get(address)
    if found is not None:
        return found
    parts = address.split(".")
    if len(parts) > 2 and parts[0] == "module":
        return table.get(f"module.{parts[1]}")
    return None
