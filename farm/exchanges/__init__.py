"""Candle sources over real exchanges (kept apart from `farm.data`, which holds stored series).

`CcxtExchange` needs the optional extra ``ccxt`` (``pip install "backtest-farm[ccxt]"``); this
package imports ccxt only when an exchange is built, so ``import farm.exchanges`` always works.
"""

from farm.exchanges.ccxt_exchange import CcxtExchange, point_urls_at

__all__ = ["CcxtExchange", "point_urls_at"]
