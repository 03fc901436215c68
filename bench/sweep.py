"""Fast-path speed: the vectorised SMA strategy on the compiled kernel against backtesting.py,
vectorbt and a plain numba loop, on the same candles, in one run (issue #6).

Two jobs:

* single: one backtest of the standard strategy (SMA 10/50 on closes, long on a cross up,
  TP +2 %, SL −1 %, lifetime 240 min, fees 0.1 % a side, no slippage) on 500,000 1m candles;
* sweep: 100 variants (fast 5, 10, …, 50 × slow 20, 40, …, 200) on 100,000 1m candles.

Each method runs in its own process (so peak memory is its own; for backtesting.py's
multiprocess optimize the largest worker counts too), best of N runs, and the script prints
candles/s, backtests/s, peak RSS and ratios measured here and now (machines are noisy: only
same-run ratios mean anything). Numba-based methods (the kernel, the numba loop, vectorbt) are
warmed up on a small input first; that first-call time (compilation or cache load) is shown
apart.

What each method computes: "kernel" is farm's vectorised `strategies.sma_cross` on the kernel
with every rule of the per-tick engine (entry at the VWAP of the closed candles, D1–D3, D11,
throttling) and the same trades as the per-tick engine, as arrays — from candles in memory for
"single", through the exchange (paging, checks) for "sweep"; "kernel+records" is the whole
`run_vectorised` (exchange, the per-tick engine's pydantic records); "per-tick" is
`farm.Backtest.run` with `get_signal`;
"numba-loop" is a bare loop with simpler rules (entry at the signal bar's close, no VWAP, no
validation): the speed of light for this strategy; backtesting.py and vectorbt run their own
closest equivalents (their entry, stop and time-exit rules differ, so trade counts differ).
In the 10×10 grid, 10 combinations have fast ≥ slow: `sma_cross` trades nothing there (its
per-tick form cannot compute them), the other methods trade the inverted cross.

    pip install -e ".[bench,fast]"
    python bench/sweep.py                          # both jobs, default sizes
    python bench/sweep.py --vectorbt-python /path/to/python   # an interpreter with vectorbt

Targets (issue #6): the kernel >= 10x vectorbt on both jobs; sweep peak memory <= 400 MB.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/farm.py sits beside this script: keep it from shadowing the `farm` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from itertools import product  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

START = "2024-01-01T00:00:00Z"
MIN = 60_000
FAST, SLOW, TP_PCT, SL_PCT, LIFETIME, FEE_PCT = 10, 50, 2.0, 1.0, 240, 0.1
FASTS = list(range(5, 51, 5))
SLOWS = list(range(20, 201, 20))
GRID = list(product(FASTS, SLOWS))
WARMUP = max(SLOWS) + 10


def candles(n: int) -> pd.DataFrame:
    from farm.data.sources import SyntheticSource
    from farm.models import datetime_to_ms, ms_to_datetime

    start = datetime_to_ms(START)
    source = SyntheticSource(seed=7, volatility=0.001, anchor=start)
    return source("BENCH", "1m", ms_to_datetime(start - WARMUP * MIN), n + WARMUP + LIFETIME + 200)


def params(fast: int = FAST, slow: int = SLOW) -> dict:
    return {"fast": fast, "slow": slow, "tp_pct": TP_PCT, "sl_pct": SL_PCT, "lifetime": LIFETIME}


# ---- farm ------------------------------------------------------------------------------------


def _register(df: pd.DataFrame, n: int) -> None:
    import farm
    import strategies.sma_cross as sma
    from farm.data.sources import DataFrameSource
    from farm.models import datetime_to_ms

    start = datetime_to_ms(START)
    farm.set_config(percent_slippage=0.0, percent_fee=FEE_PCT)
    farm.add_exchange("bench", DataFrameSource(df))
    farm.add_frame("warm", "1m", start, start + 2000 * MIN)
    farm.add_frame("bench", "1m", start, start + (n - 1) * MIN)
    farm.add_strategy("sma", "1m", sma.get_signal, signals=sma.vectorised_signals, params=params())


def kernel_single(df: pd.DataFrame, n: int) -> dict:
    """Candles already in memory (as the other libraries get them), trades as arrays."""
    import strategies.sma_cross as sma
    from farm.kernel import Market, run_arrays
    from farm.kernel.signals import compute_table
    from farm.models import CandleArrays, datetime_to_ms

    _register(df, n)
    arrays = CandleArrays(df["timestamp"].to_numpy(), *(df[k].to_numpy() for k in ("open", "high", "low", "close",
                                                                                   "volume")))
    start = datetime_to_ms(START)

    def once(count: int) -> int:
        frames = np.arange(start, start + count * MIN, MIN, dtype=np.int64)
        market = Market.from_arrays(arrays, frames, MIN, MIN)
        table = compute_table(sma.vectorised_signals, market.signal_candles, params(), "sma")
        return len(run_arrays(market, table, "1m"))

    t0 = time.perf_counter()
    once(2000)
    warm = time.perf_counter() - t0
    started = time.perf_counter()
    trades = once(n)
    return {"seconds": time.perf_counter() - started, "trades": trades, "warmup_s": warm}


def kernel_records(df: pd.DataFrame, n: int) -> dict:
    """End to end like `farm.Backtest.run`: candles through the exchange (paging, checks), the
    per-tick engine's result records."""
    from farm.kernel import run_vectorised

    _register(df, n)
    t0 = time.perf_counter()
    run_vectorised("BENCH", strategy_name="sma", exchange_name="bench", frame_name="warm")
    warm = time.perf_counter() - t0
    started = time.perf_counter()
    run = run_vectorised("BENCH", strategy_name="sma", exchange_name="bench", frame_name="bench")
    return {"seconds": time.perf_counter() - started, "trades": len(run.results), "warmup_s": warm}


