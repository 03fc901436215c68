"""backtest-farm: a backtesting engine (the backtest-kit design) and a Celery farm around it."""

__version__ = "0.1.0"
