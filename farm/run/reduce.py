"""Stored task results → per-symbol `WalkerResults`, a symbols × strategies heatmap, reports.

Only stored results are read (never in-memory listeners): whichever workers ran the tasks, and
in whatever order they finished, the same results give byte-identical markdown, HTML and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from farm import registry
from farm.config import get_config
from farm.errors import FarmError
from farm.heat import HeatmapStatistics, heatmap_statistics
from farm.persist import Store
from farm.persist import keys as K
from farm.persist.quarantine import read_or_quarantine
from farm.reports.files import safe_filename, write_report
from farm.reports.heat import render_heat_report
from farm.reports.heatmap import (
    METRICS,
    HeatmapMatrix,
    heatmap_matrix,
    render_heatmap_html,
    render_heatmap_png,
)
from farm.reports.markdown import num, table
from farm.reports.sweep_pages import param_matrices, render_results_html, top_strategies
from farm.reports.walker import WalkerResults, render_walker_report, walker_results
from farm.run.jobs import BacktestJob, StrategyOutcome, TaskFailure, TaskResult
from farm.run.sweep import SweepManifest
from farm.stats import BacktestStatistics

Rerun = Callable[[list[BacktestJob]], Any]
"""Runs jobs again and returns once their records are stored (an executor's `run`)."""


class SweepFailureRecord(BaseModel):
    task_key: str
    strategy_name: str
    symbol: str
    error: str


class TaskErrors(BaseModel):
    task_key: str
    strategy_name: str
    symbol: str
    messages: list[str]


class SweepResult(BaseModel):
    sweep_id: str
    walker_results: dict[str, WalkerResults]
    """By symbol."""
    heatmap: dict[str, HeatmapStatistics]
    """By strategy: its rows are the symbols (as `farm.Heat`)."""
    matrix: HeatmapMatrix
    """The walker's metric over symbols × strategies (the picture's data)."""
    tasks_total: int
    tasks_run: int
    tasks_skipped: int
    failures: list[SweepFailureRecord]
    errors: list[TaskErrors]
    out: Path | None = None


def load_outcomes(manifest: SweepManifest, store: Store, *, rerun: Rerun | None = None
                  ) -> tuple[dict[tuple[str, str], StrategyOutcome], list[TaskFailure], dict[str, BacktestJob]]:
    """(symbol, strategy) → outcome for every stored result; failures for the rest (a job with
    neither record yet counts as failed "not finished"). A result that cannot be read is
    quarantined (`farm.persist.quarantine`); with `rerun` its jobs run again at once and are
    read back, without it they count as failed with the reason (the next run recomputes them)."""
    outcomes: dict[tuple[str, str], StrategyOutcome] = {}
    failures: list[TaskFailure] = []
    job_of: dict[str, BacktestJob] = {job.key: job for job in manifest.jobs}
    records = {job.key: _load(job, store) for job in manifest.jobs}
    unreadable = [job for job in manifest.jobs if records[job.key][1]]
    if unreadable and rerun is not None:
        rerun(unreadable)
        records.update({job.key: _load(job, store) for job in unreadable})
    for job in manifest.jobs:
        record, problem = records[job.key]
        if isinstance(record, TaskResult):
            for outcome in record.outcomes:
                outcomes[(job.symbol, outcome.strategy_name)] = outcome
        elif isinstance(record, TaskFailure):
            failures.append(record)
        else:
            failures.append(TaskFailure(key=job.key, job=job, error=problem or "not finished: no result stored yet"))
    return outcomes, failures, job_of


def _load(job: BacktestJob, store: Store) -> tuple[TaskResult | TaskFailure | None, str | None]:
    """A job's result, else its failure record; with the reason when a record was quarantined."""
    result, problem = read_or_quarantine(store, K.result(job.key), TaskResult)
    if result is not None:
        return result, None
    failure, failure_problem = read_or_quarantine(store, K.failure(job.key), TaskFailure)
    if failure is not None and problem is None:
        return failure, None
    return None, problem or failure_problem


def reduce_sweep(manifest: SweepManifest, store: Store, *, out: Path | None, tasks_run: int = 0,
                 tasks_skipped: int = 0, rerun: Rerun | None = None) -> SweepResult:
    """The sweep's result and reports from what the store holds; `rerun(jobs)` (the coordinator
    passes its executor) recomputes jobs whose stored result was unreadable (`load_outcomes`)."""
    outcomes, failed, _ = load_outcomes(manifest, store, rerun=rerun)
    # The frame's calendar of the standard statistics, from the jobs themselves (their keys hold
    # its dates), so a process that never registered the frame renders the same reports.
    span = (manifest.jobs[0].frame.start_ms, manifest.jobs[0].frame.end_ms) if manifest.jobs else None
    walkers = {
        symbol: walker_results(
            manifest.walker_name, symbol, manifest.exchange_name, manifest.frame_name, manifest.metric,
            [(name, _stats(outcomes.get((symbol, name)))) for name in manifest.strategies], frame_span=span,
        )
        for symbol in manifest.symbols
    }
    heat = {
        name: heatmap_statistics({
            symbol: list(reversed(outcome.stats.signal_list))  # chronological
            for symbol in manifest.symbols
            if (outcome := outcomes.get((symbol, name))) is not None
        })
        for name in manifest.strategies
    }
    metric = manifest.metric if manifest.metric in METRICS else "sharpe_ratio"
    shown = top_strategies(walkers, manifest.strategies)
    title = manifest.walker_name if len(shown) == len(manifest.strategies) else (
        f"{manifest.walker_name} ({len(shown)} of {len(manifest.strategies)} strategies: each symbol's best, "
        "then by mean rank)")
    matrix = heatmap_matrix({name: heat[name] for name in shown}, metric, symbols=manifest.symbols, title=title,
                            min_trades=int(get_config().walker_min_trades))
    failures = [
        SweepFailureRecord(task_key=f.key, strategy_name=name, symbol=f.job.symbol, error=f.error)
        for f in failed for name in f.job.strategies
    ]
    errors = [
        TaskErrors(task_key=job.key, strategy_name=name, symbol=job.symbol, messages=outcome.errors)
        for job in manifest.jobs for name in job.strategies
        if (outcome := outcomes.get((job.symbol, name))) is not None and outcome.errors
    ]
    result = SweepResult(
        sweep_id=manifest.sweep_id, walker_results=walkers, heatmap=heat, matrix=matrix,
        tasks_total=len(manifest.jobs), tasks_run=tasks_run, tasks_skipped=tasks_skipped, failures=failures,
        errors=errors, out=out,
    )
    if out is not None:
        write_sweep_reports(result, manifest, outcomes, out)
    return result


def _stats(outcome: StrategyOutcome | None) -> BacktestStatistics | None:
    return None if outcome is None else outcome.stats


def write_sweep_reports(result: SweepResult, manifest: SweepManifest,
                        outcomes: dict[tuple[str, str], StrategyOutcome], out: Path) -> None:
    for symbol, walker in result.walker_results.items():
        write_report(render_walker_report(walker), "walker", f"{manifest.walker_name}_{symbol}.md", out / "walker")
    for name, stats in result.heatmap.items():
        write_report(render_heat_report(name, stats), "heat", f"{name}.md", out / "heat")
    out.mkdir(parents=True, exist_ok=True)
    render_heatmap_png(result.matrix, out / "heatmap.png")
    render_heatmap_html(result.matrix, out / "heatmap.html")
    table = tasks_table(manifest, outcomes, result)
    frame = table.to_pandas()
    render_results_html(frame, out / "results.html", title=f"Sweep {result.sweep_id}: every task",
                        metric=manifest.metric)
    metric, column = (manifest.metric, "metric_value") if manifest.metric in METRICS else ("total_pnl", "total_pnl")
    pages: list[tuple[str, str, str, str]] = []
    for base, symbol, matrix, note in param_matrices(frame, metric, column, manifest.walker_name):
        stem = safe_filename(f"{base}_{symbol}")
        render_heatmap_html(matrix, out / "params" / f"{stem}.html")
        render_heatmap_png(matrix, out / "params" / f"{stem}.png")
        pages.append((base, symbol, stem, note))
    write_report(render_sweep_summary(result, manifest, pages), "sweep", "README.md", out)
    # What the sweep found, not how this invocation ran (tasks_run/skipped): re-runs stay identical.
    summary = result.model_dump(mode="json", exclude={"out", "heatmap", "walker_results", "tasks_run", "tasks_skipped"})
    summary["best"] = {s: w.best_strategy for s, w in result.walker_results.items()}
    write_report(json.dumps(summary, indent=1, sort_keys=True) + "\n", "sweep", "summary.json", out)
    pq.write_table(table, out / "tasks.parquet")


def _param_lines(pages: Sequence[tuple[str, str, str, str]]) -> list[str]:
    if not pages:
        return []
    return [
        "## Parameter heatmaps",
        "",
        table(["Strategy", "Symbol", "Heatmap", "Note"], [
            [base, symbol, f"[html](params/{stem}.html), [png](params/{stem}.png)", note or ""]
            for base, symbol, stem, note in pages
        ]),
        "",
    ]


STAT_COLUMNS = ("total_signals", "win_count", "loss_count", "win_rate", "avg_pnl", "total_pnl", "std_dev",
                "sharpe_ratio", "annualized_sharpe_ratio", "certainty_ratio", "expected_yearly_returns")
"""The reference's statistics (SPEC §11.1), named as in `BacktestStatistics`."""
STANDARD_COLUMNS = {
    "return_pct": "return_pct", "cagr_pct": "cagr_pct", "return_ann_pct": "return_ann_pct",
    "volatility_ann_pct": "volatility_ann_pct", "daily_sharpe_ratio": "sharpe_ratio",
    "sortino_ratio": "sortino_ratio", "calmar_ratio": "calmar_ratio", "max_drawdown_pct": "max_drawdown_pct",
    "max_drawdown_duration_days": "max_drawdown_duration_days", "exposure_time_pct": "exposure_time_pct",
    "profit_factor": "profit_factor", "expectancy_pct": "expectancy_pct", "sqn": "sqn",
    "best_trade_pct": "best_trade_pct", "worst_trade_pct": "worst_trade_pct", "avg_trade_pct": "avg_trade_pct",
    "avg_trade_duration_days": "avg_trade_duration_days", "max_trade_duration_days": "max_trade_duration_days",
}
"""Column → `farm.metrics.StandardStats` field: the standard statistics over the frame
(`daily_sharpe_ratio` is the daily-return Sharpe ratio, beside the reference's per-trade one)."""
PARAM_PREFIX = "param_"
"""Strategy parameters get one column each, `param_<name>`, from the variant's registered params."""


def _param_columns(names: list[str]) -> dict[str, list[object]]:
    """`base_strategy` (a variant's base, else the strategy) and one column per parameter any
    strategy declares (None where a strategy lacks it), read from the registered params, not
    parsed from variant names. A column whose values pyarrow cannot hold in one type (numbers
    and text) is stored as text."""
    params: list[dict[str, object]] = []
    bases: list[str] = []
    for name in names:
        try:
            schema = registry.get_strategy(name)
            params.append(dict(schema.params))
            bases.append(schema.base_strategy or schema.strategy_name)
        except FarmError:  # not registered in this process: no parameter columns for it
            params.append({})
            bases.append(name)
    keys = sorted({k for p in params for k in p})
    columns: dict[str, list[object]] = {"base_strategy": bases}
    for key in keys:
        values = [p.get(key) for p in params]
        try:
            pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            values = [None if v is None else str(v) for v in values]
        columns[PARAM_PREFIX + key] = values
    return columns


def tasks_table(manifest: SweepManifest, outcomes: dict[tuple[str, str], StrategyOutcome],
                result: SweepResult) -> pa.Table:
    """One row per (symbol, strategy): status, the walker's rank and ranking value, the
    reference's statistics, the standard statistics, one `param_<name>` column per strategy
    parameter, the error count, which engine ran it (`engine_path`: "kernel" or "per-tick",
    with the reason); load it with `pandas.read_parquet` to study a sweep (pivot by parameter
    columns for a parameter × parameter table)."""
    failed = {(f.symbol, f.strategy_name): f.error for f in result.failures}
    ranked = {(symbol, s.strategy_name): s for symbol, w in result.walker_results.items() for s in w.strategies}
    rows: dict[str, list] = {k: [] for k in ("symbol", "strategy_name", "task_key", "status", "error", "errors",
                                             "engine_path", "engine_path_reason", "rank", "metric_value",
                                             *STAT_COLUMNS, *STANDARD_COLUMNS)}
    for job in manifest.jobs:
        for name in job.strategies:
            outcome = outcomes.get((job.symbol, name))
            entry = ranked.get((job.symbol, name))
            standard = entry.standard if entry is not None else None
            rows["rank"].append(entry.rank if entry is not None else None)
            rows["metric_value"].append(entry.metric if entry is not None else None)
            for column, field_name in STANDARD_COLUMNS.items():
                rows[column].append(getattr(standard, field_name) if standard is not None else None)
            rows["symbol"].append(job.symbol)
            rows["strategy_name"].append(name)
            rows["task_key"].append(job.key)
            rows["status"].append("ok" if outcome else "failed")
            rows["error"].append(failed.get((job.symbol, name)))
            rows["errors"].append(len(outcome.errors) if outcome else 0)
            rows["engine_path"].append(outcome.path if outcome else None)  # kernel / per-tick
            rows["engine_path_reason"].append(outcome.path_reason if outcome else None)
            for column in STAT_COLUMNS:
                rows[column].append(getattr(outcome.stats, column) if outcome else None)
    schema = pa.schema([
        ("symbol", pa.string()), ("strategy_name", pa.string()), ("task_key", pa.string()),
        ("status", pa.string()), ("error", pa.string()), ("errors", pa.int64()),
        ("engine_path", pa.string()), ("engine_path_reason", pa.string()),
        ("rank", pa.int64()), ("metric_value", pa.float64()),
        *[(c, pa.int64() if c in ("total_signals", "win_count", "loss_count") else pa.float64())
          for c in STAT_COLUMNS],
        *[(c, pa.float64()) for c in STANDARD_COLUMNS],
    ])
    table = pa.table(rows, schema=schema)
    for column, values in _param_columns(rows["strategy_name"]).items():
        table = table.append_column(column, pa.array(values))
    return table


def render_sweep_summary(result: SweepResult, manifest: SweepManifest,
                         param_pages: Sequence[tuple[str, str, str, str]] = ()) -> str:
    lines = [
        f"# Sweep {result.sweep_id}",
        "",
        f"**Walker:** {manifest.walker_name} | **Exchange:** {manifest.exchange_name} | "
        f"**Frame:** {manifest.frame_name} | **Metric:** {manifest.metric}",
        f"**Symbols:** {len(manifest.symbols)} | **Strategies:** {len(manifest.strategies)} | "
        f"**Tasks:** {result.tasks_total} ({len({f.task_key for f in result.failures})} failed)",
        "",
        "## Best strategy per symbol",
        "",
        table(["Symbol", "Best strategy", f"Best {manifest.metric}", "Report"], [
            [s, w.best_strategy or "N/A", num(w.best_metric, 2),
             f"[{safe_filename(f'{manifest.walker_name}_{s}.md')}](walker/{safe_filename(f'{manifest.walker_name}_{s}.md')})"]
            for s, w in result.walker_results.items()
        ]),
        "",
        f"Heatmap of {result.matrix.metric} ({len(result.matrix.strategies)} of {len(manifest.strategies)} "
        "strategies: each symbol's best, then by mean rank, when there are more): [heatmap.html](heatmap.html), "
        "[heatmap.png](heatmap.png). Every task, sortable, with its parameters and standard statistics: "
        "[results.html](results.html); the same as a table: [tasks.parquet](tasks.parquet); "
        "[summary.json](summary.json).",
        "",
        *_param_lines(param_pages),
        "## Failed tasks",
        "",
    ]
    if result.failures:
        lines.append(table(["Symbol", "Strategy", "Task", "Error"], [
            [f.symbol, f.strategy_name, f.task_key[:12], f.error.replace("|", "\\|")] for f in result.failures
        ]))
    else:
        lines.append("None.")
    lines += ["", "## Errors during runs", ""]
    if result.errors:
        lines.append(table(["Symbol", "Strategy", "Errors", "First error"], [
            [e.symbol, e.strategy_name, str(len(e.messages)), e.messages[0].splitlines()[0].replace("|", "\\|")]
            for e in result.errors
        ]))
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"
