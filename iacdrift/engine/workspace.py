"""Scratch working copies of stacks, Terraform's temporary directories and the
generated Terraform CLI config.

Terraform writes into its working directory (``.terraform``, the lock file,
plan files). We never let it write into the user's stack: every call runs in a
scratch copy. Local modules (``source = "../modules/x"``) are copied too, at
the same relative place, so the copy initialises exactly like the original.
Variable files (``*.tfvars``, ``*.tfvars.json``) commonly hold secrets: a copy
gets a symbolic link to the user's file, never a copy of its content.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath

from iacdrift.loaders.stack_hcl import local_module_dirs

# Never copied: Terraform's own scratch files and anything that can hold secrets.
_SKIP_NAMES = {".terraform", ".git", "terraform.tfstate", "terraform.tfstate.backup"}
_SKIP_SUFFIXES = (".tfplan", ".tfstate", ".tfstate.backup")
# Linked, not copied: Terraform reads terraform.tfvars[.json] and *.auto.tfvars[.json]
# by itself, and variable files commonly hold secrets; a working copy (persistent
# ones stay for workdirRetention) must keep no copy of them at rest.
VARIABLE_FILE_SUFFIXES = (".tfvars", ".tfvars.json")

# Terraform's provider plugins (go-plugin) listen on a unix socket that the plugin
# creates in TMPDIR as "plugin" + up to 10 digits; a socket path holds at most 107
# bytes (sun_path is 108 with its NUL). A TMPDIR under a deep project made every
# provider fail to start ("Failed to load plugin schemas").
SOCKET_PATH_MAX = 107
_SOCKET_NAME_MAX = len("/plugin") + 10
_TMP_PREFIX = "iacd-"
_TMP_NAME_MAX = len(_TMP_PREFIX) + 8  # tempfile.mkdtemp's random part


def is_variable_file(name: str) -> bool:
    """A Terraform variable file: linked into working copies, never copied."""
    return name.endswith(VARIABLE_FILE_SUFFIXES)


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP_NAMES or n.endswith(_SKIP_SUFFIXES)}


def _layout(stack_dir: Path) -> tuple[Path, set[Path]]:
    """(the common parent of the stack and its local modules, those directories)."""
    dirs = local_module_dirs(stack_dir)
    return Path(os.path.commonpath([str(d) for d in dirs])), dirs


def _stack_files(anchor: Path, dirs: set[Path]) -> Iterator[tuple[Path, PurePath]]:
    """Every file a working copy gets: (source, path relative to ``anchor``), sorted."""
    for directory in sorted(dirs):
        for entry in sorted(directory.iterdir()):
            if entry.name in _SKIP_NAMES or entry.name.endswith(_SKIP_SUFFIXES):
                continue
            if entry.is_file():
                yield entry, entry.relative_to(anchor)
            elif entry.is_dir() and entry.resolve() not in dirs:
                for root, subdirs, files in os.walk(entry, followlinks=True):
                    subdirs[:] = sorted(set(subdirs) - _ignore(root, subdirs))
                    for name in sorted(set(files) - _ignore(root, files)):
                        source = Path(root) / name
                        yield source, source.relative_to(anchor)


def copy_stack(stack_dir: Path, scratch_root: Path) -> Path:
    """Copy a root module and its local modules under ``scratch_root``.

    Returns the path of the root module inside the copy.
    """
    stack_dir = stack_dir.resolve()
    anchor, dirs = _layout(stack_dir)
    for directory in sorted(dirs):
        (scratch_root / directory.relative_to(anchor)).mkdir(parents=True, exist_ok=True)
    for source, relative in _stack_files(anchor, dirs):
        target = scratch_root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_variable_file(source.name):
            target.symlink_to(source.resolve())
        else:
            shutil.copy2(source, target)
    return scratch_root / stack_dir.relative_to(anchor)


def _link_variable_files(stack_dir: Path, scratch_root: Path) -> None:
    """Make every variable file of a (reused) copy a link to the stack's file again,
    e.g. in a copy an earlier iacdrift made with copies of them (see _scrub)."""
    anchor, dirs = _layout(stack_dir)
    for source, relative in _stack_files(anchor, dirs):
        if not is_variable_file(source.name):
            continue
        target, wanted = scratch_root / relative, source.resolve()
        if target.is_symlink() and target.readlink() == wanted:
            continue
        target.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(wanted)


def stack_digest(stack_dir: Path) -> str:
    """SHA-256 over the names and contents of every file a working copy of the stack
    gets (root module, local modules, their other files)."""
    stack_dir = stack_dir.resolve()
    anchor, dirs = _layout(stack_dir)
    digest = hashlib.sha256()
    digest.update(str(stack_dir.relative_to(anchor)).encode() + b"\0")
    for source, relative in _stack_files(anchor, dirs):
        digest.update(str(relative).encode() + b"\0")
        digest.update(hashlib.sha256(source.read_bytes()).digest())
    return digest.hexdigest()


def stack_files(stack_dir: Path) -> dict[str, bytes]:
    """The content of every file a working copy of the stack gets (root module, local
    modules, their other files; variable files too, for their content decides the
    plan), by path relative to the stack's parent of them all: what a repair plan is
    bound to (:func:`iacdrift.core.reconcile.plan.files_digest`)."""
    stack_dir = stack_dir.resolve()
    anchor, dirs = _layout(stack_dir)
    return {
        relative.as_posix(): source.read_bytes() for source, relative in _stack_files(anchor, dirs)
    }


def stack_anchor(stack_dir: Path) -> Path:
    """The common parent of a stack and its local modules: what the paths of
    :func:`stack_files` are relative to."""
    return _layout(stack_dir.resolve())[0]


def private_dir(parent: Path | None, prefix: str) -> Path:
    """A fresh directory only we can read (mode 0700)."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    return _fresh_private_dir(parent, prefix)


