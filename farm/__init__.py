"""backtest-farm: a backtesting engine (the backtest-kit design) and a Celery farm around it.

The public surface is this module's `__all__` (pinned by a test); everything else is private.
"""

from farm import events as emitters
from farm.api import (
    add_exchange,
    add_frame,
    add_optimizer,
    add_risk,
    add_sizing,
    add_strategy,
    add_walker,
    clear_registry,
    format_price,
    format_quantity,
    get_average_price,
    get_candles,
    get_date,
    get_mode,
    grid,
    list_exchanges,
    list_frames,
    list_optimizers,
    list_risks,
    list_sizings,
    list_strategies,
    list_walkers,
    set_logger,
    variant,
)
from farm.cache import cache_stats
from farm.config import get_config, get_default_config, set_config
from farm.engine.risk import ActivePosition, RiskPayload
from farm.errors import (
    CandleDataError,
    ConfigError,
    ContextError,
    DuplicateError,
    FarmError,
    FormsDisagreeError,
    LookAheadError,
    NotFoundError,
    PermanentDataError,
    PermanentError,
    SchemaError,
    SignalTimeoutError,
    SignalValidationError,
)
from farm.events import (
    listen_backtest_progress,
    listen_done_backtest,
    listen_done_backtest_once,
    listen_done_live,
    listen_done_live_once,
    listen_done_walker,
    listen_done_walker_once,
    listen_error,
    listen_exit,
    listen_optimizer_progress,
    listen_partial_loss,
    listen_partial_loss_once,
    listen_partial_profit,
    listen_partial_profit_once,
    listen_performance,
    listen_risk,
    listen_risk_once,
    listen_signal,
    listen_signal_backtest,
    listen_signal_backtest_once,
    listen_signal_live,
    listen_signal_live_once,
    listen_signal_once,
    listen_validation,
    listen_walker,
    listen_walker_complete,
    listen_walker_once,
    listen_walker_progress,
)
from farm.heat import HeatmapRow, HeatmapStatistics
from farm.kernel.lookahead import CheckReport, check_strategy
from farm.metrics import StandardStats, compute_stats
from farm.models import (
    ActiveResult,
    CancelledResult,
    Candle,
    Candles,
    ClosedResult,
    IdleResult,
    OpenedResult,
    PnL,
    ScheduledResult,
    SignalDto,
    SignalRow,
)
from farm.optimizer.facade import Optimizer
from farm.overfitting import DeflatedSharpe, deflated_sharpe
from farm.persist import open_store
from farm.reports.walker import WalkerResults, WalkerStrategyResult
from farm.risk_rules import (
    max_concurrent_positions,
    max_positions_per_symbol,
    min_reward_risk,
    min_take_profit_distance,
)
from farm.run.backtest import Backtest
from farm.run.facades import Heat, Partial, Performance, PositionSize, Risk, Schedule
from farm.run.reduce import SweepResult
from farm.run.sweep import sweep
from farm.run.walker import Walker

__version__ = "0.1.0"

__all__ = [
    "__version__", "ActivePosition", "ActiveResult", "add_exchange", "add_frame", "add_optimizer",
    "add_risk", "add_sizing", "add_strategy", "add_walker", "Backtest", "cache_stats", "CancelledResult", "Candle",
    "CandleDataError", "Candles", "check_strategy", "CheckReport", "clear_registry", "ClosedResult", "ConfigError", "ContextError",
    "deflated_sharpe", "DeflatedSharpe", "DuplicateError", "emitters", "FarmError", "FormsDisagreeError", "format_price",
    "format_quantity", "get_average_price", "get_candles", "get_config", "get_date", "get_default_config",
    "get_mode", "grid", "Heat", "HeatmapRow", "HeatmapStatistics", "IdleResult", "list_exchanges",
    "list_frames", "list_optimizers", "list_risks", "list_sizings", "list_strategies", "list_walkers",
    "listen_backtest_progress", "listen_done_backtest", "listen_done_backtest_once", "listen_done_live",
    "listen_done_live_once", "listen_done_walker", "listen_done_walker_once", "listen_error",
    "listen_exit", "listen_optimizer_progress", "listen_partial_loss", "listen_partial_loss_once",
    "listen_partial_profit", "listen_partial_profit_once", "listen_performance", "listen_risk",
    "listen_risk_once", "listen_signal", "listen_signal_backtest", "listen_signal_backtest_once",
    "listen_signal_live", "listen_signal_live_once", "listen_signal_once", "listen_validation",
    "listen_walker", "listen_walker_complete", "listen_walker_once", "listen_walker_progress", "LookAheadError",
    "max_concurrent_positions", "max_positions_per_symbol", "min_reward_risk", "min_take_profit_distance",
    "NotFoundError", "open_store", "OpenedResult", "Optimizer", "Partial", "Performance", "PermanentDataError",
    "PermanentError", "PnL", "PositionSize",
    "Risk", "RiskPayload", "Schedule", "ScheduledResult", "SchemaError", "set_config", "set_logger",
    "SignalDto", "SignalRow", "SignalTimeoutError", "SignalValidationError", "sweep", "SweepResult",
    "variant", "Walker", "WalkerResults", "WalkerStrategyResult", "compute_stats", "StandardStats",
]