def per_tick_single(df: pd.DataFrame, n: int) -> dict:
    import farm

    _register(df, n)
    farm.set_config(backtest_path="per-tick")  # Backtest.run would take the kernel (signals=)
    started = time.perf_counter()
    results = list(farm.Backtest.run("BENCH", strategy_name="sma", exchange_name="bench", frame_name="bench"))
    return {"seconds": time.perf_counter() - started, "trades": len(results)}


def kernel_sweep(df: pd.DataFrame, n: int) -> dict:
    import strategies.sma_cross as sma
    from farm.kernel import load_market, run_sweep

    _register(df, n)
    grid = [params(f, s) for f, s in GRID]
    t0 = time.perf_counter()
    run_sweep(load_market("BENCH", "bench", "warm"), sma.vectorised_signals, grid[:2], "1m")
    warm = time.perf_counter() - t0
    started = time.perf_counter()
    market = load_market("BENCH", "bench", "bench")
    swept = run_sweep(market, sma.vectorised_signals, grid, "1m")
    return {"seconds": time.perf_counter() - started, "trades": sum(len(t) for t in swept), "warmup_s": warm}


# ---- a plain numba loop (the floor) ------------------------------------------------------------

_LOOP = None


def _loop():
    global _LOOP
    if _LOOP is None:
        import numba

        @numba.njit(cache=False)
        def backtest(close, high, low, fast, slow, tp_pct, sl_pct, lifetime, fee):
            n = len(close)
            cs = np.zeros(n + 1)
            for i in range(n):
                cs[i + 1] = cs[i] + close[i]
            trades = 0
            total = 0.0
            i = slow
            while i < n - 1:
                f_now = (cs[i + 1] - cs[i + 1 - fast]) / fast
                s_now = (cs[i + 1] - cs[i + 1 - slow]) / slow
                f_prev = (cs[i] - cs[i - fast]) / fast
                s_prev = (cs[i] - cs[i - slow]) / slow
                if not (f_prev <= s_prev and f_now > s_now):
                    i += 1
                    continue
                entry = close[i]
                tp = entry * (1 + tp_pct / 100)
                sl = entry * (1 - sl_pct / 100)
                last = min(i + lifetime, n - 1)
                exit_price = close[last]
                j = i + 1
                while j <= last:
                    if high[j] >= tp:
                        exit_price = tp
                        break
                    if low[j] <= sl:
                        exit_price = sl
                        break
                    j += 1
                if j > last:
                    j = last
                total += (exit_price - entry) / entry * 100 - 2 * fee
                trades += 1
                i = j + 1
            return trades, total

        _LOOP = backtest
    return _LOOP


def _loop_run(df: pd.DataFrame, n: int, grid: list[tuple[int, int]]) -> dict:
    close = df["close"].to_numpy()[: n + WARMUP]
    high = df["high"].to_numpy()[: n + WARMUP]
    low = df["low"].to_numpy()[: n + WARMUP]
    backtest = _loop()
    t0 = time.perf_counter()
    backtest(close[:3000], high[:3000], low[:3000], FAST, SLOW, TP_PCT, SL_PCT, LIFETIME, FEE_PCT)
    warm = time.perf_counter() - t0
    started = time.perf_counter()
    trades = 0
    for fast, slow in grid:
        trades += backtest(close, high, low, fast, slow, TP_PCT, SL_PCT, LIFETIME, FEE_PCT)[0]
    return {"seconds": time.perf_counter() - started, "trades": trades, "warmup_s": warm}


