"""Terraform's JSON documents (plans, states) parsed fast; core/terraform_json.py
reads them."""

from __future__ import annotations

import gc
import json
from typing import Any

from iacdrift.errors import TerraformFormatError


def load_json(text: str | bytes, source: str) -> Any:
    """Parse a JSON document (a plan or a state) without paying for the cyclic GC.

    A parsed JSON document has no reference cycles, yet building one allocates
    millions of containers, and collector passes over them cost several times
    the parse itself (a 40 MB plan of 10,000 resources: 1.2 s with the
    collector running, 0.3 s without; bench/bench_core.py). So the collector is
    paused while parsing, and the new objects are then promoted straight to the
    oldest generation (``gc.freeze()`` + ``gc.unfreeze()`` moves every tracked
    object there without a pass), so that the young-generation passes that
    follow do not walk them either. Nothing stays frozen; if the process froze
    objects itself (``gc.get_freeze_count()``), that is left alone and the
    promotion skipped. The collector's on/off state is restored.

    Invalid JSON is a TerraformFormatError naming ``source``.
    """
    enabled = gc.isenabled()
    if enabled and gc.get_freeze_count() == 0:
        # Collect the young generations first: the promotion below would otherwise
        # carry their cyclic garbage (boto3 clients, sessions) into the oldest
        # generation, where the collector rarely looks, and the process would grow
        # by megabytes per stack. Young passes are cheap: they are small.
        gc.collect(1)
    gc.disable()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TerraformFormatError(f"{source}: not valid JSON ({exc})") from exc
    finally:
        if enabled:
            gc.enable()
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
    return data
