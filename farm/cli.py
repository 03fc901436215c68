"""The `farm` command. Every bad input ends in one line naming the bad value and a non-zero
exit (no traceback); `--help` documents each command."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from farm.config import get_settings
from farm.errors import FarmError

app = typer.Typer(
    name="farm",
    help="backtest-farm: backtest strategies on one machine or a Celery farm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

ImportsOption = Annotated[
    str | None,
    typer.Option("--imports", help="Comma-separated modules that register exchanges/frames/strategies "
                                   "(default: FARM_IMPORTS)."),
]
OutOption = Annotated[Path, typer.Option("--out", help="Directory for the reports.")]


class UsageError(Exception):
    """A bad value on the command line or in the environment."""


def import_modules(imports: str | None) -> list[str]:
    """Import the user's registration modules; the current directory is importable, like `python -m`."""
    names = [m.strip() for m in (imports if imports is not None else get_settings().imports).split(",") if m.strip()]
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"cannot import module {name!r} (from --imports/FARM_IMPORTS): {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a broken strategy module
            raise UsageError(f"module {name!r} failed while importing: {type(exc).__name__}: {exc}") from None
    return names


@contextmanager
def one_line_errors() -> Iterator[None]:
    try:
        yield
    except (FarmError, UsageError, KeyError, ValueError, TypeError, OSError) as exc:
        message = str(exc).strip().splitlines()
        # One line whatever the terminal width (rich would wrap it): scripts grep these.
        typer.echo(f"error: {' '.join(message) if message else type(exc).__name__}", err=True)
        raise typer.Exit(2) from None