# ---- backtesting.py --------------------------------------------------------------------------


def _rolling_mean(values: np.ndarray, length: int) -> np.ndarray:
    return pd.Series(values).rolling(length).mean().to_numpy()


def _backtesting(df: pd.DataFrame, n: int):
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    frame = df.iloc[: n + WARMUP].copy()
    frame.index = pd.to_datetime(frame["timestamp"], unit="ms")
    frame = frame.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]

    class SmaCross(Strategy):
        fast = FAST
        slow = SLOW

        def init(self) -> None:
            self.ma_fast = self.I(_rolling_mean, self.data.Close, self.fast)
            self.ma_slow = self.I(_rolling_mean, self.data.Close, self.slow)

        def next(self) -> None:
            if self.position:
                if len(self.data) - 1 - self.trades[-1].entry_bar >= LIFETIME:
                    self.position.close()
                return
            if crossover(self.ma_fast, self.ma_slow):
                price = self.data.Close[-1]
                self.buy(tp=price * (1 + TP_PCT / 100), sl=price * (1 - SL_PCT / 100))

    # optimize() pickles the class to its worker processes: make it reachable by name.
    SmaCross.__qualname__ = SmaCross.__name__
    globals()["SmaCross"] = SmaCross
    return Backtest(frame, SmaCross, commission=FEE_PCT / 100, cash=1e9, exclusive_orders=True,
                    finalize_trades=True)


def backtesting_single(df: pd.DataFrame, n: int) -> dict:
    bt = _backtesting(df, n)
    started = time.perf_counter()
    stats = bt.run()
    return {"seconds": time.perf_counter() - started, "trades": int(stats["# Trades"])}


def backtesting_sweep(df: pd.DataFrame, n: int) -> dict:
    import warnings

    bt = _backtesting(df, n)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt.optimize(fast=FASTS, slow=SLOWS, maximize="Return [%]")
    return {"seconds": time.perf_counter() - started, "trades": None}


# ---- vectorbt --------------------------------------------------------------------------------


def _vectorbt(df: pd.DataFrame, n: int, fasts: list[int], slows: list[int]) -> int:
    import vectorbt as vbt

    frame = df.iloc[: n + WARMUP]
    close = frame["close"].reset_index(drop=True)
    fast = vbt.MA.run(close, fasts, short_name="fast")
    slow = vbt.MA.run(close, slows, short_name="slow")
    entries = fast.ma_crossed_above(slow)
    exits = entries.vbt.fshift(LIFETIME)  # a time exit: the closest vectorbt has to a lifetime
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, open=frame["open"].reset_index(drop=True),
        high=frame["high"].reset_index(drop=True), low=frame["low"].reset_index(drop=True),
        tp_stop=TP_PCT / 100, sl_stop=SL_PCT / 100, fees=FEE_PCT / 100, freq="1min",
    )
    return int(pf.trades.count().sum())


def vectorbt_single(df: pd.DataFrame, n: int) -> dict:
    t0 = time.perf_counter()
    _vectorbt(df, 3000, [FAST], [SLOW])
    warm = time.perf_counter() - t0
    started = time.perf_counter()
    trades = _vectorbt(df, n, [FAST], [SLOW])
    return {"seconds": time.perf_counter() - started, "trades": trades, "warmup_s": warm}


def vectorbt_sweep(df: pd.DataFrame, n: int) -> dict:
    fasts = [f for f, _ in GRID]
    slows = [s for _, s in GRID]
    t0 = time.perf_counter()
    _vectorbt(df, 3000, fasts[:2], slows[:2])
    warm = time.perf_counter() - t0
    started = time.perf_counter()
    trades = _vectorbt(df, n, fasts, slows)
    return {"seconds": time.perf_counter() - started, "trades": trades, "warmup_s": warm}


METHODS = {
    "single": {
        "kernel": kernel_single,
        "kernel+records": kernel_records,
        "per-tick": per_tick_single,
        "numba-loop": lambda df, n: _loop_run(df, n, [(FAST, SLOW)]),
        "backtesting.py": backtesting_single,
        "vectorbt": vectorbt_single,
    },
    "sweep": {
        "kernel": kernel_sweep,
        "numba-loop": lambda df, n: _loop_run(df, n, GRID),
        "backtesting.py": backtesting_sweep,
        "vectorbt": vectorbt_sweep,
    },
}
SLOW_METHODS = {("single", "per-tick"), ("sweep", "backtesting.py"), ("single", "backtesting.py")}


