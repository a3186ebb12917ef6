"""Pure primitives that both ``models/`` and ``core/`` use: Terraform addresses,
JSON pointers, globs, durations, timestamps and canonical JSON. Imports nothing
from the rest of iacdrift."""
