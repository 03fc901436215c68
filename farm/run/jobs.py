"""Units of farm work: a frozen, JSON round-trippable `BacktestJob` whose content hash is its
task id and its result's storage key, and the JSON records a task leaves behind.

The key covers everything that decides the outcome (strategies with their variant parameters,
symbol, exchange, frame, engine config, code version), so a re-run finds finished work by key
and a double run stores one result.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import farm
from farm import registry
from farm.models import CancelledResult, ClosedResult
from farm.stats import BacktestStatistics


class BacktestJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    strategies: tuple[str, ...] = Field(min_length=1)
    """Canonical strategy (variant) names; several when they share a risk profile (a risk
    group), run one after another in this order in one task, as the walker would."""
    symbol: str
    exchange_name: str
    frame_name: str
    config: dict[str, Any]
    """The full engine config the job runs with (EngineConfig fields)."""
    code_version: str
    imports: tuple[str, ...] = ()
    """Modules that register the names above; workers import only those in FARM_IMPORTS."""

    def canonical_json(self) -> str:
        """Everything that decides the outcome; not `imports`, which only says how to load it."""
        return json.dumps(self.model_dump(mode="json", exclude={"imports"}), sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:40]


class StrategyOutcome(BaseModel):
    strategy_name: str
    stats: BacktestStatistics
    cancelled: list[CancelledResult] = []
    errors: list[str] = []
    """Messages published on listen_error while this strategy ran (e.g. a get_signal that raised)."""
    path: str | None = None
    """The engine path that ran: "kernel" or "per-tick" (None in results stored before this field)."""
    path_reason: str | None = None
    """Why it ran per tick (what blocked the kernel), if it did."""


class TaskResult(BaseModel):
    key: str
    job: BacktestJob
    status: Literal["ok"] = "ok"
    outcomes: list[StrategyOutcome]
    elapsed_seconds: float = 0.0
    """Informational only: never rendered, so reports stay byte-identical across workers."""
    worker: str = ""


class TaskFailure(BaseModel):
    key: str
    job: BacktestJob
    status: Literal["failed"] = "failed"
    error: str
    """One line: the exception type and message."""
    traceback: str = ""
    worker: str = ""


def strategy_code_version(strategy_names: list[str] | tuple[str, ...]) -> str:
    """Hash of the source of every module that defines these strategies, plus the package
    version: a result computed by other code is never mistaken for this code's."""
    sources: dict[str, str] = {}
    for name in strategy_names:
        schema = registry.get_strategy(name)
        for fn in (schema.get_signal, schema.signals):
            if fn is None:
                continue
            module = inspect.getmodule(fn)
            if module is None:
                continue
            try:
                sources[module.__name__] = inspect.getsource(module)
            except (OSError, TypeError):
                # Defined interactively: fall back to the function's own code object.
                code = getattr(fn, "__code__", None)
                sources[f"{module.__name__}.{getattr(fn, '__qualname__', '?')}"] = repr(
                    (code.co_code, code.co_consts) if code else fn
                )
    digest = hashlib.sha256(f"backtest-farm {farm.__version__}\n".encode())
    for module_name in sorted(sources):
        digest.update(f"\n# {module_name}\n".encode())
        digest.update(sources[module_name].encode())
    return digest.hexdigest()[:16]


def loaded_modules_defining(strategy_names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Module names a worker must import to know these strategies (skipping __main__)."""
    names: set[str] = set()
    for name in strategy_names:
        schema = registry.get_strategy(name)
        for fn in (schema.get_signal, schema.signals):
            module = inspect.getmodule(fn) if fn is not None else None
            if module is not None and module.__name__ != "__main__" and module.__name__ in sys.modules:
                names.add(module.__name__)
    return tuple(sorted(names))


__all__ = [
    "BacktestJob", "ClosedResult", "StrategyOutcome", "TaskFailure", "TaskResult",
    "job_payload_key", "loaded_modules_defining", "strategy_code_version",
]


def job_payload_key(payload: object) -> str | None:
    """The key of a job sent as a JSON dict (`BacktestJob.model_dump(mode="json")`), computed
    without validating it: a worker whose `BacktestJob` rejects the payload (another farm
    version queued it) still records the failure where the coordinator looks for it."""
    if not isinstance(payload, dict):
        return None
    body = {k: v for k, v in payload.items() if k != "imports"}
    try:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()[:40]
