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
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

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
        console.print(f"[red]error:[/red] {' '.join(message) if message else type(exc).__name__}", highlight=False)
        raise typer.Exit(2) from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
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
def demo(out: OutOption = Path("dump/demo")) -> None:
    """The main job on the embedded default: the bundled strategies on bundled real candles
    (four 5m pairs, January 2018), with reports written under --out."""
    from farm.demo import demo_symbols, register_demo, run_demo

    with one_line_errors():
        names = register_demo()
        runs = len(names) * len(demo_symbols())
        with progress_bar() as bar:
            overall = bar.add_task("demo backtests", total=runs)
            current = bar.add_task("", total=1000)
            done: set[tuple[str, str]] = set()

            def on_progress(symbol: str, name: str, progress: float) -> None:
                bar.update(current, description=f"{name} {symbol}", completed=int(progress * 1000))
                if progress >= 1.0 and (symbol, name) not in done:
                    done.add((symbol, name))
                    bar.update(overall, completed=len(done))

            rows, summary = run_demo(out, on_progress)
        for row in rows:
            s = row.stats
            typer.echo(
                f"{row.symbol:<9} {row.strategy_name:<16} trades {s.total_signals:>4}  "
                f"PNL {_fmt(s.total_pnl, '+8.2f')}%  Sharpe {_fmt(s.sharpe_ratio, '+.3f')}"
            )
        typer.echo(f"summary: {summary}")
        typer.echo(f"reports: {out / 'backtest'}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
