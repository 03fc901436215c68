"""`farm.Optimizer`: collect, generate, dump, and run the generated walker on the farm.

`run` is the whole loop: data collection per training range, the module written under the
user's `out` directory only, imported from that file as the configured module name, and its
walker run by `farm.sweep` on the chosen executor (one backtest task per generated strategy on
the test range), reduced into the walker report. Every LLM reply (the user's `get_prompt` through
`farm.optimizer.ask_text`, each strategy's decisions) is read from the reply store when it was
asked before, so a second run makes no LLM call and renders the same reports.

Security: generated code is only ever written to `<out>/<module>.py` and imported from exactly
that file under its module name; farm workers import it only when their own FARM_IMPORTS lists
that name (and their PYTHONPATH reaches `out`): a task message never makes a worker import it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from farm.errors import FarmError
from farm.optimizer.codegen import generate, module_name
from farm.optimizer.collect import OptimizerEntry, collect, plan_optimizer

logger = logging.getLogger("farm.optimizer")


class GeneratedModuleError(FarmError):
    """A generated module that could not be written or imported (a template's bad code)."""


@dataclass
class OptimizerResult:
    """What `Optimizer.run` did: the module it wrote and the sweep of its walker."""

    optimizer_name: str
    symbol: str
    module_name: str
    module_path: Path
    walker_name: str
    strategies: list[str]
    entries: list[OptimizerEntry]
    sweep: Any
    """The `SweepResult` of the generated walker on the test range."""
    llm_unavailable: list[str]
    """Strategies whose backtest met an unreachable LLM: their results were not kept (the next
    run backtests them again); empty when every decision was answered."""

    @property
    def walker_results(self) -> Any:
        """The walker report's data (`WalkerResults`) for the symbol."""
        return self.sweep.walker_results[self.symbol]


def default_out() -> Path:
    from farm.config import get_settings

    return Path(get_settings().dump_dir) / "optimizer"


def write_module(out: str | Path, name: str, code: str) -> Path:
    """`<out>/<name>.py`, atomically (a reader imports the old or the new file, never a part);
    left untouched when it already holds `code` (its mtime and a worker's snapshot stay)."""
    folder = Path(out).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if path.exists() and path.read_text() == code:
        return path
    tmp = folder / f".{name}.py.{os.getpid()}.tmp"
    tmp.write_text(code)
    os.replace(tmp, path)
    return path


def load_module(path: Path, name: str, walker_name: str | None = None) -> ModuleType:
    """Import `path` as module `name` (registering its names). The same content already
    imported, with its walker still registered, is returned as is; otherwise the file is
    imported afresh (other content, or a registry cleared since)."""
    from farm import registry

    code = path.read_bytes()
    digest = hashlib.sha256(code).hexdigest()
    existing = sys.modules.get(name)
    if (existing is not None and getattr(existing, "__farm_generated_digest__", None) == digest
            and (walker_name is None or registry.walkers.has(walker_name))):
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GeneratedModuleError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    module.__farm_generated_digest__ = digest  # type: ignore[attr-defined]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise GeneratedModuleError(f"generated module {path} failed to import: {type(exc).__name__}: {exc}") from exc
    registry.note_imported([name])
    return module


def forget_unanswered(result: Any, store: Any) -> list[str]:
    """The engine reports a `get_signal` error and goes on (SPEC §5.4), so a backtest that met an
    unreachable LLM ends "successfully" with fewer decisions. Its stored result would make every
    later run skip it: it is deleted here (the reports of this run still show the errors), so the
    next run backtests it again, and its strategies are returned."""
    from farm.optimizer.llm import LlmUnavailableError
    from farm.persist import keys as K

    marker = f"{LlmUnavailableError.__name__}:"
    hit = [e for e in result.errors if any(marker in message for message in e.messages)]
    for errors in hit:
        store.delete(K.result(errors.task_key))
    return sorted({e.strategy_name for e in hit})


class OptimizerUtils:
    """SPEC §12: `get_data`, `get_code`, `dump`; and `run`, which also backtests the result."""

    def get_data(self, symbol: str, optimizer_name: str, *, workers: int = 1) -> list[OptimizerEntry]:
        return collect(plan_optimizer(optimizer_name), symbol, workers=workers)

    def get_code(self, symbol: str, optimizer_name: str, *, workers: int = 1) -> str:
        plan = plan_optimizer(optimizer_name)
        entries = collect(plan, symbol, workers=workers)
        code, _ = generate(symbol, plan, entries)
        plan.callback("on_code", symbol, code)
        return code

    def dump(self, symbol: str, optimizer_name: str, path: str | Path = "./", *, workers: int = 1) -> Path:
        """`<path>/<optimizer>_<symbol>.py`; errors are logged and re-raised."""
        plan = plan_optimizer(optimizer_name)
        try:
            code = self.get_code(symbol, optimizer_name, workers=workers)
            filepath = write_module(path, module_name(optimizer_name, symbol), code)
            logger.info("optimizer %s: wrote %s", optimizer_name, filepath)
            plan.callback("on_dump", symbol, filepath)
            return filepath
        except Exception:
            logger.exception("optimizer %s: dump for %s failed", optimizer_name, symbol)
            raise

    def run(self, symbol: str, *, optimizer_name: str, out: str | Path | None = None, executor: str = "local",
            workers: int | None = None, collect_workers: int = 1, store: Any = None,
            on_progress: Any = None) -> OptimizerResult:
        """Collect, write `<out>/<module>.py`, import it, sweep its walker on the test range
        (`executor` "local" or "celery"; Celery workers need the module in their FARM_IMPORTS),
        write the reports under `<out>/report`."""
        from farm.run.sweep import sweep

        plan = plan_optimizer(optimizer_name)
        out_dir = Path(out) if out is not None else default_out()
        entries = collect(plan, symbol, workers=collect_workers)
        code, prefix = generate(symbol, plan, entries)
        plan.callback("on_code", symbol, code)
        name = module_name(optimizer_name, symbol)
        path = write_module(out_dir, name, code)
        plan.callback("on_dump", symbol, path)
        walker = f"{prefix}_walker"
        load_module(path, name, walker)
        from farm import registry

        if not registry.walkers.has(walker):
            raise GeneratedModuleError(f"generated module {path} registered no walker {walker} (a template "
                                       "override must keep the walker's name)")
        strategies = list(registry.walkers.get(walker).strategies)
        from farm.run.sweep import default_store

        store = store or default_store()
        result = sweep(walker, [symbol], executor=executor, out=out_dir / "report", store=store, workers=workers,
                       on_progress=on_progress)
        return OptimizerResult(optimizer_name=optimizer_name, symbol=symbol, module_name=name, module_path=path,
                               walker_name=walker, strategies=strategies, entries=entries, sweep=result,
                               llm_unavailable=forget_unanswered(result, store))


Optimizer = OptimizerUtils()

__all__ = ["GeneratedModuleError", "Optimizer", "OptimizerResult", "OptimizerUtils", "load_module", "write_module"]
