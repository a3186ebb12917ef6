"""What iacdrift keeps between runs: the run history and the notification log
(SQLite), and the fingerprint salt."""