def _fresh_private_dir(parent: Path | None, prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o700)
    return path


def temporary_parents() -> list[Path]:
    """Where a Terraform call's TMPDIR may go, in order: the system temporary
    directory (``$TMPDIR`` of iacdrift itself, else /tmp...), then /tmp and /var/tmp."""
    found: list[Path] = []
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        path = Path(candidate).absolute()
        if path not in found:
            found.append(path)
    return found


def socket_room(tmpdir: Path) -> int:
    """Bytes to spare in the longest plugin socket path under TMPDIR ``tmpdir``
    (negative: a provider cannot start there)."""
    return SOCKET_PATH_MAX - len(os.fsencode(str(tmpdir))) - _SOCKET_NAME_MAX


def terraform_tmpdir(parents: list[Path] | None = None) -> Path:
    """A fresh private directory (0700) for one Terraform call's TMPDIR, short enough
    for the provider plugins' unix sockets wherever the project is. The caller
    removes it after the call.

    Raises OSError naming every place tried when none is short and writable.
    """
    tried: list[str] = []
    for parent in parents if parents is not None else temporary_parents():
        if socket_room(parent) < 1 + _TMP_NAME_MAX:
            tried.append(f"{parent} (too long for a socket path)")
            continue
        try:
            return _fresh_private_dir(parent, _TMP_PREFIX)
        except OSError as exc:
            tried.append(f"{parent} ({exc.strerror or exc})")
    raise OSError(
        "no temporary directory for Terraform is short and writable (tried "
        + ", ".join(tried)
        + "); set TMPDIR to a short writable directory such as /tmp"
    )


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


# --- persistent working directories ------------------------------------------------
#
# `init` costs a Terraform process per stack and run. A scheduled run checks the
# same stacks again and again, mostly unchanged, so each stack keeps ONE initialised
# working copy under the project's cache (`.iacdrift/workdirs/`, mode 0700), reused
# while its key is unchanged. The key (made by the caller) covers the stack's files
# and local modules, the lock file, the backend config, the CLI config and the
# engine; any change means a fresh copy and a new init.
#
# What stays between runs is what init writes: `.terraform/` (provider links into
# the plugin cache, module records, the backend settings: bucket, key, region,
# endpoint flags; credentials never go there, they are environment values) and the
# lock file. Plan files and state files are removed when the copy is taken and when
# it is given back; callers delete plan files as soon as they are read. Variable
# files are links to the stack's (a copy of one, left by an earlier iacdrift, is
# removed and linked again), so no variable value is kept at rest either.

_KEY_FILE = "iacdrift-workdir.key"
_WORKDIR_SKIP_SUFFIXES = (".tfplan", ".tfstate", ".tfstate.backup")


