"""Storage the farm stands on: one `Store` protocol (bytes by key) with file, Redis and S3
implementations chosen by URL, and the key scheme written down in one module (`keys`)."""

from farm.persist.state import RestoredState, StateRecordError, restore_strategy_state, state_store
from farm.persist.store import Store, StoreError, open_store

__all__ = [
    "RestoredState", "StateRecordError", "Store", "StoreError", "open_store", "restore_strategy_state",
    "state_store",
]
