"""A run and everything it owns (ARCHITECTURE: "State belongs to a run").

A backtest, a risk group, a walk and a farm job each build a `RunState`; nothing a run uses to
compute its results lives in a module global, so no run can see another's state and a worker
that runs thousands of unrelated jobs carries nothing from one to the next. A run owns:

* its exchange clients and their candle series (`exchange`): a run never reads candles another
  run loaded for other dates or under another config. The jobs of one farm variant block share
  one `ExchangePool` (the block loads its candles once), and it ends with the block;
* its risk ledgers (`risk_for`), started afresh by each backtest (`fresh_risks`, D6);
* the storages its results go to (`storages`): for library runs the process-wide ones the
  facades read (D9), for a farm job a private `Storages`;
* the engine config in force, taken when the run starts (`config`). While the run executes
  (`iterate`), `farm.get_config()` answers with it, in the run's own context: `set_config`
  from another thread or another run never reaches it, and a job never swaps the process-wide
  config.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from farm import registry
from farm.config import ConfigScope, EngineConfig, enter_config_scope, get_config
from farm.engine.exchange import ExchangeClient
from farm.engine.risk import MergedRisk, NoRisk, RiskRuntime, risk_for
from farm.models import RiskEvent
from farm.run.storage import Key, Storages
from farm.run.storage import storages as process_storages

T = TypeVar("T")


class ExchangePool:
    """Exchange clients by name, each keeping the candle series it loaded: what one run (or the
    jobs of one farm block, run under one config) share. Nothing else holds them."""

    def __init__(self) -> None:
        self._clients: dict[str, ExchangeClient] = {}
        self.identities: dict[tuple[str, ...], str] = {}
        """Data identities the pool's jobs checked (`farm.identity.inputs.check_inputs`): a block's
        jobs on one symbol fingerprint its candles once, not once per job."""

    def client(self, exchange_name: str) -> ExchangeClient:
        """The pool's client of `exchange_name` (a new one if the exchange was registered again)."""
        schema = registry.exchanges.get(exchange_name, source="backtest")
        client = self._clients.get(exchange_name)
        if client is None or client.schema is not schema:
            client = self._clients[exchange_name] = ExchangeClient(schema)
        return client


class RunState:
    """One run's exchange clients, risk ledgers, storages and engine config.

    `config`: the engine config of the run (default: the one in force now, i.e. when the run
    starts). `storages`: where its results go (default: the process-wide library storages).
    `exchanges`: a pool shared with other runs of one farm block (default: the run's own)."""

    def __init__(self, config: EngineConfig | None = None, *, storages: Storages | None = None,
                 exchanges: ExchangePool | None = None) -> None:
        self._scope = ConfigScope(get_config() if config is None else config)
        self.storages = process_storages if storages is None else storages
        self.exchanges = ExchangePool() if exchanges is None else exchanges
        self._risks: dict[str, RiskRuntime] = {}
        self.running: dict[Key, Any] = {}
        """This run's backtests in progress by (symbol, strategy): what its cancel and a walk's
        stop reach (`Backtest.stop` reaches a library run's through `storages.runtimes`)."""

    def begin(self, key: Key, runtime: Any) -> None:
        """A backtest of (symbol, strategy) `key` starts in this run (SPEC §5.9 bookkeeping)."""
        self.storages.start(key, runtime)
        self.running[key] = runtime

    def finish(self, key: Key, runtime: Any, status: str) -> None:
        self.storages.finish(key, runtime, status)
        if self.running.get(key) is runtime:
            del self.running[key]

    @property
    def config(self) -> EngineConfig:
        """The run's engine config now (frozen; a `set_config` inside the run replaces it)."""
        return self._scope.config

    def exchange(self, exchange_name: str) -> ExchangeClient:
        return self.exchanges.client(exchange_name)

    # ---- risk ledgers -----------------------------------------------------------------------

    def risk_runtime(self, risk_name: str) -> RiskRuntime:
        """The run's ledger of one risk profile: strategies stepped together share it."""
        runtime = self._risks.get(risk_name)
        if runtime is None:
            schema = registry.risks.get(risk_name, source="risk")
            runtime = self._risks[risk_name] = RiskRuntime(schema, sink=self._record_rejection)
        return runtime

    def risk_for(self, risk_names: list[str]) -> RiskRuntime | MergedRisk | NoRisk:
        return risk_for(risk_names, self.risk_runtime)

    def fresh_risks(self, risk_names: list[str]) -> None:
        """Start fresh ledgers for these profiles (a new backtest of the run, D6); runtimes
        already handed out keep theirs."""
        for name in risk_names:
            self._risks.pop(name, None)

    def _record_rejection(self, event: RiskEvent) -> None:
        """Every rejection is stored, observed or not, so the Risk report never misses one."""
        self.storages.risk[(event.symbol, event.strategy_name)].append(event)

    # ---- executing --------------------------------------------------------------------------

    def iterate(self, results: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Run the generator `results()` inside this run: each step executes in a context of
        its own (a copy of the caller's, taken at the first step) where `current_run()` is
        this run and `get_config()` its config; between steps the caller's context is as it was."""
        context = contextvars.copy_context()
        context.run(self._enter)
        steps = context.run(results)
        try:
            while True:
                try:
                    item = context.run(next, steps)
                except StopIteration:
                    return
                yield item
        finally:
            context.run(steps.close)

    def _enter(self) -> None:
        """Called once inside the run's private context (so nothing needs resetting)."""
        _run.set(self)
        enter_config_scope(self._scope)


_run: ContextVar[RunState | None] = ContextVar("farm_run", default=None)


def current_run() -> RunState | None:
    """The run executing in this context (inside `RunState.iterate`), if any."""
    return _run.get()


__all__ = ["ExchangePool", "RunState", "current_run"]
