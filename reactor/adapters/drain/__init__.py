"""Drain watcher: pending-operations metric of BLUE tasks being drained."""
