"""The `farm` command. Every bad input ends in one line naming the bad value and a non-zero
exit (no traceback); `--help` documents each command."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from farm import registry
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


def _print_version(value: bool) -> None:
    if value:
        from farm import __version__

        typer.echo(f"farm {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """backtest-farm: backtest strategies on one machine or a Celery farm."""

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
    registry.note_imported(names)
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
        from farm.errors import EmptyFrameError
        from farm.run.failures import frame_has_candles, quiet_tick_errors

        errors: list[BaseException] = []
        unsubscribe_errors = farm.listen_error(errors.append)
        with quiet_tick_errors(), progress_bar() as bar:
            task = bar.add_task(f"{strategy} {symbol}", total=1000)
            unsubscribe = farm.listen_backtest_progress(lambda e: bar.update(task, completed=int(e.progress * 1000)))
            try:
                results = list(farm.Backtest.run(symbol, strategy_name=strategy, exchange_name=exchange, frame_name=frame))
            except EmptyFrameError:
                results = []  # reported below as the warning and exit 1 of a frame without candles
            finally:
                unsubscribe()
                unsubscribe_errors()
        stats = farm.Backtest.get_data(symbol, strategy)
        paths = [
            farm.Backtest.dump(symbol, strategy, out / "backtest"),
            farm.Schedule.dump(symbol, strategy, out / "schedule"),
            farm.Partial.dump(symbol, strategy, out / "partial"),
            farm.Performance.dump(symbol, strategy, out / "performance"),
            farm.Backtest.plot(symbol, strategy, exchange_name=exchange, frame_name=frame, path=out / "chart"),
        ]
        typer.echo(
            f"{strategy} on {symbol}: {len(results)} results, {stats.total_signals} closed, "
            f"win rate {_fmt(stats.win_rate, '.1f')}%, total PNL {_fmt(stats.total_pnl, '+.2f')}%, "
            f"Sharpe {_fmt(stats.sharpe_ratio, '.3f')}"
        )
        from farm.reports.walker import registered_frame_span, standard_statistics

        standard = standard_statistics(stats, registered_frame_span(frame))
        if standard is not None:
            typer.echo(
                f"compounded return {_fmt(standard.return_pct, '+.2f')}%, max drawdown "
                f"{_fmt(standard.max_drawdown_pct, '.2f')}%, profit factor {_fmt(standard.profit_factor, '.2f')}, "
                f"exposure {_fmt(standard.exposure_time_pct, '.1f')}%, daily Sharpe {_fmt(standard.sharpe_ratio, '.2f')}"
            )
        for path in paths:
            typer.echo(f"report: {path}")
        failed = _report_tick_errors(strategy, errors, traded=bool(results) or stats.total_signals > 0)
        if not results and not frame_has_candles(exchange, frame, symbol):
            typer.echo(f"warning: exchange {exchange} has no {symbol} candles in frame {frame}: nothing was "
                       "backtested (check the symbol, the frame's dates and the data source)", err=True)
            failed = True
        if failed:
            raise typer.Exit(1)


def _report_tick_errors(strategy: str, errors: list[BaseException], *, traded: bool) -> bool:
    """One line per cause on stderr, the first exception's traceback (file:line) in full; True
    when the strategy never traded and every signal it tried failed."""
    from farm.run.failures import tick_error_causes, user_traceback

    if not errors:
        return False
    causes = tick_error_causes(errors)
    typer.echo(f"{len(errors):,} error(s) during the run, {len(causes)} cause(s):", err=True)
    for cause in causes:
        typer.echo(f"  {cause.line()}", err=True)
    first = next((c for c in causes if c.kind == "raised" and c.first_exception is not None), None)
    if first is not None:
        typer.echo(f"first: {first.first}", err=True)
        typer.echo(user_traceback(first.first_exception), err=True)
    if traded:
        return False
    typer.echo(f"FAILED: {strategy} never traded, every signal it produced failed "
               f"({'; '.join(c.line() for c in causes)})", err=True)
    return True


def _fmt(value: float | None, spec: str) -> str:
    return "N/A" if value is None else format(value, spec)


@app.command()
def check(
    strategy: Annotated[str, typer.Option("--strategy", help="Strategy (or variant) name; needs signals=.")],
    exchange: Annotated[str, typer.Option("--exchange", help="Exchange name.")],
    frame: Annotated[str, typer.Option("--frame", help="Frame name.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol, e.g. BTC/USDT.")],
    imports: ImportsOption = None,
    exhaustive: Annotated[bool, typer.Option(
        "--exhaustive", help="Recompute signals at every bar a backtest of the frame can act on and call "
                             "get_signal at every such tick (default: the sample every kernel run checks).")] = False,
) -> None:
    """Check a vectorised strategy: no row of signals() reads candles after its bar, and
    get_signal agrees with it (docs/lookahead.md). Exit 1 naming the first offending bar or
    tick; exit 2 on bad input."""
    from farm.errors import FormsDisagreeError, LookAheadError
    from farm.kernel.lookahead import check_strategy

    with one_line_errors():
        import_modules(imports)
        # A progress bar only for a long check on a terminal: a script reads one line.
        bar = progress_bar() if exhaustive and console.is_terminal else None
        tasks: dict[str, TaskID] = {}

        def on_progress(phase: str, done: int, total: int) -> None:
            assert bar is not None
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{strategy} {phase}", total=total)
            bar.update(tasks[phase], completed=done)

        try:
            with bar or nullcontext():
                report = check_strategy(strategy, exchange_name=exchange, frame_name=frame, symbol=symbol,
                                        exhaustive=exhaustive, on_progress=on_progress if bar else None)
                for task in tasks.values():
                    bar.update(task, completed=bar.tasks[task].total)  # type: ignore[union-attr]
        except (LookAheadError, FormsDisagreeError) as exc:
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"{report} on {symbol}")


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
        failed = _print_sweep(result)
        typer.echo(f"heatmap: {out / 'heatmap.png'} and {out / 'heatmap.html'}")
        if failed:
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
        manifest = plan_sweep(walker, symbol_list)  # every name checked before anything is drawn or queued
        if detach:
            sweep_id = run_sweep(walker, symbol_list, executor=executor, detach=True, block_size=block_size)
            typer.echo(sweep_id)
            return
        from farm.run.failures import quiet_tick_errors

        with interruptible(manifest.sweep_id, executor), quiet_tick_errors(), progress_bar() as bar:
            task = bar.add_task("tasks", total=None)

            def on_progress(p: SweepProgress) -> None:
                bar.update(task, total=p.total, completed=p.done + p.failed,
                           description=f"tasks ({p.failed} failed)" if p.failed else "tasks")

            result = run_sweep(walker, symbol_list, executor=executor, out=out, workers=workers,
                               on_progress=on_progress, block_size=block_size)
        if _print_sweep(result):
            raise typer.Exit(1)


@contextmanager
def interruptible(sweep_id: str, executor: str) -> Iterator[None]:
    """SIGINT/SIGTERM stop the sweep at once (the local pool's processes with it), then say what
    the store kept and how to resume; exit 130 or 143 (128 + the signal's number)."""
    from farm.run.shutdown import Interrupted, stop_on_signals
    from farm.run.sweep import sweep_status

    try:
        with stop_on_signals():
            yield
    except Interrupted as exc:
        try:
            p = sweep_status(sweep_id)
            kept = f"{p.done} of {p.total} tasks are stored (sweep {sweep_id})"
            missing = p.total - p.done
        except Exception as status_error:  # noqa: BLE001 - the message must still come out
            kept, missing = f"could not read what sweep {sweep_id} stored ({status_error})", None
        elsewhere = (" The tasks already queued keep running on the farm's workers: `farm status "
                     f"{sweep_id}` follows them.") if executor == "celery" else ""
        todo = f"only the {missing} missing ones run" if missing is not None else "only missing tasks run"
        typer.echo(f"interrupted by {exc.signal_name}: {kept}.{elsewhere} Run the same command again to resume: "
                   f"{todo}.", err=True)
        raise typer.Exit(exc.exit_code) from None


def _print_sweep(result) -> bool:  # type: ignore[no-untyped-def]
    """The sweep's outcome, failures grouped by cause (each task's own error stays in the
    report's tables). True when something failed: a task, or a strategy that never traded while
    every signal it produced failed."""
    from farm.run.failures import message_causes

    failed_tasks = len({f.task_key for f in result.failures})
    typer.echo(f"sweep {result.sweep_id}: {result.tasks_total} tasks, {result.tasks_run} run, "
               f"{result.tasks_skipped} already stored, {failed_tasks} failed")
    for symbol, walker in result.walker_results.items():
        typer.echo(f"  {symbol:<12} best {walker.best_strategy or 'N/A'} ({walker.metric} {_fmt(walker.best_metric, '.3f')})")
    for cause in message_causes(f.error for f in result.failures):
        typer.echo(f"  FAILED {cause.line()}")
    traded = {(symbol, s.strategy_name) for symbol, walker in result.walker_results.items() for s in walker.strategies
              if s.stats is not None and s.stats.total_signals > 0}
    dead = [e for e in result.errors if (e.symbol, e.strategy_name) not in traded]
    if result.errors:
        messages = [m for e in result.errors for m in e.messages]
        typer.echo(f"  {len(messages):,} strategy error(s) in {len(result.errors)} task(s):")
        for cause in message_causes(messages):
            typer.echo(f"    {cause.line()}")
    for e in dead:
        typer.echo(f"  FAILED {e.symbol} {e.strategy_name}: never traded, every signal it produced failed "
                   f"({len(e.messages):,} errors)")
    if result.out is not None:
        detail = " (each task's errors are in its tables)" if result.failures or result.errors else ""
        typer.echo(f"reports: {result.out / 'README.md'}{detail}")
    return bool(failed_tasks or dead)


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


@app.command("list")
def list_names(imports: ImportsOption = None) -> None:
    """What the imported modules registered: exchanges, frames with their dates, strategies with
    their parameters, walkers and batches (the names the other commands take)."""
    import scheduler

    with one_line_errors():
        names = import_modules(imports)
        typer.echo(f"modules: {', '.join(names) or 'none (name them with --imports or FARM_IMPORTS)'}")
        _section("exchanges", [e.exchange_name + _note(e.note) for e in registry.exchanges.list()])
        _section("frames", [f"{f.frame_name}: {f.interval}, {f.start_date:%Y-%m-%d %H:%M} to "
                            f"{f.end_date:%Y-%m-%d %H:%M} UTC{_note(f.note)}" for f in registry.frames.list()])
        _section("strategies", [
            f"{s.strategy_name}: {s.interval}, "
            + (", ".join(f"{k}={v!r}" for k, v in s.params.items()) or "no parameters")
            + _note(s.note) for s in registry.strategies.list()])
        _section("walkers", [
            f"{w.walker_name}: exchange {w.exchange_name}, frame {w.frame_name}, metric {w.metric}, "
            f"{len(w.strategies)} strateg{'y' if len(w.strategies) == 1 else 'ies'}: {', '.join(w.strategies)}"
            for w in registry.walkers.list()])
        _section("batches", [f"{b.name}: walker {b.walker_name} on {', '.join(b.symbols)}, cron "
                             f"'{b.cron_expression}' UTC" for b in scheduler.list_batches()])


def _section(title: str, lines: list[str]) -> None:
    typer.echo(f"{title}:")
    for line in lines or ["(none)"]:
        typer.echo(f"  {line}")


def _note(note: str | None) -> str:
    return f" ({note})" if note else ""


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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def beat(ctx: typer.Context) -> None:
    """Celery beat sending every registered batch (scheduler.add_batch in FARM_IMPORTS modules)
    its `farm.run_batch` task when its cron night (UTC) is due and not archived yet: a night
    missed while no beat ran is caught up once at start. A second beat never doubles a night
    (the task locks the night in Redis and the archive marks it done). Other options go to
    `celery beat` (e.g. --loglevel DEBUG)."""
    _exec_celery(celery_beat_args(ctx.args))


def celery_beat_args(extra: list[str]) -> list[str]:
    """`celery` arguments of `farm beat`: the farm's app with the batch scheduler, INFO logs."""
    level = [] if any(a.startswith(("--loglevel", "-l")) for a in extra) else ["--loglevel", "INFO"]
    return ["-A", "workers.app:app", "beat", "--scheduler", "scheduler.beat:BatchScheduler", *level, *extra]


batch_app = typer.Typer(help="Nightly batches: named walker sweeps on a cron schedule.", no_args_is_help=True)
app.add_typer(batch_app, name="batch")


@batch_app.command("run")
def batch_run(
    name: Annotated[str, typer.Argument(help="Batch name.")],
    date_: Annotated[str | None, typer.Option(
        "--date", help="The night to run, YYYY-MM-DD (default: the latest night its cron is due for).")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (process pool) or celery.")] = "local",
    force: Annotated[bool, typer.Option("--force", help="Run and archive again a night already archived.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", help="Local pool size (default: CPU count).")] = None,
    imports: ImportsOption = None,
) -> None:
    """Run one night of a batch now, under the night's lock: its reports are archived in the
    store under batches/<name>/<date>/ (and latest/, index.html). A night already archived is
    not run again (0 jobs) unless --force."""
    import scheduler
    from farm.run.shutdown import Interrupted, stop_on_signals
    from scheduler.clock import parse_utc

    with one_line_errors():
        import_modules(imports)
        night = parse_utc(date_).date() if date_ else None
        try:
            with stop_on_signals():
                outcome = scheduler.run_batch(name, night=night, executor=executor, force=force, workers=workers)
        except Interrupted as exc:
            typer.echo(f"interrupted by {exc.signal_name}: the night is not archived; its finished jobs are stored. "
                       "Run the same command again to resume: only the missing jobs run.", err=True)
            raise typer.Exit(exc.exit_code) from None
        failed = _print_sweep(outcome.sweep) if outcome.sweep is not None else False
        typer.echo(f"batch {name} night {outcome.night}: {outcome.status}, {outcome.jobs_run} jobs run"
                   + (f", archived at {outcome.archive}" if outcome.archive else ""))
        for line in outcome.moves:
            typer.echo(f"  moved {line}")
        if failed:
            raise typer.Exit(1)


@batch_app.command("list")
def batch_list(imports: ImportsOption = None) -> None:
    """The registered batches, their cron (UTC) and the night each is due for now."""
    import scheduler
    from scheduler.batches import night_of

    with one_line_errors():
        import_modules(imports)
        for b in scheduler.list_batches():
            days = f", the {b.days} days before the run date" if b.days else ""
            typer.echo(f"{b.name}: walker {b.walker_name} on {', '.join(b.symbols)}, cron '{b.cron_expression}' UTC"
                       f"{days}; due night {night_of(b)}")


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


data_app = typer.Typer(help="Candle data: download an exchange's candles into the files FileSource reads.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("download")
def data_download(
    exchange: Annotated[str, typer.Option("--exchange", help="ccxt exchange id, e.g. binance, kraken, okx.")],
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated symbols, e.g. BTC/USDT,ETH/USDT.")],
    from_: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD.")],
    to: Annotated[str | None, typer.Option(
        "--to", help="Last UTC day (inclusive), YYYY-MM-DD (default: up to the last closed candle).")] = None,
    interval: Annotated[str, typer.Option("--interval", help="Candle interval, e.g. 1m, 5m, 1h.")] = "1m",
    out: Annotated[Path, typer.Option("--out", help="Directory of the Parquet files.")] = Path("data"),
    api_url: Annotated[str | None, typer.Option(
        "--api-url", help="Send the exchange's API requests to this scheme://host instead (a mirror or proxy).")] = None,
    cache_as: Annotated[str | None, typer.Option(
        "--cache-as", help="Exchange name the candle cache is warmed under (default: --exchange).")] = None,
    attempts: Annotated[int, typer.Option(
        "--attempts", min=1, help="Tries per request on timeouts, 5xx, 429 and resets (backoff 1 s, 2 s, 4 s ...).")] = 5,
) -> None:
    """Download closed candles from an exchange through ccxt (public data, no keys) into
    OUT/<SYMBOL>_<interval>.parquet, the layout FileSource reads. Resumable: a re-run fetches
    only what is missing. Gaps (no candle on the exchange) stay gaps and are listed. With a
    candle cache configured (FARM_REDIS_URL/FARM_S3_BUCKET) the downloaded days are cached too."""
    from farm.data import download as dl
    from farm.exchanges import CcxtExchange
    from farm.intervals import interval_ms
    from farm.run.shutdown import Interrupted, stop_on_signals

    with one_line_errors():
        source = CcxtExchange(exchange, api_url=api_url, attempts=attempts)
        plan = dl.plan(source, cache_as or exchange, symbols.split(","), interval, from_, to, out)
        step = interval_ms(interval)
        try:
            with stop_on_signals(), progress_bar() as bar:
                task = bar.add_task("candles", total=plan.total)

                def on_progress(done: int, total: int, symbol: str) -> None:
                    bar.update(task, completed=done, total=total, description=symbol or "candles")

                report = dl.run(plan, on_progress)
        except Interrupted as exc:
            typer.echo(f"interrupted by {exc.signal_name}: every page fetched so far is kept under "
                       f"{plan.out / dl.STATE_DIR}; run the same command again to resume.", err=True)
            raise typer.Exit(exc.exit_code) from None
        except FarmError as exc:
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
            typer.echo(f"what was fetched is kept under {plan.out / dl.STATE_DIR}; run the same command again "
                       "to resume (only the missing ranges are fetched)", err=True)
            raise typer.Exit(1) from None
        for s in report.symbols:
            if s.up_to_date:
                state = "up to date, nothing fetched"
            else:
                state = f"{s.fetched:,} candles fetched in {s.requests} request(s)"
            span = "" if s.first is None else f", {dl.iso(s.first)} to {dl.iso(s.last or s.first)}"
            typer.echo(f"{s.symbol}: {state}; {s.path} holds {s.candles:,} candles{span}; "
                       f"{dl.describe_gaps(s, step)}")
        if report.warmed is not None:
            typer.echo(f"candle cache warmed: {report.warmed.chunks} day chunks under exchange "
                       f"{plan.exchange_name!r}")
        typer.echo(f"read it with FileSource({str(plan.out / '{symbol}_{interval}.parquet')!r}, "
                   f"interval={interval!r})")


def main() -> None:
    from farm.redact import install_log_masking

    install_log_masking()
    app()


if __name__ == "__main__":
    main()
