"""State store: SQLite file with intent, leases and history."""
