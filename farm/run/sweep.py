"""The coordinator: a walker × symbols sweep planned as backtest jobs, run on an executor,
reduced from stored results (API.md "The farm").

A sweep is fully described by its manifest in the store, so any process can follow it
(`sweep_status`) or reduce it (`reduce_sweep`) later: the coordinator need not stay connected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from farm import registry
from farm.config import get_config
from farm.identity.inputs import plan_inputs
from farm.persist import Store, open_store
from farm.persist import keys as K
from farm.run.jobs import BacktestJob, loaded_modules_defining, strategy_code_version


class SweepManifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    sweep_id: str
    walker_name: str
    exchange_name: str
    frame_name: str
    metric: str
    symbols: list[str]
    strategies: list[str]
    """Canonical names in the walker's order."""
    jobs: list[BacktestJob]


class SweepProgress(BaseModel):
    sweep_id: str
    total: int
    done: int
    failed: int
    skipped: int = 0

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed


def default_store() -> Store:
    """Where results live: S3 when FARM_S3_BUCKET is set (workers on many hosts), else files
    under FARM_DATA_DIR (one machine, the embedded default). Redis holds no results: a cache's
    eviction policy must never be able to drop them."""
    from farm.persist.known import default_store_url

    return open_store(default_store_url())


def risk_groups(strategy_names: Sequence[str]) -> list[list[str]]:
    """Strategies that share a risk profile run together, in walker order, as one job (one
    timeline for their shared ledger whatever the worker count); the others run alone."""
    parent = list(range(len(strategy_names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_risk: dict[str, int] = {}
    for i, name in enumerate(strategy_names):
        for risk in registry.get_strategy(name).risk_names:
            if risk in by_risk:
                parent[find(i)] = find(by_risk[risk])
            else:
                by_risk[risk] = i
    groups: dict[int, list[str]] = {}
    for i, name in enumerate(strategy_names):
        groups.setdefault(find(i), []).append(name)
    return sorted(groups.values(), key=lambda g: strategy_names.index(g[0]))


def plan_sweep(walker_name: str, symbols: Sequence[str]) -> SweepManifest:
    """Validate every name up front, then expand strategies × symbols into jobs."""
    from farm.run.walker import validate_walker

    walker, names = validate_walker(walker_name)
    symbols = list(dict.fromkeys(symbols))
    if not symbols:
        raise ValueError("a sweep needs at least one symbol")
    for symbol in symbols:
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValueError(f"invalid symbol {symbol!r}")
    config = get_config().model_dump()
    groups = risk_groups(names)
    # Each job names only the modules its own strategies need, not the coordinator's FARM_IMPORTS:
    # a module only the coordinator imports would fail every job on workers without it. Workers
    # register exchanges and frames from their own FARM_IMPORTS.
    imports = {tuple(group): loaded_modules_defining(group) for group in groups}
    # Variants share their base strategy's code version: computed once per base group.
    by_base: dict[tuple[str, ...], str] = {}
    versions: dict[tuple[str, ...], str] = {}
    for group in groups:
        bases = tuple(registry.get_strategy(name).base_strategy or name for name in group)
        if bases not in by_base:
            by_base[bases] = strategy_code_version(group)
        versions[tuple(group)] = by_base[bases]
    span, data = plan_inputs(walker.exchange_name, walker.frame_name, symbols, config)
    jobs = [
        BacktestJob(
            strategies=tuple(group), symbol=symbol, exchange_name=walker.exchange_name,
            frame_name=walker.frame_name, frame=span, data=data[symbol], config=config,
            code_version=versions[tuple(group)], imports=imports[tuple(group)],
        )
        for symbol in symbols
        for group in groups
    ]
    body = json.dumps([walker_name, symbols, [j.key for j in jobs]], separators=(",", ":"))
    sweep_id = f"{walker_name[:24]}-{hashlib.sha256(body.encode()).hexdigest()[:12]}"
    return SweepManifest(
        sweep_id=sweep_id, walker_name=walker_name, exchange_name=walker.exchange_name,
        frame_name=walker.frame_name, metric=walker.metric, symbols=symbols, strategies=names, jobs=jobs,
    )


def save_manifest(manifest: SweepManifest, store: Store) -> None:
    store.write(K.sweep_manifest(manifest.sweep_id), manifest.model_dump_json().encode())


def load_manifest(sweep_id: str, store: Store | None = None) -> SweepManifest:
    store = store or default_store()
    data = store.read(K.sweep_manifest(sweep_id))
    if data is None:
        from farm.errors import NotFoundError
        from farm.persist.store import describe

        raise NotFoundError(f"sweep {sweep_id} not found in {describe(store)}")
    return SweepManifest.model_validate_json(data)


def sweep_status(sweep_id: str, store: Store | None = None) -> SweepProgress:
    """Progress from the store, any client, any host, coordinator running or not. The Redis
    status record (FARM_REDIS_URL) is a view that spares the store a look at each job it counts
    as done; every other job is looked up in the store, and what the record missed is put back
    (`status.repair`): a lost mark or an evicted set never shows a finished job as unfinished."""
    from farm.run import status

    store = store or default_store()
    manifest = load_manifest(sweep_id, store)
    record = status.members(sweep_id)
    known_done = record[0] if record is not None else set()
    done = failed = 0
    found_done: list[str] = []
    found_failed: list[str] = []
    for job in manifest.jobs:
        if job.key in known_done:
            done += 1
        elif store.exists(K.result(job.key)):
            done += 1
            found_done.append(job.key)
        elif store.exists(K.failure(job.key)):
            failed += 1
            found_failed.append(job.key)
    if record is not None:
        status.repair(sweep_id, done=found_done, failed=[k for k in found_failed if k not in record[1]])
    return SweepProgress(sweep_id=sweep_id, total=len(manifest.jobs), done=done, failed=failed)


def sweep(
    walker_name: str,
    symbols: Sequence[str],
    *,
    executor: str = "local",
    out: str | Path | None = None,
    store: Store | None = None,
    workers: int | None = None,
    on_progress: Callable[[SweepProgress], Any] | None = None,
    detach: bool = False,
    block_size: int | None = None,
) -> Any:
    """Plan, run what is not stored yet, reduce into `SweepResult` and reports under `out`.

    A failed or erroring task never makes this raise: it is listed in the result and reports.
    With `detach=True` (celery) it returns the sweep id once the tasks are queued. Jobs run as
    variant blocks of at most `block_size` jobs per task (None: FARM_BLOCK_SIZE; 1: a task per
    job); records, progress and reports stay per job, identical whatever the block size."""
    from farm.run import status
    from farm.run.executors import get_executor
    from farm.run.reduce import reduce_sweep

    manifest = plan_sweep(walker_name, symbols)
    store = store or default_store()
    save_manifest(manifest, store)
    pending = [job for job in manifest.jobs if not store.exists(K.result(job.key))]
    for job in pending:  # a failure left by an earlier run must not count as this run's outcome
        store.delete(K.failure(job.key))
    skipped = len(manifest.jobs) - len(pending)
    pending_keys = {job.key for job in pending}
    status.open_record(manifest.sweep_id, walker_name=walker_name, total=len(manifest.jobs),
                       symbols=len(manifest.symbols), strategies=len(manifest.strategies),
                       stored=[job.key for job in manifest.jobs if job.key not in pending_keys],
                       pending=pending_keys)
    runner = get_executor(executor, workers=workers, block_size=block_size)
    if detach:
        runner.submit(manifest.sweep_id, pending, store)
        return manifest.sweep_id
    runner.run(manifest.sweep_id, pending, store, on_progress=on_progress, skipped=skipped)
    # A stored result found unreadable while reducing is quarantined and its job run again here.
    return reduce_sweep(manifest, store, out=Path(out) if out is not None else None, tasks_run=len(pending),
                        tasks_skipped=skipped, rerun=lambda jobs: runner.run(manifest.sweep_id, jobs, store))
