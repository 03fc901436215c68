"""Nothing may let a vectorised strategy read the future (issue #10 point 6).

A strategy that peeks at the next close is rejected by `Backtest.run` (kernel and per-tick
table path), by a farm job (its failure record names the bar) and by `farm check`; the
bundled strategies pass both checks exhaustively on the bundled data; two forms that disagree
are reported with the tick; the check can be switched off, and then the cheat shows its edge.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import farm  # noqa: E402
import strategies  # noqa: E402
import strategies.sma_cross as sma  # noqa: E402
from farm.data.sample import sample_source  # noqa: E402
from farm.kernel import average_prices, lookahead  # noqa: E402
from farm.kernel.market import load_market  # noqa: E402
from farm.kernel.signals import compute_table  # noqa: E402
from farm.models import Candles, datetime_to_ms, iso_ms  # noqa: E402
from farm.persist import keys as K  # noqa: E402
from farm.persist import open_store  # noqa: E402
from tests.test_cli import farm_cli  # noqa: E402

SYMBOL = "UNITTEST/BTC"
START, END = "2017-11-05", "2017-11-08"


def peek(candles: Candles, *, ahead: int = 1, move_pct: float = 0.3) -> dict:
    """The cheat: long where the close `ahead` bars later is move_pct higher (`shift(-ahead)`)."""
    later = pd.Series(candles.close).shift(-ahead).to_numpy()
    position = (later >= candles.close * (1 + move_pct / 100)).astype(np.int8)
    price = average_prices(candles, at=position)
    return {"position": position, "price_take_profit": price * 1.01, "price_stop_loss": price * 0.99,
            "minute_estimated_time": 120}


def peek_target(candles: Candles) -> dict:
    """Honest entries (sma_cross), a take-profit at the next bar's close: only that column cheats."""
    out = sma.vectorised_signals(candles, **sma.PARAMS)
    nxt = np.append(candles.close[1:], np.nan)[out["position"] != 0]
    return {**out, "price_take_profit": nxt * 1.02}


def filter_losers(candles: Candles) -> dict:
    """sma_cross, except the crosses after which the next close falls: every signal it keeps
    is also a signal on the truncated history, only the bars it drops differ (a cheat the
    default sample may miss and the exhaustive check may not)."""
    out = sma.vectorised_signals(candles, **sma.PARAMS)
    falls = np.append(candles.close[1:] < candles.close[:-1], False)
    position = out["position"].copy()
    position[falls] = 0
    return {**out, "position": position, "price_take_profit": candles.close * 1.02,
            "price_stop_loss": candles.close * 0.99}


def whole_history_mean(candles: Candles) -> dict:
    """Long below 99 % of the mean close of the whole history (a statistic of the future)."""
    close = candles.close
    position = (close < 0.99 * close.mean()).astype(np.int8)
    return {"position": position, "price_take_profit": close * 1.01, "price_stop_loss": close * 0.99,
            "minute_estimated_time": 60}


def setup_1m() -> None:
    farm.add_exchange("sample", sample_source("1m"))
    farm.add_frame("days", "1m", START, END)


def run(strategy: str, frame: str = "days", symbol: str = SYMBOL) -> list:
    return list(farm.Backtest.run(symbol, strategy_name=strategy, exchange_name="sample", frame_name=frame))


def first_readable_signal(fn, params: dict | None = None) -> tuple[int, int]:
    """(bar index, open time) of the first signal bar a backtest of "days" acts on, from the
    full-history table: on a 1m frame over 1m candles, the first bar closing at or after the start."""
    market = load_market(SYMBOL, "sample", "days")
    table = compute_table(fn, market.signal_candles, params or {}, "t")
    start = datetime_to_ms(START)
    i = next(int(i) for i in np.flatnonzero(table.position) if table.timestamp[i] + 60_000 >= start)
    return i, int(table.timestamp[i])


# ---- the cheat is rejected everywhere ---------------------------------------------------------


