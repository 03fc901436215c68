"""Variant blocks: the farm's unit of scheduling (issue #6). A block is a task that carries
several jobs of one strategy (its variants from `farm.grid`/`farm.variant`) on one symbol,
exchange, frame, engine config and code version; they run one after another in one process on
the candles the first one loaded (the block's jobs share one `farm.run.state.ExchangePool`, on
the per-tick and the kernel path alike; it ends with the block). A 1,000-variant sweep on one symbol is then tens of tasks, not 1,000.

Jobs stay the unit of results: each job keeps its own key and its own stored record, so
reports, re-runs and the status record do not depend on the block size. Risk groups (several
strategies in one job) are never blocked with anything: they are one task each, as before.

Planning is a pure function of the jobs and two numbers: the same pending jobs give the same
blocks (and block keys) in any process.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from farm.registry import parse_variant_name
from farm.run.jobs import BacktestJob

CELERY_MIN_TASKS = 16
"""The Celery coordinator does not know its worker count: 16 tasks keep up to 4 worker
processes busy with slack (FARM_BLOCK_MIN_TASKS for more)."""
TASKS_PER_WORKER = 4
"""Local pool: at least this many tasks per process when the sweep has the jobs for it."""


@dataclass(frozen=True)
class JobBlock:
    jobs: tuple[BacktestJob, ...]

    @property
    def key(self) -> str:
        """The task id: a one-job block is that job (its key, as without blocks); a larger one
        hashes its jobs' keys in order, so a re-driven block is the same task."""
        if len(self.jobs) == 1:
            return self.jobs[0].key
        digest = hashlib.sha256(b"block\n")
        digest.update("\n".join(job.key for job in self.jobs).encode())
        return digest.hexdigest()[:40]

    @property
    def label(self) -> str:
        """How the block reads in Flower and the worker log: `tf_sma(fast=5) ETH/BTC` for one
        job, `sma_cross x50 ETH/BTC [sma_cross(fast=3) .. sma_cross(fast=52)]` for a block."""
        first = self.jobs[0]
        if len(self.jobs) == 1:
            return f"{', '.join(first.strategies)} {first.symbol}"
        last = self.jobs[-1]
        return (f"{strategy_base(first.strategies[0])} x{len(self.jobs)} {first.symbol} "
                f"[{first.strategies[0]} .. {last.strategies[0]}]")


def strategy_base(name: str) -> str:
    """The registered strategy a (canonical) variant name derives from."""
    parsed = parse_variant_name(name)
    return parsed[0] if parsed else name


def _group_key(job: BacktestJob) -> tuple[str, ...] | None:
    """Jobs with the same group key may share a block; None: a risk group, always alone."""
    if len(job.strategies) != 1:
        return None
    return (strategy_base(job.strategies[0]), job.symbol, job.exchange_name, job.frame_name,
            json.dumps(job.config, sort_keys=True), job.code_version, ",".join(job.imports))


def effective_block_size(n_jobs: int, block_size: int, min_tasks: int) -> int:
    """`block_size`, shrunk so `n_jobs` make at least `min_tasks` tasks where they can."""
    if block_size < 1:
        raise ValueError(f"block size must be a positive integer, got {block_size}")
    if min_tasks > 0 and n_jobs > 0:
        block_size = min(block_size, math.ceil(n_jobs / min_tasks))
    return max(1, block_size)


def plan_blocks(jobs: Sequence[BacktestJob], block_size: int, *, min_tasks: int = 0) -> list[JobBlock]:
    """Group `jobs` by strategy base, symbol, exchange, frame, config and code version (in order
    of first appearance, jobs in their given order), then cut each group into the fewest blocks
    of at most the effective block size, as even as possible (1,000 by 64 is 16 blocks of 62 or
    63, not 15 of 64 and one of 40)."""
    size = effective_block_size(len(jobs), block_size, min_tasks)
    groups: dict[object, list[BacktestJob]] = {}
    for i, job in enumerate(jobs):
        group = _group_key(job)
        groups.setdefault(group if group is not None else ("risk group", i), []).append(job)
    blocks: list[JobBlock] = []
    for members in groups.values():
        count = math.ceil(len(members) / size)
        base, extra = divmod(len(members), count)
        start = 0
        for i in range(count):
            end = start + base + (1 if i < extra else 0)
            blocks.append(JobBlock(tuple(members[start:end])))
            start = end
    return blocks


__all__ = ["CELERY_MIN_TASKS", "TASKS_PER_WORKER", "JobBlock", "effective_block_size", "plan_blocks",
           "strategy_base"]