def child(job: str, method: str, n: int) -> None:
    if method == "vectorbt":
        try:
            import vectorbt  # noqa: F401
        except ImportError as exc:
            print(json.dumps({"skipped": f"vectorbt not importable ({exc})"}))
            return
    df = candles(n)
    row = METHODS[job][method](df, n)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({**row, "peak_mb": max(own, workers)}))


def measure(job: str, n: int, repeat: int, slow_repeat: int, vectorbt_python: str) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    methods = list(METHODS[job])
    for attempt in range(repeat):  # interleaved, so a noisy minute hurts every method alike
        for method in methods:
            if attempt >= (slow_repeat if (job, method) in SLOW_METHODS else repeat):
                continue
            if method in rows and "skipped" in rows[method]:
                continue
            python = vectorbt_python if method == "vectorbt" else sys.executable
            out = subprocess.run(
                [python, str(Path(__file__).resolve()), "--child", job, method, "--candles", str(n)],
                check=True, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["runs"] = rows.get(method, {}).get("runs", 0) + 1
            if method not in rows or "skipped" in run or run["seconds"] < rows[method]["seconds"]:
                rows[method] = run
            else:
                rows[method]["runs"] = run["runs"]
    return rows


def report(job: str, n: int, rows: dict[str, dict]) -> None:
    variants = len(GRID) if job == "sweep" else 1
    kernel = rows["kernel"]["seconds"]
    title = (f"{n:,} candles, 1 backtest (SMA {FAST}/{SLOW})" if job == "single"
             else f"{n:,} candles, {variants} variants (fast {FASTS[0]}..{FASTS[-1]} x slow {SLOWS[0]}..{SLOWS[-1]})")
    print(f"\n{job}: {title}, TP +{TP_PCT}%, SL -{SL_PCT}%, {LIFETIME} min, fees {FEE_PCT}% a side")
    print(f"{'method':<16}{'seconds':>9}{'candles/s':>14}{'backtests/s':>13}{'trades':>9}{'peak MB':>9}"
          f"{'1st call s':>11}{'runs':>6}{'time/kernel':>12}")
    for method, r in rows.items():
        if "skipped" in r:
            print(f"{method:<16}  skipped: {r['skipped']}")
            continue
        s = r["seconds"]
        trades = "-" if r["trades"] is None else f"{r['trades']:,}"
        warm = f"{r['warmup_s']:.2f}" if "warmup_s" in r else "-"
        print(f"{method:<16}{s:>9.4f}{n * variants / s:>14,.0f}{variants / s:>13,.1f}{trades:>9}{r['peak_mb']:>9.0f}"
              f"{warm:>11}{r['runs']:>6}{s / kernel:>11.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-candles", type=int, default=500_000)
    parser.add_argument("--sweep-candles", type=int, default=100_000)
    parser.add_argument("--jobs", default="single,sweep")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method, interleaved; the best counts")
    parser.add_argument("--slow-repeat", type=int, default=1,
                        help="runs of the slow methods (per-tick single, backtesting.py)")
    parser.add_argument("--vectorbt-python", default=os.environ.get("BENCH_VECTORBT_PYTHON", sys.executable),
                        help="interpreter with vectorbt (and farm) installed; default: this one")
    parser.add_argument("--candles", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.candles)
        return
    results = {}
    for job in args.jobs.split(","):
        n = args.single_candles if job == "single" else args.sweep_candles
        results[job] = measure(job, n, args.repeat, args.slow_repeat, args.vectorbt_python)
        report(job, n, results[job])
    verdicts = []
    for job, rows in results.items():
        vbt = rows.get("vectorbt", {})
        if "seconds" in vbt:
            ratio = vbt["seconds"] / rows["kernel"]["seconds"]
            verdicts.append(f"{job}: kernel {ratio:.1f}x vectorbt ({'met' if ratio >= 10 else 'NOT met'})")
        else:
            verdicts.append(f"{job}: vectorbt not measured")
    if "sweep" in results:
        peak = results["sweep"]["kernel"]["peak_mb"]
        verdicts.append(f"sweep peak {peak:.0f} MB ({'met' if peak <= 400 else 'NOT met'} <= 400 MB)")
    print("\ntargets: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
