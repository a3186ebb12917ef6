"""Sweeps split across CI jobs. Pure: data in, data (or text) out.

- :mod:`iacdrift.ci.matrix`: the GitHub Actions matrix of a sweep (``iacdrift ci
  matrix``) and the deterministic shards of ``iacdrift run --shard I/N``.
- :mod:`iacdrift.ci.workflow`: the workflow file ``iacdrift ci github-workflow``
  writes.
- :mod:`iacdrift.ci.merge`: one run report from the shards' reports (``iacdrift ci
  merge``).
"""
