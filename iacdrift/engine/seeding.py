"""Seeding fresh working copies instead of running `init` (see core/workdir_seed).

:class:`Seeder` learns, from each real init, how its engine records a backend,
and from then on writes what init would write into a fresh copy of a stack
whose providers are in the plugin cache and whose modules are local: provider
links into the cache, the module manifest, the backend record. Terraform refuses
a copy whose records do not match its files ("run init"; see core/workdir_seed
for what it does and does not check); the caller then removes the seeded
``.terraform`` (:meth:`Seeder.refused`) and runs the real init.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

from iacdrift.core import workdir_seed as seed
from iacdrift.loaders.stack_hcl import locked_providers, parse_hcl

log = logging.getLogger(__name__)

_RECORD = Path(".terraform") / "terraform.tfstate"
_MAX_MODULE_DEPTH = 32

EngineId = tuple[str, ...]


def _module_files(directory: Path) -> list[tuple[str, dict[str, Any]]] | None:
    """The parsed ``*.tf`` files of a module; None when it has files we do not
    read the way Terraform does (JSON syntax, override files) or cannot parse."""
    parsed: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(directory.iterdir()):
        name = path.name
        if name.startswith((".", "#")) or name.endswith("~"):
            continue  # Terraform ignores these too
        if name.endswith((".tf.json", ".tofu", ".tofu.json")) or name.endswith(
            ("override.tf", "override.tf.json")
        ):
            return None
        if name.endswith(".tf") and path.is_file():
            try:
                parsed.append((name, parse_hcl(path)))
            except Exception:
                return None
    return parsed


def _module_calls(files: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]] | None:
    """(name, source) of every module call; None when a source is not a literal."""
    calls: list[tuple[str, str]] = []
    for _name, parsed in files:
        for block in parsed.get("module", []):
            if not isinstance(block, dict):
                return None
            for raw_name, body in block.items():
                name = seed.label(raw_name)
                source = seed.literal(body.get("source")) if isinstance(body, dict) else None
                if name is None or not isinstance(source, str):
                    return None
                calls.append((name, source))
    return calls


def module_records(
    root: Path, root_files: list[tuple[str, dict[str, Any]]]
) -> list[seed.ModuleRecord] | None:
    """The module manifest records of a root module (``root_files``: its parsed
    files) whose modules are all local directories of the working copy; None
    otherwise (registry, Git, missing)."""
    records = [seed.ModuleRecord("", "", ".")]
    pending = [records[0]]
    while pending:
        parent = pending.pop()
        if parent.key.count(".") >= _MAX_MODULE_DEPTH:
            return None
        files = root_files if not parent.key else _module_files(root / parent.dir)
        calls = _module_calls(files) if files is not None else None
        if calls is None:
            return None
        for name, raw in calls:
            source = seed.local_source(raw)
            if source is None:
                return None
            directory = seed.module_dir(parent.dir, source)
            if not (root / directory).is_dir():
                return None
            key = f"{parent.key}.{name}" if parent.key else name
            record = seed.ModuleRecord(key, source, directory)
            records.append(record)
            pending.append(record)
    return records


class Seeder:
    """Backend shapes learned in this process, per engine; seeds working copies."""

    def __init__(self, plugin_cache: Path) -> None:
        self.plugin_cache = plugin_cache
        self._shapes: dict[tuple[EngineId, str], seed.BackendShape] = {}
        self._lock = threading.Lock()
        # How this process's copies were made ready: seeded; refused (by Terraform:
        # the real init ran); failed (otherwise, reported as it was); learned (real
        # inits reproduced).
        self.counts = {"seeded": 0, "refused": 0, "failed": 0, "learned": 0}

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def learn(self, engine: EngineId, workdir: Path, overrides: dict[str, str]) -> bool:
        """After a real init in ``workdir``: calibrate against the backend record it
        wrote. True when the record was reproduced (copies can be seeded from now)."""
        try:
            record = json.loads((workdir / _RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        files = _module_files(workdir)
        block = seed.backend_block(files) if files is not None else None
        if block is None or not isinstance(record, dict):
            return False
        shape = seed.learn_shape(record, block, overrides)
        if shape is None:
            log.debug("%s: backend record not reproduced; copies will run init", workdir)
            return False
        with self._lock:
            known = self._shapes.get((engine, block.type))
            merged = seed.merge_shapes(known, shape) if known is not None else shape
            if merged is None:
                # The latest real init is the better witness (e.g. after a refusal).
                log.info("%s: calibrations of %s disagree; keeping the latest", workdir, engine)
                merged = shape
            self._shapes[(engine, block.type)] = merged
        self._count("learned")
        return True

    def seed(
        self, engine: EngineId, workdir: Path, overrides: dict[str, str], platform: str
    ) -> bool:
        """Write what init would into a fresh copy; False (nothing left written) when
        anything is outside what we can reproduce or cannot be written: the caller
        runs init. Seeding only saves time, so it never raises."""
        try:
            return self._seed(engine, workdir, overrides, platform)
        except (OSError, ValueError) as exc:
            log.info("%s: not seeded (%s); running init", workdir, exc)
            shutil.rmtree(workdir / ".terraform", ignore_errors=True)
            return False

    def _seed(
        self, engine: EngineId, workdir: Path, overrides: dict[str, str], platform: str
    ) -> bool:
        files = _module_files(workdir)
        block = seed.backend_block(files) if files is not None else None
        if files is None or block is None or not platform:
            return False
        with self._lock:
            shape = self._shapes.get((engine, block.type))
        record = seed.backend_record(shape, block, overrides) if shape is not None else None
        modules = module_records(workdir, files)
        links = self._provider_links(workdir, platform)
        if record is None or modules is None or links is None:
            return False
        data = workdir / ".terraform"
        if data.exists():
            shutil.rmtree(data)
        for link, target in links:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
        (data / "modules").mkdir(parents=True, exist_ok=True)
        manifest = seed.module_manifest(modules)
        (data / "modules" / "modules.json").write_text(json.dumps(manifest), encoding="utf-8")
        (workdir / _RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        self._count("seeded")
        return True

    def refused(self, workdir: Path, why: str) -> None:
        """Terraform refused a seeded copy ("run init"): remove what we wrote, so the
        real init starts from nothing."""
        log.info("%s: the seeded working copy was refused (%s); running init", workdir, why)
        self._discard(workdir)
        self._count("refused")

    def failed(self, workdir: Path, why: str) -> None:
        """A seeded copy failed otherwise (reported as it is): remove what we wrote."""
        log.info("%s: a check in a seeded working copy failed (%s)", workdir, why)
        self._discard(workdir)
        self._count("failed")

    @staticmethod
    def _discard(workdir: Path) -> None:
        try:
            shutil.rmtree(workdir / ".terraform")
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("%s: could not remove the seeded .terraform: %s", workdir, exc)

    def _provider_links(self, workdir: Path, platform: str) -> list[tuple[Path, Path]] | None:
        """(link, package directory in the plugin cache) per locked provider; None
        when the copy has no lock file or a package is not in the cache."""
        locked = locked_providers(workdir)
        if not locked:
            return None
        links: list[tuple[Path, Path]] = []
        for source, version in locked.items():
            parts = source.split("/")
            if len(parts) != 3 or any(p in ("", ".", "..") for p in parts):
                return None
            target = self.plugin_cache.joinpath(*parts, version, platform)
            if not target.is_dir() or not any(target.iterdir()):
                return None
            links.append(
                (workdir / ".terraform" / "providers" / source / version / platform, target)
            )
        return links