class RateColumn(ProgressColumn):
    """Completed units per second (tasks/s in a sweep); blank until rich has a speed estimate."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "", style="progress.data.speed")


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.percentage:>5.1f}%"),
        RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )


@app.command()
def backtest(
    strategy: Annotated[str, typer.Option("--strategy", help="Strategy (or variant) name.")],
    exchange: Annotated[str, typer.Option("--exchange", help="Exchange name.")],
    frame: Annotated[str, typer.Option("--frame", help="Frame name.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol, e.g. BTC/USDT.")],
    imports: ImportsOption = None,
    out: OutOption = Path("dump"),
) -> None:
    """Backtest one strategy on one symbol; print its statistics and write its reports."""
    import farm

    with one_line_errors():
        import_modules(imports)
        from farm.run.backtest import validate_names

        validate_names(strategy, exchange, frame)
        errors: list[BaseException] = []
        unsubscribe_errors = farm.listen_error(errors.append)
        with progress_bar() as bar:
            task = bar.add_task(f"{strategy} {symbol}", total=1000)
            unsubscribe = farm.listen_backtest_progress(lambda e: bar.update(task, completed=int(e.progress * 1000)))
            try:
                results = list(farm.Backtest.run(symbol, strategy_name=strategy, exchange_name=exchange, frame_name=frame))
            finally:
                unsubscribe()
                unsubscribe_errors()
        stats = farm.Backtest.get_data(symbol, strategy)
        paths = [
            farm.Backtest.dump(symbol, strategy, out / "backtest"),
            farm.Schedule.dump(symbol, strategy, out / "schedule"),
            farm.Partial.dump(symbol, strategy, out / "partial"),
            farm.Performance.dump(symbol, strategy, out / "performance"),
        ]
        typer.echo(
            f"{strategy} on {symbol}: {len(results)} results, {stats.total_signals} closed, "
            f"win rate {_fmt(stats.win_rate, '.1f')}%, total PNL {_fmt(stats.total_pnl, '+.2f')}%, "
            f"Sharpe {_fmt(stats.sharpe_ratio, '.3f')}"
        )
        if errors:
            typer.echo(f"{len(errors)} error(s) during the run; first: {errors[0]}")
        for path in paths:
            typer.echo(f"report: {path}")


def _fmt(value: float | None, spec: str) -> str:
    return "N/A" if value is None else format(value, spec)


@app.command()
def demo(
    out: OutOption = Path("dump/demo"),
    workers: Annotated[int | None, typer.Option("--workers", help="Local pool size (default: CPU count).")] = None,
) -> None:
    """The main job on the embedded default: a walker sweep of the bundled strategies and an SMA
    parameter grid over four bundled 5m pairs (January 2018) on a local process pool; writes
    walker and heat reports and the heatmap (markdown, PNG, HTML) under --out."""
    from farm.demo import run_demo
    from farm.run.sweep import SweepProgress

    with one_line_errors():
        with progress_bar() as bar:
            task = bar.add_task("demo sweep", total=None)

            def on_progress(p: SweepProgress) -> None:
                bar.update(task, total=p.total, completed=p.done + p.failed)

            result = run_demo(out, on_progress, workers=workers)
        _print_sweep(result)
        typer.echo(f"heatmap: {out / 'heatmap.png'} and {out / 'heatmap.html'}")
        if result.failures:
            raise typer.Exit(1)


@app.command()
def sweep(
    walker: Annotated[str, typer.Option("--walker", help="Walker name (its strategies, exchange and frame).")],
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated symbols, e.g. BTC/USDT,ETH/USDT.")],
    executor: Annotated[str, typer.Option("--executor", help="local (process pool) or celery.")] = "local",
    imports: ImportsOption = None,
    out: OutOption = Path("dump/sweep"),
    workers: Annotated[int | None, typer.Option("--workers", help="Local pool size (default: CPU count).")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Queue the tasks (celery) and print the sweep id.")] = False,
    block_size: Annotated[int | None, typer.Option(
        "--block-size", min=1, help="Most variants of one strategy and symbol per task (default: FARM_BLOCK_SIZE)."
    )] = None,
) -> None:
    """Backtest every strategy of a walker on every symbol; write walker, heat and heatmap reports.

    Exit status 0 when every task succeeded, 1 when some failed (they are listed), 2 on bad input."""
    from farm.run.sweep import SweepProgress, plan_sweep
    from farm.run.sweep import sweep as run_sweep

    with one_line_errors():
        import_modules(imports)
        symbol_list = [s.strip() for s in symbols.split(",") if s.strip()]
        plan_sweep(walker, symbol_list)  # every name checked before anything is drawn or queued
        if detach:
            sweep_id = run_sweep(walker, symbol_list, executor=executor, detach=True, block_size=block_size)
            typer.echo(sweep_id)
            return
        with progress_bar() as bar:
            task = bar.add_task("tasks", total=None)

            def on_progress(p: SweepProgress) -> None:
                bar.update(task, total=p.total, completed=p.done + p.failed,
                           description=f"tasks ({p.failed} failed)" if p.failed else "tasks")

            result = run_sweep(walker, symbol_list, executor=executor, out=out, workers=workers,
                               on_progress=on_progress, block_size=block_size)
        _print_sweep(result)
        if result.failures:
            raise typer.Exit(1)


def _print_sweep(result) -> None:  # type: ignore[no-untyped-def]
    typer.echo(f"sweep {result.sweep_id}: {result.tasks_total} tasks, {result.tasks_run} run, "
               f"{result.tasks_skipped} already stored, {len({f.task_key for f in result.failures})} failed")
    for symbol, walker in result.walker_results.items():
        typer.echo(f"  {symbol:<12} best {walker.best_strategy or 'N/A'} ({walker.metric} {_fmt(walker.best_metric, '.3f')})")
    for failure in result.failures:
        typer.echo(f"  FAILED {failure.symbol} {failure.strategy_name}: {failure.error}")
    if result.out is not None:
        typer.echo(f"reports: {result.out / 'README.md'}")


@app.command()
def status(sweep_id: Annotated[str, typer.Argument(help="The id printed by `farm sweep --detach`.")]) -> None:
    """Progress of a sweep, read from the result store (the coordinator need not be running)."""
    from farm.run.sweep import sweep_status

    with one_line_errors():
        p = sweep_status(sweep_id)
        typer.echo(f"sweep {sweep_id}: {p.done}/{p.total} done, {p.failed} failed, {p.pending} pending")


@app.command()
def report(
    sweep_id: Annotated[str, typer.Argument(help="The sweep id.")],
    imports: ImportsOption = None,
    out: OutOption = Path("dump/sweep"),
) -> None:
    """Reduce whatever a sweep has stored so far into its reports (unfinished tasks are listed)."""
    from farm.run.reduce import reduce_sweep
    from farm.run.sweep import default_store, load_manifest

    with one_line_errors():
        import_modules(imports)
        store = default_store()
        result = reduce_sweep(load_manifest(sweep_id, store), store, out=out)
        _print_sweep(result)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context) -> None:
    """A Celery worker with the farm's app and queue; other options go to `celery worker`
    (e.g. --concurrency 2 --loglevel INFO).

    Gossip and mingle are off: farm tasks need no worker-to-worker state (nothing is revoked or
    elected), and with gossip every worker processes every other worker's events, a cost that
    grows with the farm. Flower still sees each worker through its events and heartbeats."""
    _exec_celery(celery_worker_args(get_settings().queue, ctx.args))


WORKER_DEFAULT_FLAGS = ("--without-gossip", "--without-mingle")


def celery_worker_args(queue: str, extra: list[str]) -> list[str]:
    """`celery` arguments of `farm worker`: the farm's app and queue, gossip and mingle off,
    then the user's options."""
    quiet = [flag for flag in WORKER_DEFAULT_FLAGS if flag not in extra]
    return ["-A", "workers.app:app", "worker", "-Q", queue, *quiet, *extra]


