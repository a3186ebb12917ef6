"""Pure primitives that both ``models/`` and ``core/`` use: Terraform addresses,
JSON pointers, globs, durations, timestamps, canonical JSON and counted words.
Imports nothing from the rest of iacdrift."""
