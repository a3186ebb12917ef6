"""Writing the published JSON Schemas (models/catalog.py renders them)::

python -m iacdrift.flows.schemas schemas/
"""

from __future__ import annotations

import sys
from pathlib import Path

from iacdrift.models.catalog import PUBLISHED, render_schema


def write_schemas(directory: Path) -> list[Path]:
    """Write every published schema into ``directory``; return the paths, sorted."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in sorted(PUBLISHED.items()):
        path = directory / name
        # Bytes, not text mode: the files must be identical on every platform.
        path.write_bytes(render_schema(model).encode("utf-8"))
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")
    for written_path in write_schemas(target):
        print(written_path)