def test_backtest_run_rejects_a_strategy_reading_the_next_close():
    setup_1m()
    farm.add_strategy("peek", "1m", signals=peek)
    bar, ts = first_readable_signal(peek)
    with pytest.raises(farm.LookAheadError) as caught:
        run("peek")
    err = caught.value
    assert (err.strategy_name, err.bar, err.timestamp, err.columns) == ("peek", bar, ts, ["position"])
    assert f"strategy peek: signals reads the future: the row of bar {bar} (open {iso_ms(ts)}" in str(err)
    assert "position 1 with the full history, 0 without the candles after it" in str(err)
    assert farm.Backtest.get_path(SYMBOL, "peek") is None  # nothing was recorded


def test_a_cheating_price_column_is_named():
    setup_1m()
    farm.add_strategy("peek_tp", "1m", signals=peek_target)
    with pytest.raises(farm.LookAheadError) as caught:
        run("peek_tp")
    assert caught.value.columns == ["price_take_profit"]
    assert "price_take_profit" in str(caught.value) and "without the candles after it" in str(caught.value)


def test_a_statistic_of_the_whole_history_is_look_ahead():
    setup_1m()
    farm.add_strategy("mean_all", "1m", signals=whole_history_mean)
    with pytest.raises(farm.LookAheadError, match="strategy mean_all: signals reads the future"):
        run("mean_all")


def test_the_per_tick_table_path_rejects_it_too():
    """A callback keeps the strategy off the kernel: its rows are read per tick from the same
    table, which is checked the same way."""
    setup_1m()
    farm.add_strategy("peek_cb", "1m", signals=peek, callbacks={"on_open": lambda *a: None})
    with pytest.raises(farm.LookAheadError, match="strategy peek_cb: signals reads the future"):
        run("peek_cb")


def test_a_farm_job_records_the_rejection_as_its_failure(tmp_path):
    setup_1m()
    farm.add_strategy("peek", "1m", signals=peek)
    strategies.register_all()
    farm.add_walker("w", "sample", "days", ["peek", "sma_cross"])
    bar, ts = first_readable_signal(peek)
    store = open_store(f"file://{tmp_path / 'store'}")
    result = farm.sweep("w", [SYMBOL], executor="local", workers=1, store=store)
    (failure,) = result.failures
    assert failure.strategy_name == "peek"
    assert failure.error.startswith(f"LookAheadError: strategy peek: signals reads the future: the row of bar {bar} "
                                    f"(open {iso_ms(ts)}")
    assert store.exists(K.failure(failure.task_key)) and not store.exists(K.result(failure.task_key))
    entries = {s.strategy_name: s for s in result.walker_results[SYMBOL].strategies}
    assert entries["sma_cross"].stats.total_signals > 0  # the honest strategy of the same sweep ran


def test_run_sweep_checks_every_variant():
    """The arrays-level sweep samples the first variant of a function and cuts every further
    one at its first signal bar: a look-ahead that only some parameters switch on is caught."""
    from farm.config import get_config
    from farm.kernel import KernelConfig, run_sweep

    setup_1m()
    market = load_market(SYMBOL, "sample", "days")
    cfg = KernelConfig.from_engine(get_config())
    assert [len(t) for t in run_sweep(market, sma.vectorised_signals, [sma.PARAMS, {**sma.PARAMS, "fast": 5}],
                                      "1m", cfg)][0] > 0
    bar, _ = first_readable_signal(peek, {"ahead": 1})
    with pytest.raises(farm.LookAheadError) as caught:  # ahead=0 reads nothing ahead (and never signals)
        run_sweep(market, peek, [{"ahead": 0}, {"ahead": 1}], "1m", cfg)
    assert (caught.value.strategy_name, caught.value.bar) == ("peek", bar)


CHEAT_MODULE = '''
import numpy as np, pandas as pd
import farm
from farm.data.sample import sample_source
import strategies.sma_cross

farm.add_exchange("sample", sample_source("1m"))
farm.add_frame("days", "1m", "2017-11-05", "2017-11-08")

def peek(candles):
    later = pd.Series(candles.close).shift(-1).to_numpy()
    position = (later >= candles.close * 1.003).astype(np.int8)
    return {"position": position, "price_take_profit": candles.close * 1.01,
            "price_stop_loss": candles.close * 0.99, "minute_estimated_time": 120}

farm.add_strategy("peek", "1m", signals=peek)
'''


