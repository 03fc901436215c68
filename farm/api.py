"""Registration, listing and the in-strategy context helpers: thin functions over the registries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from farm import context, registry
from farm.errors import SchemaError
from farm.identity.inputs import snapshot_strategy
from farm.models import Candles, ms_to_datetime
from farm.schemas import (
    ExchangeSchema,
    FrameSchema,
    OptimizerSchema,
    RiskSchema,
    SizingSchema,
    StrategySchema,
    WalkerSchema,
)

# ---- registration ------------------------------------------------------------------------

SchemaT = TypeVar("SchemaT", bound=BaseModel)


def _make(cls: type[SchemaT], **fields: Any) -> SchemaT:
    """Build a schema; a shape problem is a `farm.SchemaError` naming each bad field."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            loc = ".".join(str(x) for x in err["loc"])
            problems.append(f"{loc}: {message}" if loc else message)
        raise SchemaError("; ".join(problems)) from None


def add_exchange(
    exchange_name: str,
    get_candles: Callable[..., Any],
    format_price: Callable[[str, float], str] | None = None,
    format_quantity: Callable[[str, float], str] | None = None,
    callbacks: Any = None,
    note: str | None = None,
    identity: str | Callable[[str], str] | None = None,
) -> ExchangeSchema:
    """Register an exchange. `get_candles` is a farm source (`FileSource`, `DataFrameSource`,
    `SyntheticSource`, `sample_source(...)`), its bound `get_candles`, or any callable.

    `identity` says what the data is, for farm result keys (docs/keys.md): a string, or a
    function of the symbol, that changes whenever the candles do (a dataset version, a file's
    digest). Farm sources say it themselves; a callable without one is fingerprinted from the
    candles it returns for each job's frame."""
    return registry.exchanges.add(
        _make(
            ExchangeSchema,
            exchange_name=exchange_name,
            get_candles=get_candles,
            format_price=format_price,
            format_quantity=format_quantity,
            callbacks=callbacks,
            note=note,
            identity=identity,
        )
    )


def add_frame(
    frame_name: str,
    interval: str,
    start_date: datetime | str | int,
    end_date: datetime | str | int,
    callbacks: Any = None,
    note: str | None = None,
) -> FrameSchema:
    return registry.frames.add(
        _make(
            FrameSchema,
            frame_name=frame_name,
            interval=interval,
            start_date=start_date,
            end_date=end_date,
            callbacks=callbacks,
            note=note,
        )
    )


def add_strategy(
    strategy_name: str,
    interval: str,
    get_signal: Callable[..., Any] | None = None,
    callbacks: Any = None,
    risk_name: str | None = None,
    risk_list: Iterable[str] | None = None,
    params: dict[str, Any] | None = None,
    note: str | None = None,
    signals: Callable[..., Any] | None = None,
) -> StrategySchema:
    """Register a strategy; its risks are checked to exist (SPEC §2: validating a strategy
    validates every risk it references)."""
    schema = _make(
        StrategySchema,
        strategy_name=strategy_name,
        interval=interval,
        get_signal=get_signal,
        signals=signals,
        callbacks=callbacks,
        risk_name=risk_name,
        risk_list=list(risk_list or []),
        params=dict(params or {}),
        note=note,
    )
    registry.strategies.add(schema)
    # The code version is of the code imported now: snapshot the strategy's modules at once.
    snapshot_strategy(strategy_name)
    return schema


def add_risk(
    risk_name: str, validations: Iterable[Any] | None = None, callbacks: Any = None, note: str | None = None
) -> RiskSchema:
    return registry.risks.add(
        _make(
            RiskSchema,
            risk_name=risk_name,
            validations=list(validations or []),
            callbacks=callbacks,
            note=note,
        )
    )


def add_sizing(
    sizing_name: str,
    method: str,
    risk_percentage: float | None = None,
    kelly_multiplier: float | None = None,
    atr_multiplier: float | None = None,
    max_position_percentage: float | None = None,
    min_position_size: float | None = None,
    max_position_size: float | None = None,
    callbacks: Any = None,
    note: str | None = None,
) -> SizingSchema:
    return registry.sizings.add(
        _make(
            SizingSchema,
            sizing_name=sizing_name,
            method=method,
            risk_percentage=risk_percentage,
            kelly_multiplier=kelly_multiplier,
            atr_multiplier=atr_multiplier,
            max_position_percentage=max_position_percentage,
            min_position_size=min_position_size,
            max_position_size=max_position_size,
            callbacks=callbacks,
            note=note,
        )
    )