def slot_name(name: str, stack_dir: Path) -> str:
    """The directory name of a stack's persistent working copy under the cache root."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:60]
    where = hashlib.sha256(str(stack_dir.resolve()).encode()).hexdigest()[:12]
    return f"{safe}-{where}"


def _scrub(root: Path) -> None:
    """Remove plan and state files, and copies (not links) of variable files, anywhere
    in a working copy but `.terraform/`."""
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d != ".terraform"]
        for name in files:
            path = Path(directory) / name
            if name.endswith(_WORKDIR_SKIP_SUFFIXES) or (
                is_variable_file(name) and not path.is_symlink()
            ):
                path.unlink(missing_ok=True)


def _providers_present(workdir: Path) -> bool:
    """Every provider link of an initialised copy still points at something (the
    plugin cache may have been emptied since)."""
    if not (workdir / ".terraform").is_dir():
        return False
    providers = workdir / ".terraform" / "providers"
    for directory, _subdirs, files in os.walk(providers):
        for name in [*files, *_subdirs]:
            if not (Path(directory) / name).exists():
                return False
    return True


@dataclass
class Workdir:
    """A persistent working copy of one stack, held exclusively while in use."""

    path: Path  # the root module inside the copy
    initialised: bool  # init ran here with this key: it may be skipped
    key: str
    slot: Path
    # False once a seeded copy failed with this key: the real init from then on
    # (see engine/seeding.py; the record lives beside the slot, which is replaced).
    seedable: bool = True

    @property
    def _no_seed_marker(self) -> Path:
        return self.slot.with_name(f"{self.slot.name}.noseed")

    def refuse_seeding(self) -> None:
        """Never seed this copy again while its key holds."""
        marker = self._no_seed_marker
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(self.key + "\n", encoding="utf-8")
        tmp.replace(marker)
        self.seedable = False

    def mark_initialised(self) -> None:
        """Record that init succeeded in this copy for this key."""
        marker = self.slot / _KEY_FILE
        tmp = marker.with_suffix(".tmp")
        relative = self.path.relative_to(self.slot)
        tmp.write_text(f"{self.key}\n{relative}\n", encoding="utf-8")
        tmp.replace(marker)
        self.initialised = True

    def invalidate(self) -> None:
        """Forget the init: the next use of this copy runs init again."""
        (self.slot / _KEY_FILE).unlink(missing_ok=True)
        self.initialised = False


@contextmanager
def persistent_copy(stack_dir: Path, cache_root: Path, name: str, key: str) -> Iterator[Workdir]:
    """The stack's persistent working copy under ``cache_root``, exclusively ours
    (a lock file per copy: other threads and processes wait) until the block ends.

    Reused as it is when it was initialised with the same ``key``; otherwise
    replaced by a fresh copy of the stack (``initialised`` is then False).
    """
    stack_dir = stack_dir.resolve()
    cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    cache_root.chmod(0o700)
    slot = cache_root / slot_name(name, stack_dir)
    with (cache_root / f"{slot.name}.lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        os.utime(lock.fileno())  # last use, for prune_copies
        try:
            workdir = _take(stack_dir, slot, key)
            try:
                yield workdir
            finally:
                _scrub(slot)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _take(stack_dir: Path, slot: Path, key: str) -> Workdir:
    marker = slot / _KEY_FILE
    try:
        stored_key, relative = marker.read_text(encoding="utf-8").splitlines()[:2]
    except (OSError, ValueError):
        stored_key, relative = "", ""
    path = slot / relative
    if stored_key == key and relative and path.is_dir() and _providers_present(path):
        _scrub(slot)
        _link_variable_files(stack_dir, slot / "src")
        return Workdir(path=path, initialised=True, key=key, slot=slot)
    shutil.rmtree(slot, ignore_errors=True)
    slot.mkdir(mode=0o700, parents=True)
    path = copy_stack(stack_dir, slot / "src")
    try:
        refused = slot.with_name(f"{slot.name}.noseed").read_text(encoding="utf-8").strip()
    except OSError:
        refused = ""
    return Workdir(path=path, initialised=False, key=key, slot=slot, seedable=refused != key)


def prune_copies(cache_root: Path, keep: set[str], *, unused_for: float, now: float) -> list[str]:
    """Remove the working copies whose slot is not in ``keep`` (e.g. of stacks no
    longer registered, or directories checked once) and that nobody used for
    ``unused_for`` seconds before ``now`` (epoch seconds); never one in use. Returns
    the slots removed, sorted."""
    removed: list[str] = []
    if not cache_root.is_dir():
        return removed
    for lock_path in sorted(cache_root.glob("*.lock")):
        slot = lock_path.with_suffix("")
        if slot.name in keep or not slot.exists():
            continue
        try:
            if now - lock_path.stat().st_mtime < unused_for:
                continue
            with lock_path.open("a") as lock:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use right now
                if now - os.fstat(lock.fileno()).st_mtime < unused_for:
                    continue  # used between our first look and the lock
                shutil.rmtree(slot, ignore_errors=True)
                slot.with_name(f"{slot.name}.noseed").unlink(missing_ok=True)
                # The (empty) lock file stays: unlinking it would let two processes
                # lock two different files for the same slot.
        except OSError:
            continue
        if not slot.exists():
            removed.append(slot.name)
    return removed
