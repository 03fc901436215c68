"""Units of farm work: a frozen, JSON round-trippable `BacktestJob` whose content hash is its
task id and its result's storage key, and the JSON records a task leaves behind.

The key covers everything that decides the outcome and nothing else (the rule is written once,
in `farm.identity`), so a re-run finds finished work by key and a double run stores one result.
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from farm import registry
from farm.identity import FrameSpan, content_key, key_body
from farm.identity.inputs import check_inputs as check_job_inputs
from farm.identity.inputs import strategy_code_version
from farm.models import CancelledResult, ClosedResult
from farm.stats import BacktestStatistics


class BacktestJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    strategies: tuple[str, ...] = Field(min_length=1)
    """Canonical strategy (variant) names; several when they share a risk profile (a risk
    group), run one after another in this order in one task, as the walker would."""
    symbol: str
    exchange_name: str
    """Where a worker finds the exchange (its registry); the key has `data` instead."""
    frame_name: str
    """Where a worker finds the frame; the key has `frame` instead."""
    frame: FrameSpan
    """The frame's interval and dates: what decides the outcome, whatever the frame is called."""
    data: str
    """The identity of the exchange's candles for `symbol` (`farm.identity.data`)."""
    config: dict[str, Any]
    """The full engine config the job runs with (EngineConfig fields); only the outcome fields
    are in the key (`farm.identity.NOT_OUTCOME`)."""
    code_version: str
    """The code version of the strategies as the planning process imported them."""
    imports: tuple[str, ...] = ()
    """Modules that register the names above; workers import only those in FARM_IMPORTS."""

    def canonical_json(self) -> str:
        """Everything that decides the outcome (`farm.identity.key_body`)."""
        return json.dumps(key_body(self.model_dump(mode="json")), sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        return content_key(self.model_dump(mode="json"))


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


def plan_job(strategies: tuple[str, ...] | list[str], symbol: str, exchange_name: str, frame_name: str, *,
             config: dict[str, Any] | None = None, imports: tuple[str, ...] = ()) -> BacktestJob:
    """One job with its inputs looked up from the registries as a sweep plans them (a sweep does
    the same for many jobs at once, computing each symbol's data identity once)."""
    from farm.config import get_config
    from farm.identity.inputs import plan_inputs

    config = get_config().model_dump() if config is None else config
    span, data = plan_inputs(exchange_name, frame_name, [symbol], config)
    return BacktestJob(strategies=tuple(strategies), symbol=symbol, exchange_name=exchange_name,
                       frame_name=frame_name, frame=span, data=data[symbol], config=config,
                       code_version=strategy_code_version(strategies), imports=imports)


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
    "BacktestJob", "ClosedResult", "StrategyOutcome", "TaskFailure", "TaskResult", "check_job_inputs",
    "job_payload_key", "loaded_modules_defining", "plan_job", "strategy_code_version",
]


def job_payload_key(payload: object) -> str | None:
    """The key of a job sent as a JSON dict (`BacktestJob.model_dump(mode="json")`), computed
    without validating it: a worker whose `BacktestJob` rejects the payload (another farm
    version queued it) still records the failure where the coordinator looks for it."""
    if not isinstance(payload, dict):
        return None
    try:
        return content_key(payload)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