def test_farm_check_command(tmp_path):
    (tmp_path / "my_cheat.py").write_text(CHEAT_MODULE)
    args = ("--exchange", "sample", "--frame", "days", "--symbol", SYMBOL, "--imports", "my_cheat")
    bad = farm_cli("check", "--strategy", "peek", *args, cwd=tmp_path)
    assert bad.returncode == 1
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("error: strategy peek: signals reads the future: the row of bar ")
    assert "(position changed)" in line and "Traceback" not in bad.stderr

    good = farm_cli("check", "--strategy", "sma_cross", *args, "--exhaustive", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("sma_cross: no look-ahead (exhaustive): ")
    assert "both forms agree at" in good.stdout

    unknown = farm_cli("check", "--strategy", "nope", *args, cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.strip().startswith("error: strategy nope not found source=backtest; ")
    helped = farm_cli("check", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--exhaustive" in helped.stdout


# ---- honest strategies pass, exhaustively ---------------------------------------------------


@pytest.mark.parametrize("name", ["sma_cross", "mean_reversion", "breakout_retest"])
def test_bundled_strategies_pass_both_checks_exhaustively(name):
    """Every row a backtest can act on equals the row computed on the history up to its bar,
    and get_signal returns that row at every tick where the kernel reads one."""
    strategies.register_all()
    if name == "sma_cross":
        setup_1m()
        symbol, frame = SYMBOL, "days"
    else:
        farm.set_config(base_interval="5m")
        farm.add_exchange("sample", sample_source("5m"))
        farm.add_frame("jan", "5m", "2018-01-11", "2018-01-29")
        symbol, frame = "ETH/BTC", "jan"
    report = farm.check_strategy(name, exchange_name="sample", frame_name=frame, symbol=symbol, exhaustive=True)
    assert report.mode == "exhaustive" and report.signal_bars > 0
    assert report.cuts >= report.readable - 1 > 1000  # a recompute at every bar the kernel can read
    # get_signal asked at every tick the kernel reads a row: at least once per readable bar, more
    # where a gap leaves a bar the newest closed one for several ticks.
    assert report.ticks >= report.readable
    sampled = farm.check_strategy(name, exchange_name="sample", frame_name=frame, symbol=symbol)
    assert 0 < sampled.cuts <= lookahead.SAMPLE_CUTS and 0 < sampled.ticks <= lookahead.SAMPLE_TICKS


def test_exhaustive_finds_what_a_sample_need_not():
    """filter_losers keeps only signals the truncated history also gives; only a cut exactly at
    a dropped cross shows it. The exhaustive check names the first one the kernel could read."""
    setup_1m()
    farm.add_strategy("filtered", "1m", signals=filter_losers)
    market = load_market(SYMBOL, "sample", "days")
    honest = compute_table(sma.vectorised_signals, market.signal_candles, sma.PARAMS, "t")
    cheat = compute_table(filter_losers, market.signal_candles, {}, "t")
    _, readable_bars = lookahead.readable(market)
    dropped = np.flatnonzero((honest.position != 0) & (cheat.position == 0))
    first = int(np.intersect1d(dropped, readable_bars)[0])
    with pytest.raises(farm.LookAheadError) as caught:
        farm.check_strategy("filtered", exchange_name="sample", frame_name="days", symbol=SYMBOL, exhaustive=True)
    assert (caught.value.bar, caught.value.columns) == (first, ["position"])
    assert "position 0 with the full history, 1 without the candles after it" in str(caught.value)


# ---- both forms agree -----------------------------------------------------------------------


def wider_target(candles: Candles, **params) -> dict:
    """sma_cross's rows with a 3 % instead of 2 % take-profit (get_signal keeps 2 %)."""
    return sma.vectorised_signals(candles, **{**params, "tp_pct": 3.0})


def test_two_forms_that_disagree_are_reported_with_the_tick():
    setup_1m()
    farm.add_strategy("twins", "1m", sma.get_signal, params=sma.PARAMS, signals=wider_target)
    bar, ts = first_readable_signal(wider_target, sma.PARAMS)
    tick = ts + 60_000  # the 1m frame tick at which that bar has just closed
    with pytest.raises(farm.FormsDisagreeError) as caught:
        run("twins")
    err = caught.value
    assert (err.strategy_name, err.tick, err.bar, err.columns) == ("twins", tick, bar, ["price_take_profit"])
    assert str(err).startswith(f"strategy twins: get_signal and signals disagree at tick {iso_ms(tick)} "
                               f"(the row of bar {bar}, open {iso_ms(ts)}")
    with pytest.raises(farm.FormsDisagreeError, match=f"disagree at tick {iso_ms(tick)}"):
        farm.check_strategy("twins", exchange_name="sample", frame_name="days", symbol=SYMBOL)


def silent(candles: Candles, **params) -> dict:
    return {"position": np.zeros(len(candles), dtype=np.int8), "price_take_profit": np.nan,
            "price_stop_loss": np.nan, "minute_estimated_time": 240}


def test_a_signal_only_get_signal_gives_is_found_exhaustively():
    setup_1m()
    farm.add_strategy("mute", "1m", sma.get_signal, params=sma.PARAMS, signals=silent)
    bar, ts = first_readable_signal(sma.vectorised_signals, sma.PARAMS)
    with pytest.raises(farm.FormsDisagreeError) as caught:
        farm.check_strategy("mute", exchange_name="sample", frame_name="days", symbol=SYMBOL, exhaustive=True)
    assert (caught.value.tick, caught.value.bar, caught.value.columns) == (ts + 60_000, bar, ["position"])
    assert "get_signal says long, the signals row says none" in str(caught.value)


# ---- switched off; once per variant and data ------------------------------------------------


def test_the_check_can_be_switched_off_and_the_cheat_then_shows_an_edge():
    setup_1m()
    farm.add_strategy("peek", "1m", signals=peek)
    farm.set_config(lookahead_check="off")
    results = run("peek")
    stats = farm.Backtest.get_data(SYMBOL, "peek")
    assert len(results) > 100 and stats.win_rate > 60  # what reading the next close buys


def test_the_default_check_runs_once_per_variant_and_data():
    """Runs that share candles (a farm block's jobs, runs on one exchange pool) check a variant
    once; a run with candles of its own (every library `Backtest.run`) checks again."""
    from farm.run.backtest import run_backtest
    from farm.run.state import ExchangePool, RunState

    setup_1m()
    calls: list[int] = []

    def counted(candles: Candles, **params) -> dict:
        calls.append(len(candles))
        return sma.vectorised_signals(candles, **params)

    farm.add_strategy("counted", "1m", signals=counted, params=sma.PARAMS)
    pool = ExchangePool()

    def shared() -> list:
        state = RunState(farm.get_config(), exchanges=pool)
        return list(run_backtest(SYMBOL, strategy_name="counted", exchange_name="sample", frame_name="days", run=state))

    shared()
    first = len(calls)
    assert 1 < first <= 1 + lookahead.SAMPLE_CUTS and min(calls) < max(calls)  # truncated recomputes
    shared()
    assert len(calls) == first + 1  # the same variant on the same candles: checked already
    run("counted")
    assert len(calls) == 2 * first + 1  # fresh candles of its own: checked again
    farm.set_config(lookahead_check="full")
    shared()
    assert len(calls) > 2 * first + 1000  # another mode is another check
    # What the memo keeps does not keep the candles alive (a worker runs thousands of jobs).
    held = [x for entry in lookahead._verified.values() for x in entry]
    assert held and not any(isinstance(x, np.ndarray) for x in held)
    assert all(r() is not None for entry in lookahead._verified.values() for r in entry[2])


def test_the_sample_is_reproducible_and_seeded_by_name_and_params():
    setup_1m()
    market = load_market(SYMBOL, "sample", "days")
    table = compute_table(sma.vectorised_signals, market.signal_candles, sma.PARAMS, "t")

    def where(name: str, params: dict) -> tuple:
        p = lookahead.plan(market, table, name=name, params=params, mode="sample")
        return p.cuts, p.ticks.tolist(), p.bars.tolist()

    a = where("sma_cross", sma.PARAMS)
    assert a == where("sma_cross", sma.PARAMS)
    assert a != where("sma_cross", {**sma.PARAMS, "fast": 11})
    cuts, ticks, bars = a
    first = int(np.flatnonzero(table.position)[np.flatnonzero(table.timestamp[table.position != 0] + 60_000
                                                              >= datetime_to_ms(START))[0]])
    assert first in cuts and first - 1 in cuts and first in bars  # the first signal bar and the one before


def test_readable_bars_follow_the_kernels_bar_rule():
    """The ticks and bars the check compares are exactly those at which `as_get_signal` (the
    kernel's rule, per tick) returns a row, on coarse and off-grid frames with gaps."""
    from farm.kernel.market import Market
    from farm.kernel.signals import as_get_signal, to_table
    from farm.models import CandleArrays

    rng = np.random.default_rng(7)
    for _ in range(60):
        step = int(rng.choice([1, 5])) * 60_000
        n = int(rng.integers(2, 200))
        ts = (np.cumsum(rng.integers(1, 4, size=n)) * step).astype(np.int64)
        frame_step = int(rng.choice([1, 5, 15, 60])) * 60_000
        frames = (int(rng.integers(-5, 300)) * 60_000 + int(rng.choice([0, 30_000]))
                  + np.arange(int(rng.integers(1, 150))) * frame_step).astype(np.int64)
        market = Market(frames=frames, frame_step=frame_step, step=step,
                        arrays=CandleArrays(ts, *(np.ones(n) for _ in range(5))), signal_lo=0, signal_hi=n)
        position = np.ones(n, dtype=np.int8)
        table = to_table({"position": position, "price_take_profit": np.arange(n, dtype=float),
                          "price_stop_loss": 0.5, "minute_estimated_time": 5}, market.signal_candles)
        read = as_get_signal(table, step, frame_step)
        expected = [(int(t), int(r["price_take_profit"])) for t in frames
                    if (r := read("X", datetime.fromtimestamp(t / 1000, tz=UTC))) is not None]
        ticks, bars = lookahead.readable(market)
        assert list(zip(ticks.tolist(), bars.tolist(), strict=True)) == expected


# ---- properties: honest pandas/numpy indicators pass, any peek is caught ----------------------


def honest(candles: Candles, *, span: int, window: int, k: float) -> dict:
    """Causal indicators of the kinds users write (ewm, rolling, cumsum), short and long."""
    close = pd.Series(candles.close)
    ema = close.ewm(span=span, adjust=False).mean().to_numpy()
    band = close.rolling(window).std().to_numpy()
    cs = np.cumsum(candles.close)
    sma = (cs - np.r_[np.zeros(window), cs[:-window]]) / window
    side = np.where(candles.close > ema + k * band, -1, np.where(candles.close < sma - k * band, 1, 0))
    side = side.astype(np.int8)
    price = average_prices(candles, where=side)
    return {"position": side, "price_take_profit": price * (1 + 0.01 * side), "price_stop_loss": price * (1 - 0.01 * side),
            "minute_estimated_time": 30}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), span=st.integers(2, 60), window=st.integers(2, 60), k=st.sampled_from([0.5, 1.0, 2.0]),
       ahead=st.integers(1, 40), gaps=st.sampled_from([0.0, 0.05]))
def test_honest_indicators_pass_and_any_peek_is_caught(seed, span, window, k, ahead, gaps):
    from farm.data.synthetic import SyntheticSource

    farm.clear_registry()
    lookahead._verified.clear()
    farm.add_exchange("syn", SyntheticSource(seed=seed, gap_probability=gaps))
    farm.add_frame("f", "1m", "2024-01-01", "2024-01-01 06:00")
    farm.add_strategy("honest", "1m", signals=honest, params={"span": span, "window": window, "k": k})
    farm.add_strategy("peek", "1m", signals=peek, params={"ahead": ahead, "move_pct": 0.05})
    for exhaustive in (False, True):
        farm.check_strategy("honest", exchange_name="syn", frame_name="f", symbol="S/X", exhaustive=exhaustive)
    market = load_market("S/X", "syn", "f")
    table = compute_table(peek, market.signal_candles, {"ahead": ahead, "move_pct": 0.05}, "t")
    _, bars = lookahead.readable(market)
    signals = np.intersect1d(np.flatnonzero(table.position), bars)
    if not len(signals):
        return
    with pytest.raises(farm.LookAheadError) as caught:  # the default sample names the first one
        list(farm.Backtest.run("S/X", strategy_name="peek", exchange_name="syn", frame_name="f"))
    assert caught.value.bar <= int(signals[0])
