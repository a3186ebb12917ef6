"""What iacdrift keeps between runs: the run history (SQLite)."""
