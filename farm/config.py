"""Engine configuration (SPEC §1) and farm settings (environment).

The engine config is read at the moment of use (SPEC §1). Outside runs it is one process-wide
value, swapped whole by `set_config`. A run (`farm.run.state.RunState`) takes the config in
force when it starts and, while it executes, `get_config()` answers with that one (a
ContextVar scope): `set_config` from another thread or another run never reaches a run already
going, two runs with different configs in two threads do not interfere, and a farm job never
swaps the process-wide config. A `set_config` made inside a run (from one of its callbacks)
changes that run's config from then on, as the reference's mid-run change does, and nothing
else (a departure from the reference's single mutable config: see SPEC, per-run config).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from farm.errors import ConfigError
from farm.intervals import CANDLE_INTERVALS


class EngineConfig(BaseModel):
    """Every tunable of the engine; names are the reference's `CC_*` names in snake_case."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    schedule_await_minutes: int | float = 120
    avg_price_candles_count: int | float = 5
    percent_slippage: float = 0.1
    percent_fee: float = 0.1
    min_takeprofit_distance_percent: float = 0.5
    min_stoploss_distance_percent: float = 0.5
    max_stoploss_distance_percent: float = 20
    max_signal_lifetime_minutes: int | float = 1440
    max_signal_generation_seconds: float = 180
    get_candles_retry_count: int | float = 3
    get_candles_retry_delay_ms: int | float = 5000
    get_candles_price_anomaly_threshold_factor: float = 1000
    get_candles_min_candles_for_median: int | float = 5
    report_show_signal_note: bool = False
    # Extensions of this project (not in the reference):
    base_interval: str = "1m"
    """Interval of the candles used for VWAP and fast-forward (the reference hard-codes 1m)."""
    report_max_rows: int | float = 250
    """Rows rendered in a report table (D8: statistics always cover every signal)."""
    walker_min_trades: int | float = 10
    """Fewest closed trades for a walker metric to rank (D14): below it the metric is N/A and
    ranks last, so one lucky trade cannot win a sweep."""
    candle_page_limit: int | float = 1000
    """How many candles one call to an exchange's `get_candles` asks for when the engine pages."""
    backtest_path: Literal["auto", "per-tick", "kernel"] = "auto"
    """Which engine `Backtest.run` uses. "auto": the compiled kernel when the strategy has a
    vectorised form (`signals=`), nothing needs per-tick Python (`farm.kernel.kernel_blockers`)
    and numba is installed, else the per-tick loop — the trades are the same either way, so the
    choice is silent; "per-tick": always the reference loop; "kernel": the kernel or a clear
    error naming what blocks it."""
    lookahead_check: Literal["sample", "full", "off"] = "sample"
    """The look-ahead and both-forms check of a vectorised strategy before its kernel run
    (`farm.kernel.lookahead`, docs/lookahead.md): "sample" (a few truncated recomputes, once per
    variant and data in a process), "full" (what `farm check --exhaustive` does), "off"."""


INTEGER_FIELDS = (
    "schedule_await_minutes", "avg_price_candles_count", "max_signal_lifetime_minutes",
    "get_candles_retry_count", "get_candles_retry_delay_ms", "get_candles_min_candles_for_median",
    "report_max_rows", "candle_page_limit", "walker_min_trades",
)
"""Typed `int | float` so a fraction reaches the §1.2 check ("must be a positive integer")."""

_DEFAULTS = EngineConfig()
_current: EngineConfig = _DEFAULTS


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