@app.command()
def flower(
    port: Annotated[int | None, typer.Option("--port", help="Port on 127.0.0.1 (default FARM_FLOWER_PORT).")] = None,
) -> None:
    """Flower for the farm's broker, on 127.0.0.1 (FARM_FLOWER_ADDRESS), with basic auth from
    FARM_FLOWER_USER and FARM_FLOWER_PASSWORD (it refuses to start without them)."""
    settings = get_settings()
    with one_line_errors():
        if not settings.flower_user or not settings.flower_password:
            raise UsageError("set FARM_FLOWER_USER and FARM_FLOWER_PASSWORD: Flower never runs without auth here")
    args = ["-A", "workers.app:app", "flower", f"--address={settings.flower_address}",
            f"--port={port or settings.flower_port}"]
    # The credentials go by environment (Flower reads FLOWER_BASIC_AUTH), never on the command
    # line, where `ps` shows them to every user of the host.
    _exec_celery(args, env={"FLOWER_BASIC_AUTH": f"{settings.flower_user}:{settings.flower_password}"})


@app.command()
def beat() -> None:
    """Celery beat: starts every registered batch (scheduler.add_batch in FARM_IMPORTS modules)
    at its UTC time of day. Run exactly one beat per farm."""
    _exec_celery(["-A", "workers.app:app", "beat", "--loglevel", "INFO"])


batch_app = typer.Typer(help="Nightly batches: named walker sweeps on a schedule.", no_args_is_help=True)
app.add_typer(batch_app, name="batch")


@batch_app.command("run")
def batch_run(
    name: Annotated[str, typer.Argument(help="Batch name.")],
    executor: Annotated[str, typer.Option("--executor", help="local (process pool) or celery.")] = "local",
    imports: ImportsOption = None,
) -> None:
    """Run one batch now (its reports go under <out>/<name>/<UTC date>/)."""
    import scheduler

    with one_line_errors():
        import_modules(imports)
        result = scheduler.run_batch(name, executor=executor)
        _print_sweep(result)
        if result.failures:
            raise typer.Exit(1)


@batch_app.command("list")
def batch_list(imports: ImportsOption = None) -> None:
    """The registered batches and when they run (UTC)."""
    import scheduler

    with one_line_errors():
        import_modules(imports)
        for b in scheduler.list_batches():
            typer.echo(f"{b.name}: walker {b.walker_name} on {', '.join(b.symbols)} daily at {b.hour:02d}:{b.minute:02d} UTC")


def _exec_celery(args: list[str], env: dict[str, str] | None = None) -> None:
    """Replace this process with `python -m celery ...` (signals and exit codes pass straight
    through), with `env` added to the environment."""
    import os

    os.execvpe(sys.executable, [sys.executable, "-m", "celery", *args], {**os.environ, **(env or {})})


cache_app = typer.Typer(help="The shared candle cache (on when FARM_REDIS_URL and/or FARM_S3_BUCKET is set).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("warm")
def cache_warm(
    exchange: Annotated[str, typer.Option("--exchange", help="Exchange name (registered by --imports).")],
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated symbols, e.g. BTC/USDT,ETH/USDT.")],
    from_: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last UTC day (inclusive), YYYY-MM-DD.")],
    interval: Annotated[str, typer.Option("--interval", help="Candle interval, e.g. 1m.")] = "1m",
    imports: ImportsOption = None,
) -> None:
    """Pre-fill the cache with the closed days --from..--to of each symbol (a day still forming
    is skipped: it is never cached). Chunks already cached are not fetched again."""
    from farm.cache import warm

    with one_line_errors():
        import_modules(imports)
        symbol_list = [s.strip() for s in symbols.split(",") if s.strip()]
        plan = warm.plan(exchange, symbol_list, interval, from_, to)
        with progress_bar() as bar:
            task = bar.add_task("chunks", total=plan.total)
            report = warm.run(plan, lambda done, total: bar.update(task, completed=done, total=total))
        s = report.stats
        typer.echo(f"{report.chunks} day chunks, {report.candles:,} candles: {s['source']} fetched from the "
                   f"exchange ({s['source_requests']} requests), {s['redis'] + s['lru']} already hot, "
                   f"{s['store']} from the cold store")
        if report.skipped_forming:
            typer.echo(f"skipped (not closed yet): {', '.join(report.skipped_forming)}")


@cache_app.command("stats")
def cache_stats_command() -> None:
    """The cache's layers, this process's counters, and with Redis the farm-wide counters, the
    number of cached chunks and the memory they use (Redis MEMORY USAGE)."""
    from farm.cache import cache_stats
    from farm.cache.warm import usage

    with one_line_errors():
        info = usage()
        typer.echo(f"layers: {info['layers']}")
        typer.echo("this process: " + ", ".join(f"{k}={v}" for k, v in cache_stats().items()))
        farm_wide = {k[5:]: v for k, v in info.items() if k.startswith("farm_")}
        if farm_wide:
            typer.echo("farm-wide: " + ", ".join(f"{k}={v}" for k, v in sorted(farm_wide.items())))
        if "chunks" in info:
            typer.echo(f"redis: {info['chunks']} chunks, {info['memory_bytes'] / 1e6:.1f} MB (MEMORY USAGE)")
        if "redis_error" in info:
            typer.echo(f"redis: unavailable ({info['redis_error']})")


def main() -> None:
    from farm.redact import install_log_masking

    install_log_masking()
    app()


if __name__ == "__main__":
    main()
