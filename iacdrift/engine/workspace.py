"""Scratch working copies of stacks and the generated Terraform CLI config.

Terraform writes into its working directory (``.terraform``, the lock file,
plan files). We never let it write into the user's stack: every call runs in a
scratch copy. Local modules (``source = "../modules/x"``) are copied too, at
the same relative place, so the copy initialises exactly like the original.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hcl2

from iacdrift.core.hclvalues import unquote

# Never copied: Terraform's own scratch files and anything that can hold secrets.
_SKIP_NAMES = {".terraform", ".git", "terraform.tfstate", "terraform.tfstate.backup"}
_SKIP_SUFFIXES = (".tfplan", ".tfstate", ".tfstate.backup")


def local_module_dirs(module_dir: Path) -> set[Path]:
    """Every local module directory a root module uses, transitively (resolved paths)."""
    seen: set[Path] = set()
    pending = [module_dir.resolve()]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for tf_file in sorted(current.glob("*.tf")):
            try:
                with tf_file.open(encoding="utf-8") as handle:
                    parsed = hcl2.load(handle)
            except Exception:
                # A file Terraform itself will reject: let init report it properly.
                continue
            for block in parsed.get("module", []):
                for body in block.values():
                    source = unquote(body.get("source")) if isinstance(body, dict) else None
                    if source and source.startswith(("./", "../")):
                        pending.append((current / source).resolve())
    return seen


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP_NAMES or n.endswith(_SKIP_SUFFIXES)}


def copy_stack(stack_dir: Path, scratch_root: Path) -> Path:
    """Copy a root module and its local modules under ``scratch_root``.

    Returns the path of the root module inside the copy.
    """
    stack_dir = stack_dir.resolve()
    dirs = local_module_dirs(stack_dir)
    anchor = Path(os.path.commonpath([str(d) for d in dirs]))
    for directory in sorted(dirs):
        target = scratch_root / directory.relative_to(anchor)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Only the module's own files: nested module dirs are copied on their own.
        target.mkdir(exist_ok=True)
        for entry in sorted(directory.iterdir()):
            if entry.name in _SKIP_NAMES or entry.name.endswith(_SKIP_SUFFIXES):
                continue
            if entry.is_file():
                shutil.copy2(entry, target / entry.name)
            elif entry.is_dir() and entry.resolve() not in dirs:
                shutil.copytree(entry, target / entry.name, ignore=_ignore, dirs_exist_ok=True)
    return scratch_root / stack_dir.relative_to(anchor)


def private_dir(parent: Path | None, prefix: str) -> Path:
    """A fresh directory only we can read (mode 0700)."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o700)
    return path


@contextmanager
def scratch_copy(stack_dir: Path, parent: Path | None = None) -> Iterator[Path]:
    """A scratch working copy of a stack, removed (plan files included) on exit."""
    root = private_dir(parent, "iacdrift-ws-")
    try:
        yield copy_stack(stack_dir, root / "src")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def render_cli_config(*, plugin_cache_dir: Path, provider_mirror: Path | None) -> str:
    """The CLI config every Terraform call gets (never the user's ~/.terraformrc).

    With a mirror, providers come only from it (Terraform's and OpenTofu's
    registry hosts both point there: OpenTofu reads ``hashicorp/aws`` as
    ``registry.opentofu.org/hashicorp/aws``).
    """
    lines = [f'plugin_cache_dir = "{plugin_cache_dir}"', ""]
    if provider_mirror is not None:
        hosts = '["registry.terraform.io/*/*", "registry.opentofu.org/*/*"]'
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f'    path    = "{provider_mirror}"',
            f"    include = {hosts}",
            "  }",
            "  direct {",
            f"    exclude = {hosts}",
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def write_cli_config(path: Path, *, plugin_cache_dir: Path, provider_mirror: Path | None) -> Path:
    plugin_cache_dir.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_cli_config(plugin_cache_dir=plugin_cache_dir, provider_mirror=provider_mirror)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


def locked_providers(workdir: Path) -> dict[str, str]:
    """Provider source -> exact version, from the working copy's ``.terraform.lock.hcl``."""
    path = workdir / ".terraform.lock.hcl"
    if not path.exists():
        return {}
    try:
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle)
    except Exception:
        return {}
    found: dict[str, str] = {}
    for block in parsed.get("provider", []):
        for source, body in block.items():
            version = unquote(body.get("version")) if isinstance(body, dict) else None
            if version:
                found[unquote(source) or source] = version
    return dict(sorted(found.items()))
