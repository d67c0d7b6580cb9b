"""SQLite storage: schema migrations, one writer thread with group commit, read connections.

All SQL lives in this package so another database (PostgreSQL, for several gateway
instances) can take its place behind the same interface.
"""

from gateway.store.database import IntegrityError, Store, StoreError

__all__ = ["IntegrityError", "Store", "StoreError"]
