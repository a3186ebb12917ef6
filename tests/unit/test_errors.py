"""The exception tree drawn in errors.py's docstring names every class of it."""

from __future__ import annotations

import importlib
import pkgutil

import iacdrift
from iacdrift import errors


def _subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_the_docstring_tree_lists_every_error_class() -> None:
    for module in pkgutil.walk_packages(iacdrift.__path__, "iacdrift."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    tree = errors.__doc__ or ""
    missing = sorted(
        f"{cls.__module__}.{cls.__name__}"
        for cls in _subclasses(errors.IacdriftError)
        if cls.__module__.startswith("iacdrift.") and f"+-- {cls.__name__} " not in tree
    )
    assert missing == [], f"add these to the tree in iacdrift/errors.py: {missing}"