def config_problems(cfg: EngineConfig) -> list[str]:
    """Cross-field checks of SPEC §1.2; returns every problem rather than the first."""
    problems: list[str] = []
    slip, fee = cfg.percent_slippage, cfg.percent_fee
    if not (math.isfinite(slip) and slip >= 0):
        problems.append(f"percent_slippage must be a non-negative number, got {slip}")
    if not (math.isfinite(fee) and fee >= 0):
        problems.append(f"percent_fee must be a non-negative number, got {fee}")
    min_tp = cfg.min_takeprofit_distance_percent
    if not (math.isfinite(min_tp) and min_tp > 0):
        problems.append(f"min_takeprofit_distance_percent must be a positive number, got {min_tp}")
    elif math.isfinite(slip) and math.isfinite(fee) and min_tp < 2 * slip + 2 * fee:
        problems.append(
            f"min_takeprofit_distance_percent ({min_tp}%) is too low to cover trading costs "
            f"(2 x slippage + 2 x fee = {2 * slip + 2 * fee}%)"
        )
    min_sl, max_sl = cfg.min_stoploss_distance_percent, cfg.max_stoploss_distance_percent
    if not (math.isfinite(min_sl) and min_sl > 0):
        problems.append(f"min_stoploss_distance_percent must be a positive number, got {min_sl}")
    if not (math.isfinite(max_sl) and max_sl > 0):
        problems.append(f"max_stoploss_distance_percent must be a positive number, got {max_sl}")
    if math.isfinite(min_sl) and math.isfinite(max_sl) and not min_sl < max_sl:
        problems.append(
            f"min_stoploss_distance_percent ({min_sl}) must be less than "
            f"max_stoploss_distance_percent ({max_sl})"
        )
    for name in (
        "schedule_await_minutes",
        "max_signal_lifetime_minutes",
        "max_signal_generation_seconds",
        "avg_price_candles_count",
        "get_candles_price_anomaly_threshold_factor",
        "get_candles_min_candles_for_median",
        "report_max_rows",
        "candle_page_limit",
        "walker_min_trades",
    ):
        value = getattr(cfg, name)
        if not (_is_int(value) and value > 0):
            problems.append(f"{name} must be a positive integer, got {value}")
    for name in ("get_candles_retry_count", "get_candles_retry_delay_ms"):
        value = getattr(cfg, name)
        if not (_is_int(value) and value >= 0):
            problems.append(f"{name} must be a non-negative integer, got {value}")
    if cfg.base_interval not in CANDLE_INTERVALS:
        problems.append(
            f"base_interval must be one of {', '.join(CANDLE_INTERVALS)}, got {cfg.base_interval!r}"
        )
    return problems


def merged_config(base: EngineConfig, fields: Mapping[str, Any], *, unsafe: bool = False) -> EngineConfig:
    """`base` with `fields` shallow-merged in, checked as `set_config` checks (one error listing
    every problem); `base` is never changed (configs are frozen)."""
    # Every kind of problem is collected before anything is raised (issue #14.15): unknown
    # names, values of the wrong type (the rules then run on the other fields), the rules.
    problems = [f"unknown config field {name!r}" for name in sorted(set(fields) - set(EngineConfig.model_fields))]
    known = {name: value for name, value in fields.items() if name in EngineConfig.model_fields}
    try:
        candidate = EngineConfig(**{**base.model_dump(), **known})
    except ValidationError as exc:
        first: dict[str, str] = {}  # one line per field (a union type reports each member)
        for e in exc.errors():
            first.setdefault(str(e["loc"][0]) if e["loc"] else "config", e["msg"])
        problems += [f"{name}: {msg} (got {known.get(name)!r})" for name, msg in first.items()]
        bad = set(first)
        candidate = EngineConfig(**{**base.model_dump(), **{k: v for k, v in known.items() if k not in bad}})
    if not unsafe:
        problems += config_problems(candidate)
    if problems:
        raise ConfigError(
            "GLOBAL_CONFIG validation failed:\n" + "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
        ) from None
    # Whole numbers given as floats (60.0) are stored as ints; fractions only pass with `unsafe`.
    return candidate.model_copy(
        update={name: int(getattr(candidate, name)) for name in INTEGER_FIELDS if _is_int(getattr(candidate, name))}
    )


@dataclass(eq=False, slots=True)
class ConfigScope:
    """The config of one run: taken when the run starts, replaced only by a `set_config` made
    inside that run. Each value is a frozen `EngineConfig`."""

    config: EngineConfig


_scope: ContextVar[ConfigScope | None] = ContextVar("farm_run_config", default=None)


def enter_config_scope(scope: ConfigScope) -> None:
    """`get_config()` answers with `scope.config` (and `set_config` changes it) for the rest of
    the current context: one private to a run (`RunState.iterate` runs it in its own
    `contextvars.Context`), so this thread's other code and other threads never see it."""
    _scope.set(scope)


def set_config(*, unsafe: bool = False, **fields: Any) -> EngineConfig:
    """Shallow-merge `fields` into the config; on any problem nothing changes and one error lists all.

    `unsafe=True` skips the cross-field checks (as the reference) but never the type checks: a
    distance check can be set to 0 (disabled), a price can't be set to a string. Inside a run
    (a callback) it changes that run's config only; elsewhere the process-wide one.
    """
    global _current
    scope = _scope.get()
    new = merged_config(_current if scope is None else scope.config, fields, unsafe=unsafe)
    if scope is None:
        _current = new
    else:
        scope.config = new
    return new


