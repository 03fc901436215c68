"""`farm optimize --optimizer NAME --symbol SYM`: the LLM optimizer from the command line.

Kept apart from `farm/cli.py` so the parameter search's `farm optimize --params ...` and this one
can be wired into one `optimize` command: `optimize_llm` is a plain Typer command function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def optimize_llm(
    optimizer: Annotated[str, typer.Option("--optimizer", help="Optimizer name (farm.add_optimizer).")],
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol, e.g. BTC/USDT.")],
    imports: Annotated[str | None, typer.Option(
        "--imports", help="Comma-separated modules that register the optimizer (default: FARM_IMPORTS).")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Directory for the generated module and its reports.")] = Path("dump/optimizer"),
    executor: Annotated[str, typer.Option("--executor", help="local (process pool) or celery.")] = "local",
    workers: Annotated[int | None, typer.Option("--workers", help="Local pool size (default: CPU count).")] = None,
    code_only: Annotated[bool, typer.Option(
        "--code-only", help="Write the module and stop (no backtest of its walker).")] = False,
) -> None:
    """Collect the optimizer's data over its training ranges, generate a Python module of LLM
    strategies (OUT/<optimizer>_<symbol>.py), and backtest its walker on the test range; write the
    walker and heat reports under OUT/report. LLM replies are read from the farm store when asked
    before: a re-run makes no LLM call. The LLM is FARM_LLM_HOST / FARM_LLM_MODEL / FARM_LLM_API_KEY.

    Exit status 0 when every task succeeded, 1 when some failed, 2 on bad input."""
    from farm import events
    from farm.cli import _fmt, _print_sweep, import_modules, one_line_errors, progress_bar
    from farm.optimizer import Optimizer
    from farm.optimizer.collect import plan_optimizer

    with one_line_errors():
        import_modules(imports)
        plan_optimizer(optimizer)  # the name, ranges, sources and template checked before any fetch
        if executor not in ("local", "celery"):
            raise ValueError(f"unknown executor {executor!r}: use 'local' or 'celery'")
        with progress_bar() as bar:
            collecting = bar.add_task("collect", total=None)
            unsubscribe = events.optimizer_progress.subscribe(
                lambda p: bar.update(collecting, total=p.total_sources, completed=p.processed_sources))
            try:
                if code_only:
                    path = Optimizer.dump(symbol, optimizer, out)
                    typer.echo(f"module: {path}")
                    return
                backtests = bar.add_task("backtests", total=None)
                result = Optimizer.run(
                    symbol, optimizer_name=optimizer, out=out, executor=executor, workers=workers,
                    on_progress=lambda p: bar.update(backtests, total=p.total, completed=p.done + p.failed),
                )
            finally:
                unsubscribe()
        typer.echo(f"module: {result.module_path} (walker {result.walker_name}, "
                   f"{len(result.strategies)} strategies)")
        walker = result.walker_results
        typer.echo(f"best: {walker.best_strategy or 'N/A'} ({walker.metric} {_fmt(walker.best_metric, '.3f')})")
        failed = _print_sweep(result.sweep)
        if result.llm_unavailable:
            typer.echo(f"  LLM unreachable for {', '.join(result.llm_unavailable)}: their results were not kept; "
                       "run again once FARM_LLM_HOST answers")
        if failed or result.llm_unavailable:
            raise typer.Exit(1)


def main() -> None:
    """`python -m farm.optimizer.cli_llm --optimizer NAME --symbol SYM ...`: the same command
    on its own, until (and besides) `farm optimize --optimizer` wires it in."""
    from farm.redact import install_log_masking

    install_log_masking()
    typer.run(optimize_llm)


if __name__ == "__main__":
    main()


__all__ = ["main", "optimize_llm"]
