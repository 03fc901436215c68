"""What users register (SPEC §2): one pydantic model per kind, shallow-checked at registration."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from farm.errors import SchemaError
from farm.intervals import FRAME_INTERVALS, SIGNAL_INTERVALS
from farm.models import datetime_to_ms, ms_to_datetime

STRATEGY_CALLBACKS = (
    "on_tick", "on_open", "on_active", "on_idle", "on_close", "on_schedule", "on_cancel",
    "on_write", "on_partial_profit", "on_partial_loss",
)
EXCHANGE_CALLBACKS = ("on_candle_data",)
FRAME_CALLBACKS = ("on_timeframe",)
RISK_CALLBACKS = ("on_rejected", "on_allowed")
SIZING_CALLBACKS = ("on_calculate",)
WALKER_CALLBACKS = ("on_strategy_start", "on_strategy_complete", "on_strategy_error", "on_complete")
OPTIMIZER_CALLBACKS = ("on_source_data", "on_data", "on_code", "on_dump")


def normalize_callbacks(callbacks: Any, allowed: tuple[str, ...], owner: str) -> dict[str, Callable[..., Any]]:
    """A mapping or an object with `on_*` attributes → {name: callable}; a typo is an error,
    not a callback that silently never fires."""
    if callbacks is None:
        return {}
    if isinstance(callbacks, Mapping):
        items = dict(callbacks)
        unknown = sorted(set(items) - set(allowed))
        if unknown:
            raise SchemaError(
                f"{owner}: unknown callback(s) {', '.join(unknown)}; expected some of {', '.join(allowed)}"
            )
    else:
        items = {name: getattr(callbacks, name) for name in allowed if hasattr(callbacks, name)}
    out: dict[str, Callable[..., Any]] = {}
    for name, fn in items.items():
        if fn is None:
            continue
        if not callable(fn):
            raise SchemaError(f"{owner}: callback {name} must be callable, got {type(fn).__name__}")
        out[name] = fn
    return out


class Schema(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, extra="forbid")

    note: str | None = None
    callbacks: dict[str, Any] = {}

    callback_names: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _callbacks(cls, data: Any) -> Any:
        if isinstance(data, dict) and "callbacks" in data:
            allowed = cls.callback_names
            data = {**data, "callbacks": normalize_callbacks(data["callbacks"], allowed, cls.__name__)}
        return data

    @property
    def name(self) -> str:
        raise NotImplementedError


def _check_callable(value: Any, what: str) -> Any:
    if not callable(value):
        raise SchemaError(f"{what} must be a function, got {type(value).__name__}")
    return value


def _nonempty(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise SchemaError(f"{what} must be a non-empty string, got {value!r}")
    return value


class ExchangeSchema(Schema):
    exchange_name: str
    get_candles: Any
    format_price: Any = None
    format_quantity: Any = None
    identity: Any = None
    """What the data is (a string, or a function of the symbol), for result keys; None: asked
    of the source (`identity(symbol)`), else a fingerprint of the candles (`farm.identity.data`)."""
    callback_names: ClassVar[tuple[str, ...]] = EXCHANGE_CALLBACKS

    @model_validator(mode="after")
    def _check(self) -> ExchangeSchema:
        _nonempty(self.exchange_name, "exchange_name")
        _check_callable(self.get_candles, f"exchange {self.exchange_name}: get_candles")
        for field in ("format_price", "format_quantity"):
            value = getattr(self, field)
            if value is not None:
                _check_callable(value, f"exchange {self.exchange_name}: {field}")
        if self.identity is not None and not (callable(self.identity) or (isinstance(self.identity, str) and self.identity)):
            raise SchemaError(f"exchange {self.exchange_name}: identity must be a non-empty string or a function "
                              f"of the symbol, got {type(self.identity).__name__}")
        return self

    @property
    def name(self) -> str:
        return self.exchange_name


class FrameSchema(Schema):
    frame_name: str
    interval: str
    start_date: datetime
    end_date: datetime
    callback_names: ClassVar[tuple[str, ...]] = FRAME_CALLBACKS

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> datetime:
        if not isinstance(value, datetime | str | int):
            raise SchemaError(f"frame dates must be datetimes, ISO strings or ms integers, got {value!r}")
        return ms_to_datetime(datetime_to_ms(value))

    @model_validator(mode="after")
    def _check(self) -> FrameSchema:
        _nonempty(self.frame_name, "frame_name")
        if self.interval not in FRAME_INTERVALS:
            raise SchemaError(
                f"frame {self.frame_name}: unknown interval {self.interval!r}; "
                f"expected one of {', '.join(FRAME_INTERVALS)}"
            )
        if self.end_date < self.start_date:
            raise SchemaError(f"frame {self.frame_name}: end_date is before start_date")
        return self

    @property
    def name(self) -> str:
        return self.frame_name


class StrategySchema(Schema):
    strategy_name: str
    interval: str
    get_signal: Any = None
    signals: Any = None
    risk_name: str | None = None
    risk_list: list[str] = []
    params: dict[str, Any] = {}
    base_strategy: str | None = None
    """For a variant: the strategy it was derived from (its module's code is the variant's code)."""
    callback_names: ClassVar[tuple[str, ...]] = STRATEGY_CALLBACKS

    @model_validator(mode="after")
    def _check(self) -> StrategySchema:
        _nonempty(self.strategy_name, "strategy_name")
        if self.interval not in SIGNAL_INTERVALS:
            raise SchemaError(
                f"strategy {self.strategy_name}: unknown interval {self.interval!r}; "
                f"expected one of {', '.join(SIGNAL_INTERVALS)}"
            )
        if self.get_signal is None and self.signals is None:
            raise SchemaError(f"strategy {self.strategy_name}: get_signal must be a function")
        if self.get_signal is not None:
            _check_callable(self.get_signal, f"strategy {self.strategy_name}: get_signal")
        if self.signals is not None:
            _check_callable(self.signals, f"strategy {self.strategy_name}: signals")
        return self

    @property
    def name(self) -> str:
        return self.strategy_name

    @property
    def risk_names(self) -> list[str]:
        names = ([self.risk_name] if self.risk_name else []) + list(self.risk_list)
        return list(dict.fromkeys(names))

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.get_signal)


class WalkerSchema(Schema):
    walker_name: str
    exchange_name: str
    frame_name: str
    strategies: list[str]
    metric: str = "sharpe_ratio"
    callback_names: ClassVar[tuple[str, ...]] = WALKER_CALLBACKS

    @model_validator(mode="after")
    def _check(self) -> WalkerSchema:
        for field in ("walker_name", "exchange_name", "frame_name"):
            _nonempty(getattr(self, field), field)
        if not self.strategies:
            raise SchemaError(f"walker {self.walker_name}: strategies must be a non-empty list")
        return self

    @property
    def name(self) -> str:
        return self.walker_name


class RiskSchema(Schema):
    risk_name: str
    validations: list[Any] = []
    callback_names: ClassVar[tuple[str, ...]] = RISK_CALLBACKS

    @model_validator(mode="after")
    def _check(self) -> RiskSchema:
        _nonempty(self.risk_name, "risk_name")
        for i, v in enumerate(self.validations):
            fn = v.get("validate") if isinstance(v, Mapping) else v
            if not callable(fn):
                raise SchemaError(
                    f"risk {self.risk_name}: validation[{i}] must be a function or "
                    f'{{"validate": fn, "note": str}}, got {type(v).__name__}'
                )
        return self

    @property
    def name(self) -> str:
        return self.risk_name


class SizingSchema(Schema):
    sizing_name: str
    method: str
    risk_percentage: float | None = None
    kelly_multiplier: float | None = None
    atr_multiplier: float | None = None
    max_position_percentage: float | None = None
    min_position_size: float | None = None
    max_position_size: float | None = None
    callback_names: ClassVar[tuple[str, ...]] = SIZING_CALLBACKS

    @model_validator(mode="after")
    def _check(self) -> SizingSchema:
        _nonempty(self.sizing_name, "sizing_name")
        methods = ("fixed-percentage", "kelly-criterion", "atr-based")
        if self.method not in methods:
            raise SchemaError(f"sizing {self.sizing_name}: method must be one of {', '.join(methods)}, got {self.method!r}")
        if self.method in ("fixed-percentage", "atr-based") and self.risk_percentage is None:
            raise SchemaError(f"sizing {self.sizing_name}: risk_percentage is required for {self.method}")
        return self

    @property
    def name(self) -> str:
        return self.sizing_name


class OptimizerSchema(Schema):
    optimizer_name: str
    range_train: list[Any]
    range_test: Any
    source: list[Any]
    get_prompt: Any
    template: dict[str, Any] | None = None
    callback_names: ClassVar[tuple[str, ...]] = OPTIMIZER_CALLBACKS

    @model_validator(mode="after")
    def _check(self) -> OptimizerSchema:
        _nonempty(self.optimizer_name, "optimizer_name")
        if not self.range_train:
            raise SchemaError(f"optimizer {self.optimizer_name}: range_train must be a non-empty list")
        if not self.source:
            raise SchemaError(f"optimizer {self.optimizer_name}: source must be a non-empty list")
        _check_callable(self.get_prompt, f"optimizer {self.optimizer_name}: get_prompt")
        return self

    @property
    def name(self) -> str:
        return self.optimizer_name
