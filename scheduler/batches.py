"""A batch is a walker swept over a list of symbols at a fixed UTC time of day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from farm import registry
from farm.errors import DuplicateError, NotFoundError, SchemaError


class Batch(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    walker_name: str
    symbols: list[str] = Field(min_length=1)
    hour: int = Field(default=2, ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    """UTC time of day the batch starts."""
    out: str = "dump/batches"
    """Reports go to `<out>/<name>/<UTC date>/`."""
    note: str | None = None

    def out_dir(self, when: datetime | None = None) -> Path:
        day = (when or datetime.now(UTC)).strftime("%Y-%m-%d")
        return Path(self.out) / self.name / day


_batches: dict[str, Batch] = {}
registry.on_clear(_batches.clear)


def add_batch(name: str, walker_name: str, symbols: list[str], *, hour: int = 2, minute: int = 0,
              out: str = "dump/batches", note: str | None = None) -> Batch:
    if name in _batches:
        raise DuplicateError(f"batch {name} already exist")
    try:
        batch = Batch(name=name, walker_name=walker_name, symbols=list(symbols), hour=hour, minute=minute, out=out,
                      note=note)
    except ValueError as exc:
        raise SchemaError(f"batch {name}: {exc}") from None
    _batches[name] = batch
    return batch


def get_batch(name: str) -> Batch:
    try:
        return _batches[name]
    except KeyError:
        raise NotFoundError(f"batch {name} not found source=batch") from None


def list_batches() -> list[Batch]:
    return list(_batches.values())


def clear_batches() -> None:
    _batches.clear()


def run_batch(name: str, *, executor: str = "local", when: datetime | None = None, **kwargs: Any) -> Any:
    """Sweep the batch's walker over its symbols now; reports under its dated directory."""
    from farm.run.sweep import sweep

    batch = get_batch(name)
    return sweep(batch.walker_name, batch.symbols, executor=executor, out=batch.out_dir(when), **kwargs)
