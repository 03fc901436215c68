"""Running one `BacktestJob` in this process: what a local pool process and a Celery worker
both do. `execute` returns the result or raises; `execute_and_store` leaves exactly one record
(result or failure) under the job's key.

A job is one run (`farm.run.state.RunState`): its own engine config (the job's, merged into
this process's), storages that end with it, and the exchange clients of its block; it never
touches the process-wide config or report storages, so nothing carries over to the next job.
"""

from __future__ import annotations

import importlib
import json
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from farm import events, registry
from farm.config import EngineConfig, get_config, merged_config
from farm.errors import FarmError, is_permanent
from farm.identity.code import snapshot_loaded
from farm.persist import Store
from farm.persist import keys as K
from farm.run import status
from farm.run.backtest import backtest_path, run_backtest, run_group
from farm.run.jobs import BacktestJob, StrategyOutcome, TaskFailure, TaskResult, check_job_inputs
from farm.run.state import ExchangePool, RunState, current_run
from farm.run.storage import Storages, keep_partials
from farm.stats import backtest_statistics


class JobError(FarmError):
    """A job that cannot run here (unknown module or name, other code version)."""


class TransientJobError(FarmError):
    """A failure worth retrying (the data source timed out or refused the connection)."""


_loaded_by_configured: set[str] = set()


def mark_configured_imports(before: set[str]) -> None:
    """Called by a worker right after importing FARM_IMPORTS: the modules loaded since `before`
    came in through configured modules (e.g. the strategy package they import) and are allowed."""
    loaded = set(sys.modules) - before
    _loaded_by_configured.update(loaded)
    snapshot_loaded(loaded)  # the code version of what this worker imported, taken now


def import_job_modules(modules: Sequence[str], allowed: Sequence[str] | None) -> None:
    """Strategy code is imported only from configured modules: a job may name a module the
    worker's FARM_IMPORTS lists, or one those modules loaded when the worker imported them
    (`mark_configured_imports`); nothing else is imported on a job's say-so (`allowed=None`:
    in-process runs, where everything was registered by the caller)."""
    for name in modules:
        if allowed is not None and name not in allowed and name not in _loaded_by_configured:
            raise JobError(f"module {name!r} is not in this worker's FARM_IMPORTS ({', '.join(allowed) or 'empty'})")
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken module is the job's failure
            raise JobError(f"module {name!r} failed to import: {type(exc).__name__}: {exc}") from exc
    registry.note_imported(modules)


def job_config(job: BacktestJob) -> EngineConfig:
    """The engine config a job runs with: its fields over this process's config (type-checked,
    not cross-checked: the planner's config passed its checks where it was set)."""
    return merged_config(get_config(), job.config, unsafe=True)


def execute(job: BacktestJob, *, allowed_imports: Sequence[str] | None = None,
            exchanges: ExchangePool | None = None) -> TaskResult:
    """`exchanges`: the candle clients of the job's block (jobs with the same config share
    them); None: the job's own."""
    started = time.monotonic()
    import_job_modules(job.imports, allowed_imports)
    for name in job.strategies:
        registry.get_strategy(name, source="job")
    # Code as imported, frame dates, data: refused, never run, if they differ from the plan.
    check_job_inputs(job, memo=None if exchanges is None else exchanges.identities)
    run = RunState(job_config(job), storages=Storages(), exchanges=exchanges)
    outcomes: list[StrategyOutcome] = []
    errors: dict[str, list[str]] = {name: [] for name in job.strategies}
    results: dict[str, list] = {name: [] for name in job.strategies}

    def collect(exc: BaseException) -> None:
        # The error channel is process-wide: keep only this job's (it is published inside its
        # run), not those of jobs running next to it (a threads pool). Errors carry their
        # strategy, so those of a risk group's strategies stay apart.
        if current_run() is run:
            errors.get(getattr(exc, "strategy_name", None), errors[job.strategies[0]]).append(str(exc))

    unsubscribe = events.listen_error(collect)
    no_partials = keep_partials.set(False)  # the result keeps statistics only (see keep_partials)
    try:
        try:
            if len(job.strategies) == 1:
                name = job.strategies[0]
                results[name] = list(run_backtest(job.symbol, strategy_name=name, exchange_name=job.exchange_name,
                                                  frame_name=job.frame_name, run=run))
            else:  # a risk group: stepped together on one timeline, sharing its ledger
                for name, result in run_group(job.symbol, strategy_names=list(job.strategies),
                                              exchange_name=job.exchange_name, frame_name=job.frame_name, run=run):
                    results[name].append(result)
        except Exception as exc:
            if _is_transient(exc):
                raise TransientJobError(f"{type(exc).__name__}: {exc}") from exc
            raise
        for name in job.strategies:
            closed = run.storages.backtest.get((job.symbol, name), [])
            path = backtest_path(job.symbol, name, run.storages)
            outcomes.append(
                StrategyOutcome(
                    strategy_name=name,
                    stats=backtest_statistics(closed),
                    cancelled=[r for r in results[name] if r.action == "cancelled"],
                    errors=errors[name],
                    path=None if path is None else path.path,
                    path_reason=None if path is None else path.reason,
                )
            )
    finally:
        keep_partials.reset(no_partials)
        unsubscribe()
    return TaskResult(key=job.key, job=job, outcomes=outcomes, elapsed_seconds=time.monotonic() - started,
                      worker=socket.gethostname())


