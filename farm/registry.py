"""One small registry per kind of schema (SPEC §2), plus strategy variants for sweeps.

Variant names are canonical (`name(k1=v1,k2=v2)`), so a worker that imported only the base
strategy can still resolve a variant by parsing its name.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from farm.errors import DuplicateError, NotFoundError, SchemaError
from farm.schemas import (
    ExchangeSchema,
    FrameSchema,
    OptimizerSchema,
    RiskSchema,
    Schema,
    SizingSchema,
    StrategySchema,
    WalkerSchema,
)

S = TypeVar("S", bound=Schema)


class Registry(Generic[S]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, S] = {}

    def add(self, schema: S) -> S:
        if schema.name in self._items:
            raise DuplicateError(f"{self.kind} {schema.name} already exist")
        self._items[schema.name] = schema
        return schema

    def get(self, name: str, source: str = "") -> S:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise NotFoundError(
                f"{self.kind} {name} not found source={source or self.kind}{self.how_to_fix(name)}"
            ) from None

    def how_to_fix(self, name: Any) -> str:
        """What a "not found" adds: the closest registered names, what is registered, which
        modules were imported to register names, and how to import the missing one."""
        known = sorted(self._items)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6) if isinstance(name, str) else []
        parts = []
        if close:
            parts.append(f"did you mean {' or '.join(close)}?")
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        parts.append(f"registered {self.kind} names: {shown or 'none'}")
        modules = ", ".join(_imported) or "none"
        parts.append(f"modules imported for registrations: {modules}; import the module that registers "
                     f"{self.kind} {name} with --imports MODULE or FARM_IMPORTS=MODULE")
        return "; " + "; ".join(parts)

    def has(self, name: str) -> bool:
        return name in self._items

    def list(self) -> list[S]:
        return list(self._items.values())

    def clear(self) -> None:
        self._items.clear()


_DATED_FRAME_RE = re.compile(r"^(?P<base>.+)@(?P<start>\d{4}-\d{2}-\d{2})\.\.(?P<end>\d{4}-\d{2}-\d{2})$")


def dated_frame_name(base: str, start: datetime, end: datetime) -> str:
    """The name of frame `base` moved to the UTC days start..end (`last30@2026-11-02..2026-12-02`).
    Like a variant name it carries its own definition, so a worker that registered only `base`
    resolves it, and a job (whose key covers the frame name) changes with the days it covers."""
    return f"{base}@{start:%Y-%m-%d}..{end:%Y-%m-%d}"


class FrameRegistry(Registry[FrameSchema]):
    """Frames, plus dated copies of registered frames resolved from their names on the fly
    (nightly batches backtest the days before their run date: `scheduler.batches`)."""

    def get(self, name: str, source: str = "") -> FrameSchema:
        if name not in self._items and isinstance(name, str):
            match = _DATED_FRAME_RE.match(name)
            if match and match["base"] in self._items:
                base = self._items[match["base"]]
                return base.model_copy(update={
                    "frame_name": name,
                    "start_date": datetime.fromisoformat(match["start"]).replace(tzinfo=UTC),
                    "end_date": datetime.fromisoformat(match["end"]).replace(tzinfo=UTC),
                })
        return super().get(name, source)

    def has(self, name: str) -> bool:
        try:
            self.get(name)
        except NotFoundError:
            return False
        return True


exchanges: Registry[ExchangeSchema] = Registry("exchange")
frames: FrameRegistry = FrameRegistry("frame")
strategies: Registry[StrategySchema] = Registry("strategy")
walkers: Registry[WalkerSchema] = Registry("walker")
risks: Registry[RiskSchema] = Registry("risk")
sizings: Registry[SizingSchema] = Registry("sizing")
optimizers: Registry[OptimizerSchema] = Registry("optimizer")
_variants: dict[str, StrategySchema] = {}
_imported: list[str] = []
"""Modules imported to register names (`--imports`, FARM_IMPORTS), named by "not found" errors."""


def note_imported(modules: Iterable[str]) -> None:
    """Record modules imported for their registrations (the CLI's --imports, a worker's
    FARM_IMPORTS), so a "not found" can say where names were looked for."""
    for module in modules:
        if module not in _imported:
            _imported.append(module)

ALL: tuple[Registry[Any], ...] = (exchanges, frames, strategies, walkers, risks, sizings, optimizers)

_clear_hooks: list[Callable[[], None]] = []


def on_clear(fn: Callable[[], None]) -> Callable[[], None]:
    """Let runtime caches (strategy instances, risk ledgers, report storages) empty themselves
    when the registry does, without this module importing them."""
    _clear_hooks.append(fn)
    return fn


def clear_registry() -> None:
    for registry in ALL:
        registry.clear()
    _variants.clear()
    _imported.clear()
    for hook in _clear_hooks:
        hook()


# ---- variants -------------------------------------------------------------------------


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    raise SchemaError(
        f"variant parameter values must be numbers, strings, booleans or None, got {type(value).__name__}"
    )


def variant_name(strategy_name: str, params: dict[str, Any]) -> str:
    body = ",".join(f"{k}={_render_value(params[k])}" for k in sorted(params))
    return f"{strategy_name}({body})"


_VARIANT_RE = re.compile(r"^(?P<base>[^()]+)\((?P<body>.*)\)$")


def parse_variant_name(name: str) -> tuple[str, dict[str, Any]] | None:
    match = _VARIANT_RE.match(name)
    if not match:
        return None
    body = match["body"]
    try:
        call = ast.parse(f"f({body})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.args:
        return None
    try:
        params = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except ValueError:
        return None
    return match["base"], params


def make_variant(strategy_name: str, **params: Any) -> str:
    base = strategies.get(strategy_name, source="variant")
    if base.base_strategy is not None:
        raise SchemaError(f"strategy {strategy_name} is already a variant; derive from {base.base_strategy}")
    unknown = sorted(set(params) - set(base.params))
    if unknown:
        raise SchemaError(
            f"strategy {strategy_name} has no parameter {', '.join(unknown)}; "
            f"declared params: {', '.join(sorted(base.params)) or '(none)'}"
        )
    name = variant_name(strategy_name, params)
    if name not in _variants:
        _variants[name] = base.model_copy(
            update={"strategy_name": name, "params": {**base.params, **params}, "base_strategy": strategy_name}
        )
    return name


def make_grid(strategy_name: str, **lists: Iterable[Any]) -> list[str]:
    keys = sorted(lists)
    values = [list(lists[k]) for k in keys]
    for key, vals in zip(keys, values, strict=True):
        if not vals:
            raise SchemaError(f"grid parameter {key} has no values")
    return [make_variant(strategy_name, **dict(zip(keys, combo, strict=True))) for combo in itertools.product(*values)]


def get_strategy(name: str, source: str = "") -> StrategySchema:
    """A registered strategy or variant; an unregistered but well-formed variant name of a
    registered strategy is created on the fly (workers see only base registrations)."""
    if strategies.has(name):
        return strategies.get(name)
    if name in _variants:
        return _variants[name]
    parsed = parse_variant_name(name) if isinstance(name, str) else None
    if parsed and strategies.has(parsed[0]):
        # Another spelling of a variant (key order, 10.0 for 10) resolves to the canonical one.
        return _variants[make_variant(parsed[0], **parsed[1])]
    return strategies.get(name, source=source)