def get_config() -> EngineConfig:
    """The config in force (immutable; change it with `set_config`): the running run's inside a
    run, else the process-wide one."""
    scope = _scope.get()
    return _current if scope is None else scope.config


def get_default_config() -> EngineConfig:
    return _DEFAULTS


def reset_config() -> None:
    """Back to the defaults (tests)."""
    global _current
    _current = _DEFAULTS


class FarmSettings(BaseSettings):
    """Where the farm's servers and files are; every field optional on the embedded default."""

    model_config = SettingsConfigDict(env_prefix="FARM_", extra="ignore", frozen=True)

    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str | None = None
    redis_url: str | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_prefix: str = ""
    s3_max_attempts: int = Field(default=4, ge=1)
    """Attempts per S3 call (boto3's standard retry mode, with its backoff) before the store
    reports the error; a task or the coordinator then waits and tries again."""
    data_dir: Path = Path(".farm")
    imports: str = ""
    dump_dir: Path = Path("dump")
    visibility_timeout: int = Field(default=3600, gt=0)
    """Seconds before the Redis broker redelivers an unacknowledged task (a killed worker's)."""
    redrive_after: float = Field(default=0.0, ge=0)
    """Seconds after which the coordinator re-submits a task with no stored record (0: never).
    Double runs are harmless: a task's result is stored under its content hash."""
    block_size: int = Field(default=50, ge=1)
    """Most jobs in one farm task (a variant block: variants of one strategy on one symbol, run
    one after another on the candles the task loaded once); 1 is one task per job. 50 makes a
    1,000-variant sweep 20 tasks and keeps a block of per-tick runs of a month of 1m candles
    (seconds each) well inside the broker's visibility timeout."""
    block_min_tasks: int = Field(default=0, ge=0)
    """Blocks shrink so a sweep has at least this many tasks when it has as many jobs, so no
    worker idles while another runs a big block; 0: 4 per local pool process, 16 on Celery (it
    cannot know its worker count: set this to 4 x your worker processes past 4 of them)."""
    stores: str = ""
    """Stores a worker writes to when a task names them, besides its own (S3 when FARM_S3_BUCKET
    is set, else FARM_DATA_DIR/store): comma-separated URLs, a file:// one admitting the
    directories under it. A task naming any other store is refused (farm.persist.known)."""
    retry_backoff: float = Field(default=2.0, gt=0)
    """Seconds before a Celery task's first retry after a transient error, doubling with each
    retry up to 60 s: 3 retries for a data source, as many as it takes for the result store."""
    job_time_limit: float = Field(default=900, gt=0)
    """Seconds one job may take on a Celery worker: a task of n jobs gets a soft limit of n times
    this (its unfinished jobs are recorded as timed out) and a hard one a little later (its pool
    process is killed and replaced)."""
    flower_user: str | None = None
    flower_password: str | None = None
    flower_port: int = 5555
    flower_address: str = "127.0.0.1"
    """Loopback by default; inside a container set 0.0.0.0 and publish the port on the host's
    127.0.0.1 only (deploy/compose.yaml does)."""
    queue: str = "farm"
    cache_ttl_seconds: int = 604_800
    """How long a candle chunk lives in Redis; every read restarts the clock."""
    cache_lock_ttl_ms: int = 30_000
    """How long a crashed fetcher's single-flight lock blocks the others."""
    cache_lock_wait_seconds: float = 300
    """The longest a caller waits for another process's fetch of the same chunk."""
    cache_lru_candles: int = 1_000_000
    """Decoded candles kept in memory per process."""
    cache_prefix: str | None = None
    """Redis key prefix of the cache (else `?prefix=P` on FARM_REDIS_URL, else `farm`)."""

    def import_list(self) -> list[str]:
        return [m.strip() for m in self.imports.split(",") if m.strip()]


_settings_cache: tuple[tuple[tuple[str, str], ...], FarmSettings] | None = None


def get_settings() -> FarmSettings:
    """The settings as the environment says now: workers and tests change it between calls.

    Memoized on the FARM_* variables themselves (their only source): building the model costs a
    few milliseconds, as much as a whole small backtest on the kernel, and a farm task reads it
    more than once."""
    global _settings_cache
    env = tuple(sorted((k.upper(), v) for k, v in os.environ.items() if k[:5].upper() == "FARM_"))
    cached = _settings_cache
    if cached is not None and cached[0] == env:
        return cached[1]
    settings = FarmSettings()
    _settings_cache = (env, settings)
    return settings
