"""State store: SQLite file with intent, leases, history, hook deliveries and the audit log."""

from reactor.adapters.store.errors import InvalidRecord, LeaseLost, RevisionConflict, StoreError
from reactor.adapters.store.sqlite import IntentRecord, StateStore

__all__ = ["IntentRecord", "InvalidRecord", "LeaseLost", "RevisionConflict", "StateStore", "StoreError"]
