"""Storage the farm stands on: one `Store` protocol (bytes by key) with file, Redis and S3
implementations chosen by URL, and the key scheme written down in one module (`keys`)."""

from farm.persist.store import Store, StoreError, open_store

__all__ = ["Store", "StoreError", "open_store"]