def _is_transient(exc: BaseException) -> bool:
    """A timeout or refused connection anywhere in the cause chain, unless something in it is
    permanent (`is_permanent`: a missing symbol, malformed candles): that fails the job at once."""
    seen: BaseException | None = exc
    while seen is not None:
        if is_permanent(seen):
            return False
        if isinstance(seen, TimeoutError | ConnectionError):
            return True
        seen = seen.__cause__
    return False


def execute_and_store(job: BacktestJob, store: Store, *, allowed_imports: Sequence[str] | None = None,
                      raise_transient: bool = False, sweep_id: str | None = None,
                      exchanges: ExchangePool | None = None) -> TaskResult | TaskFailure:
    """Run and write the result under `results/<key>`, or a failure with its traceback under
    `failures/<key>`. A transient error is re-raised when the caller retries (Celery).
    `exchanges` as in `execute`."""
    try:
        result: TaskResult | TaskFailure = execute(job, allowed_imports=allowed_imports, exchanges=exchanges)
    except TransientJobError as exc:
        if raise_transient:
            raise
        result = _failure(job, exc)
    except Exception as exc:  # noqa: BLE001 - recorded, never lost
        result = _failure(job, exc)
    key = result.key  # the job's key, hashed once (it costs a JSON dump of the job)
    if isinstance(result, TaskResult):
        store.write(K.result(key), result.model_dump_json().encode())
        store.delete(K.failure(key))
    else:
        store.write(K.failure(key), result.model_dump_json().encode())
    if sweep_id is not None:
        status.mark(sweep_id, key, ok=isinstance(result, TaskResult))
    return result


def execute_block_and_store(jobs: Sequence[BacktestJob], store: Store, *,
                            allowed_imports: Sequence[str] | None = None, raise_transient: bool = False,
                            sweep_id: str | None = None, on_job: Callable[[str, str], Any] | None = None,
                            ) -> list[tuple[str, str]]:
    """A variant block (`farm.run.blocks`): its jobs one after another in this process, each
    leaving its own record, so the candles the first job loaded serve the rest (the block's jobs
    share one `ExchangePool` per engine config; it ends with the block). A job whose result is already stored is skipped: the block
    is being retried or was redelivered after its worker died. One job failing is that job's
    failure record; the others still run. A transient error is re-raised at once when the caller
    retries (Celery retries the block; the jobs stored by then are skipped). Returns (key,
    "ok" | "failed") per job, in order; `on_job(key, status)` is called as each one ends."""
    statuses: list[tuple[str, str]] = []
    pools: dict[str, ExchangePool] = {}
    for job in jobs:
        key = job.key
        if store.exists(K.result(key)):
            if sweep_id is not None:  # the run that stored it may have died before marking it
                status.mark(sweep_id, key, ok=True)
            outcome = "ok"
        else:
            pool = pools.setdefault(json.dumps(job.config, sort_keys=True), ExchangePool())
            outcome = execute_and_store(job, store, allowed_imports=allowed_imports, raise_transient=raise_transient,
                                        sweep_id=sweep_id, exchanges=pool).status
        statuses.append((key, outcome))
        if on_job is not None:
            on_job(key, outcome)
    return statuses


def _failure(job: BacktestJob, exc: BaseException) -> TaskFailure:
    return TaskFailure(
        key=job.key, job=job, error=f"{type(exc).__name__}: {exc}".splitlines()[0],
        traceback="".join(traceback.format_exception(exc)), worker=socket.gethostname(),
    )


def record_failure(job: BacktestJob, store: Store, exc: BaseException, *, sweep_id: str | None = None) -> TaskFailure:
    """For executors: a task that died outside `execute_and_store` (retries exhausted)."""
    failure = _failure(job, exc)
    store.write(K.failure(job.key), failure.model_dump_json().encode())
    if sweep_id is not None:
        status.mark(sweep_id, job.key, ok=False)
    return failure


def record_unfinished(jobs: Sequence[BacktestJob], store: Store, exc: BaseException, *,
                      sweep_id: str | None = None) -> list[tuple[str, str]]:
    """For executors: a block that died outside `execute_block_and_store` (retries exhausted, its
    pool process killed). Jobs with a stored result keep it; every other one gets `exc` as its
    failure. Returns (key, "ok" | "failed") per job, in order."""
    statuses: list[tuple[str, str]] = []
    for job in jobs:
        if store.exists(K.result(job.key)):
            statuses.append((job.key, "ok"))
        else:
            record_failure(job, store, exc, sweep_id=sweep_id)
            statuses.append((job.key, "failed"))
    return statuses
