"""What the look-ahead check costs (issue #10 point 6): the default ("sample") check against a
kernel run of the standard strategy (sma_cross) on synthetic 1m candles, and `farm check
--exhaustive` on the bundled data.

    python bench/lookahead.py                  # 100,000 candles
    python bench/lookahead.py --candles 500000

Each figure is the fastest of --repeat runs (machines are noisy; only same-run ratios mean
anything). The check's memo is cleared before each checked run, so every one pays for it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/farm.py sits beside this script: keep it from shadowing the `farm` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402


def fastest(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    import farm
    import strategies
    from farm.data.sample import sample_source
    from farm.data.synthetic import SyntheticSource
    from farm.kernel import lookahead, run_vectorised
    from farm.models import iso_ms

    strategies.register_all()
    start = 1_704_067_200_000  # 2024-01-01
    farm.add_exchange("synthetic", SyntheticSource(seed=1))
    farm.add_frame("bench", "1m", iso_ms(start), iso_ms(start + args.candles * 60_000))

    def run() -> None:
        run_vectorised("S/X", strategy_name="sma_cross", exchange_name="synthetic", frame_name="bench")

    def backtest() -> None:
        list(farm.Backtest.run("S/X", strategy_name="sma_cross", exchange_name="synthetic", frame_name="bench"))

    print(f"sma_cross on {args.candles:,} 1m candles (fastest of {args.repeat}):")
    for label, fn in (("run_vectorised", run), ("Backtest.run", backtest)):
        def checked(fn: Callable[[], None] = fn) -> None:
            lookahead._verified.clear()
            fn()

        farm.set_config(lookahead_check="off")
        fn()  # candles loaded and the kernel compiled before anything is timed
        off = fastest(fn, args.repeat)
        farm.set_config(lookahead_check="sample")
        on = fastest(checked, args.repeat)
        print(f"  {label:15s} check off {off * 1000:7.1f} ms, sample {on * 1000:7.1f} ms "
              f"(+{(on - off) * 1000:.1f} ms, {(on - off) / off:+.0%})")

    print("farm check --exhaustive on the bundled data:")
    farm.add_exchange("sample1m", sample_source("1m"))
    farm.add_frame("nov", "1m", "2017-11-05", "2017-11-14")
    cases = [("sma_cross", "sample1m", "nov", "UNITTEST/BTC", "1m")]
    cases += [(name, "sample5m", "jan", "ETH/BTC", "5m") for name in ("sma_cross", "mean_reversion", "breakout_retest")]
    for name, exchange, frame, symbol, base in cases:
        farm.set_config(base_interval=base)
        if base == "5m" and "sample5m" not in [e.exchange_name for e in farm.list_exchanges()]:
            farm.add_exchange("sample5m", sample_source("5m"))
            farm.add_frame("jan", "5m", "2018-01-11", "2018-01-29")
        farm.check_strategy(name, exchange_name=exchange, frame_name=frame, symbol=symbol)  # compiled, loaded
        report = farm.check_strategy(name, exchange_name=exchange, frame_name=frame, symbol=symbol, exhaustive=True)
        print(f"  {symbol} {base}: {report}")


if __name__ == "__main__":
    main()
