"""Per-tick engine speed against backtesting.py and a vectorised numpy reference, in one run.

The standard strategy: SMA crossover fast 10 / slow 50 on closes, long on a cross up, TP +2 %,
SL −1 %, lifetime 240 min, fees 0.1 % a side (no slippage), over synthetic 1m candles. Each
method runs in its own process (so peak memory is its own), on the same candles, and the
script prints candles/s, trades, peak RSS and the ratios to backtesting.py measured here and
now (machines are noisy: only same-run ratios mean anything).

    pip install -e ".[bench]"
    python bench/engine.py                 # 500,000 candles
    python bench/engine.py --candles 100000

Targets (issue #2): per-tick at strategy interval 1m ≥ 1× backtesting.py; at 15m ≥ 5×.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/farm.py sits beside this script: keep it from shadowing the `farm` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

START = "2024-01-01T00:00:00Z"
FAST, SLOW, TP_PCT, SL_PCT, LIFETIME, FEE_PCT = 10, 50, 2.0, 1.0, 240, 0.1


def candles(n: int) -> pd.DataFrame:
    from farm.data.sources import SyntheticSource
    from farm.models import datetime_to_ms, ms_to_datetime

    start = datetime_to_ms(START)
    warmup = SLOW + 10
    source = SyntheticSource(seed=7, volatility=0.001, anchor=start)
    return source("BENCH", "1m", ms_to_datetime(start - warmup * 60_000), n + warmup + LIFETIME + 200)


def run_farm(df: pd.DataFrame, n: int, interval: str) -> tuple[float, int]:
    import farm
    import strategies.sma_cross as sma
    from farm.data.sources import DataFrameSource
    from farm.models import datetime_to_ms

    start = datetime_to_ms(START)
    farm.set_config(percent_slippage=0.0, percent_fee=FEE_PCT)
    farm.add_exchange("bench", DataFrameSource(df))
    farm.add_frame("bench", "1m", start, start + (n - 1) * 60_000)
    params = {"fast": FAST, "slow": SLOW, "tp_pct": TP_PCT, "sl_pct": SL_PCT, "lifetime": LIFETIME}
    farm.add_strategy("sma", interval, sma.get_signal, params=params)
    started = time.perf_counter()
    results = list(farm.Backtest.run("BENCH", strategy_name="sma", exchange_name="bench", frame_name="bench"))
    return time.perf_counter() - started, len(results)


def run_backtesting_py(df: pd.DataFrame, n: int) -> tuple[float, int]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    frame = df.iloc[: n + SLOW].copy()
    frame.index = pd.to_datetime(frame["timestamp"], unit="ms")
    frame = frame.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]

    def sma(values: np.ndarray, length: int) -> np.ndarray:
        return pd.Series(values).rolling(length).mean().to_numpy()

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self) -> None:
            if self.position:
                if len(self.data) - 1 - self.trades[-1].entry_bar >= LIFETIME:
                    self.position.close()
                return
            if crossover(self.fast, self.slow):
                price = self.data.Close[-1]
                self.buy(tp=price * (1 + TP_PCT / 100), sl=price * (1 - SL_PCT / 100))

    bt = Backtest(frame, SmaCross, commission=FEE_PCT / 100, cash=1e9, exclusive_orders=True,
                  finalize_trades=True)
    started = time.perf_counter()
    stats = bt.run()
    return time.perf_counter() - started, int(stats["# Trades"])


def run_numpy(df: pd.DataFrame, n: int) -> tuple[float, int]:
    """The same rules, vectorised where they can be: signals in one pass, one trade at a time."""
    started = time.perf_counter()
    close = df["close"].to_numpy()[: n + SLOW]
    high = df["high"].to_numpy()
    low = df["low"].to_numpy()
    cs = np.concatenate([[0.0], np.cumsum(close)])
    idx = np.arange(SLOW, len(close))
    fast_now = (cs[idx + 1] - cs[idx + 1 - FAST]) / FAST
    slow_now = (cs[idx + 1] - cs[idx + 1 - SLOW]) / SLOW
    fast_prev = (cs[idx] - cs[idx - FAST]) / FAST
    slow_prev = (cs[idx] - cs[idx - SLOW]) / SLOW
    signals = idx[(fast_prev <= slow_prev) & (fast_now > slow_now)]
    trades = 0
    position = 0
    while True:
        k = int(np.searchsorted(signals, position))
        if k == len(signals):
            break
        entry = int(signals[k]) + 1
        price = close[entry - 1]
        tp, sl = price * (1 + TP_PCT / 100), price * (1 - SL_PCT / 100)
        hit = (high[entry : entry + LIFETIME] >= tp) | (low[entry : entry + LIFETIME] <= sl)
        exit_bar = entry + (int(np.argmax(hit)) if hit.any() else LIFETIME - 1)
        trades += 1
        position = exit_bar + 1
    return time.perf_counter() - started, trades


METHODS = {
    "farm-1m": lambda df, n: run_farm(df, n, "1m"),
    "farm-15m": lambda df, n: run_farm(df, n, "15m"),
    "backtesting.py": run_backtesting_py,
    "numpy": run_numpy,
}


def child(method: str, n: int) -> None:
    df = candles(n)
    seconds, trades = METHODS[method](df, n)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"method": method, "seconds": seconds, "trades": trades, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per method, interleaved; the best counts")
    parser.add_argument("--method", choices=sorted(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        child(args.method, args.candles)
        return
    rows: dict[str, dict] = {}
    for _ in range(args.repeat):  # interleaved, so a noisy minute hurts every method alike
        for method in METHODS:
            out = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--method", method, "--candles", str(args.candles)],
                check=True, capture_output=True, text=True,
            )
            run = json.loads(out.stdout.strip().splitlines()[-1])
            if method not in rows or run["seconds"] < rows[method]["seconds"]:
                rows[method] = run
    ref = rows["backtesting.py"]["seconds"]
    print(f"best of {args.repeat} runs each; {args.candles:,} synthetic 1m candles, SMA {FAST}/{SLOW}, TP +{TP_PCT}%, SL -{SL_PCT}%, "
          f"{LIFETIME} min, fees {FEE_PCT}% a side")
    print(f"{'method':<16}{'seconds':>9}{'candles/s':>14}{'trades':>8}{'peak MB':>9}{'vs backtesting.py':>19}")
    for method, r in rows.items():
        print(f"{method:<16}{r['seconds']:>9.2f}{args.candles / r['seconds']:>14,.0f}{r['trades']:>8}"
              f"{r['peak_mb']:>9.0f}{ref / r['seconds']:>18.2f}x")
    ok_1m = ref / rows["farm-1m"]["seconds"] >= 1.0
    ok_15m = ref / rows["farm-15m"]["seconds"] >= 5.0
    print(f"target per-tick 1m >= 1x backtesting.py: {'met' if ok_1m else 'NOT met'}; "
          f"15m >= 5x: {'met' if ok_15m else 'NOT met'}")


if __name__ == "__main__":
    main()