def add_walker(
    walker_name: str,
    exchange_name: str,
    frame_name: str,
    strategies: Iterable[str],
    metric: str = "sharpe_ratio",
    callbacks: Any = None,
    note: str | None = None,
) -> WalkerSchema:
    return registry.walkers.add(
        _make(
            WalkerSchema,
            walker_name=walker_name,
            exchange_name=exchange_name,
            frame_name=frame_name,
            strategies=list(strategies),
            metric=metric,
            callbacks=callbacks,
            note=note,
        )
    )


def add_optimizer(
    optimizer_name: str,
    range_train: list[Any],
    range_test: Any,
    source: list[Any],
    get_prompt: Callable[..., Any],
    template: dict[str, Any] | None = None,
    callbacks: Any = None,
    note: str | None = None,
) -> OptimizerSchema:
    return registry.optimizers.add(
        _make(
            OptimizerSchema,
            optimizer_name=optimizer_name,
            range_train=range_train,
            range_test=range_test,
            source=source,
            get_prompt=get_prompt,
            template=template,
            callbacks=callbacks,
            note=note,
        )
    )


def list_exchanges() -> list[ExchangeSchema]:
    return registry.exchanges.list()


def list_strategies() -> list[StrategySchema]:
    return registry.strategies.list()


def list_frames() -> list[FrameSchema]:
    return registry.frames.list()


def list_walkers() -> list[WalkerSchema]:
    return registry.walkers.list()


def list_sizings() -> list[SizingSchema]:
    return registry.sizings.list()


def list_risks() -> list[RiskSchema]:
    return registry.risks.list()


def list_optimizers() -> list[OptimizerSchema]:
    return registry.optimizers.list()


def clear_registry() -> None:
    registry.clear_registry()


def variant(strategy_name: str, **params: Any) -> str:
    """The canonical variant name `name(k1=v1,k2=v2)`, resolvable wherever a strategy name is."""
    return registry.make_variant(strategy_name, **params)


def grid(strategy_name: str, **lists: Iterable[Any]) -> list[str]:
    """Variant names of the Cartesian product of the lists (keys sorted, values in given order)."""
    return registry.make_grid(strategy_name, **lists)


# ---- inside a strategy ----------------------------------------------------------------------


def get_candles(symbol: str, interval: str, limit: int) -> Candles:
    """The `limit` most recent closed candles (never the one still forming), oldest first."""
    ctx = context.current()
    return ctx.exchange.window(symbol, interval, ctx.when, limit)


def get_average_price(symbol: str) -> float:
    """The VWAP "current price" from the last closed base candles."""
    ctx = context.current()
    return ctx.exchange.average_price(symbol, ctx.when)


def get_date() -> datetime:
    return ms_to_datetime(context.current().when)


def get_mode() -> str:
    return "backtest" if context.current().backtest else "live"


def format_price(symbol: str, price: float) -> str:
    return context.current().exchange.format_price(symbol, price)


def format_quantity(symbol: str, quantity: float) -> str:
    return context.current().exchange.format_quantity(symbol, quantity)


def set_logger(logger: Any) -> None:
    """Route the engine's logs to `logger` (a logging.Logger, or any object with log/debug/info/warn)."""
    root = logging.getLogger("farm")
    for handler in list(root.handlers):
        if isinstance(handler, _Forward):
            root.removeHandler(handler)
    if logger is None:
        return
    root.addHandler(_Forward(logger))
    root.setLevel(logging.DEBUG)


class _Forward(logging.Handler):
    def __init__(self, target: Any):
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        if isinstance(self.target, logging.Logger):
            self.target.log(record.levelno, message)
            return
        name = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn"}.get(
            record.levelno, "log"
        )
        fn = getattr(self.target, name, None) or getattr(self.target, "warning", None) or self.target.log
        fn(message)
