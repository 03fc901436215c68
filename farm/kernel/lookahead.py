"""Nothing may let a vectorised strategy read the future (issue #10 point 6; docs/lookahead.md).

`signals(candles, **params)` receives the whole candle history at once, so nothing in its
interface stops row `i` from reading bar `i + 1`. The rule it must keep is the per-tick one: the
row of bar `i` is what `get_signal` would return at that bar's close, so it may depend on bars
`<= i` only. Equivalently, for every cut `m`, `signals(candles[:m])` gives the first `m` rows of
`signals(candles)`. Two checks follow from that:

* **look-ahead**: recompute `signals` on truncated histories (cuts) and compare the rows before
  each cut with the full-history rows: the position exactly, and where the position is non-zero
  the entry, take-profit, stop-loss and lifetime (relative tolerance `RTOL`, NaN equal to NaN).
  A row that changes when later candles are removed read them.
* **both forms agree**: for a strategy with `get_signal` too, call it at frame ticks in the real
  per-tick context (`get_candles`, `get_average_price` answer as in a backtest at that tick) and
  compare its answer with the row of the newest bar closed at that tick, the row the kernel acts on.

Modes (config `lookahead_check`): "sample" (the default before every kernel run, bounded: at
most `SAMPLE_CUTS` recomputes, each comparing every row before its cut, and
`SAMPLE_TICKS` get_signal calls; memoised once per strategy variant and data in a process),
"full" (every bar the kernel can read and every signal bar, `farm check --exhaustive`), "off".
Samples are drawn with a seed from the strategy's name and parameters: reproducible runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from farm import registry
from farm.engine.exchange import ExchangeClient
from farm.errors import FarmError, FormsDisagreeError, LookAheadError, NoCandlesError
from farm.kernel.market import Market
from farm.kernel.signals import SignalTable, compute_table
from farm.models import Candles, iso_ms, ms_to_datetime

MODES = ("sample", "full", "off")
VALUE_COLUMNS = ("price_open", "price_take_profit", "price_stop_loss", "minute_estimated_time")
"""The float columns compared where the position is non-zero (the order of `kernel_columns`)."""
RTOL = 1e-9
"""Relative tolerance on prices and lifetimes: a causal strategy computes the same numbers on a
prefix, but a length-dependent algorithm (an FFT, pairwise sums) may move the last bits."""
SAMPLE_SIGNAL_BARS = 2
"""Cuts at signal bars in "sample" mode (the first one and a random other), each with the bar
just before it as a second cut."""
SAMPLE_OTHER_BARS = 2
"""Further cuts at random bars the kernel can read."""
SAMPLE_CUTS = 2 * SAMPLE_SIGNAL_BARS + SAMPLE_OTHER_BARS
SAMPLE_SIGNAL_TICKS = 3
SAMPLE_OTHER_TICKS = 3
SAMPLE_TICKS = SAMPLE_SIGNAL_TICKS + SAMPLE_OTHER_TICKS
_MEMO_SIZE = 1024

Progress = Callable[[str, int, int], object]
"""Called as (phase "look-ahead" | "both forms", done, total) while a long check runs."""
_PROGRESS_EVERY = 256


@dataclass(frozen=True)
class CheckReport:
    """What a passed check covered."""

    strategy_name: str
    mode: str
    bars: int
    """Candles given to `signals` (warm-up included)."""
    readable: int
    """Of those, the bars the kernel can act on (the newest closed bar at some frame tick)."""
    signal_bars: int
    cuts: int
    """Truncated recomputes of `signals`."""
    rows: int
    """Rows compared across all cuts."""
    ticks: int
    """Frame ticks at which `get_signal` was compared (0: no get_signal)."""
    seconds: float

    def __str__(self) -> str:
        forms = f"; both forms agree at {self.ticks} ticks" if self.ticks else ""
        return (f"{self.strategy_name}: no look-ahead ({self.mode}): {self.cuts} truncated recomputes, "
                f"{self.rows} rows compared, {self.bars} candles ({self.readable} the kernel can act on, "
                f"{self.signal_bars} with a signal){forms} ({self.seconds:.2f} s)")


# ---- the columns of a table, as compared -----------------------------------------------------


@dataclass(eq=False)
class _Cols:
    """A table's columns without spreading per-signal ones over the bars (`kernel_columns`)."""

    position: np.ndarray
    floats: tuple[np.ndarray, ...]
    modes: np.ndarray
    bars: np.ndarray | None = None
    """Signal bars, computed once for the full table (a truncated one counts instead)."""

    @classmethod
    def of(cls, table: SignalTable, *, index: bool = False) -> _Cols:
        position, floats, modes = table.kernel_columns()
        return cls(position, floats, modes, table.signal_bars() if index else None)

    def signals_before(self, a: int) -> int:
        if self.bars is not None:
            return int(np.searchsorted(self.bars, a))
        return int(np.count_nonzero(self.position[:a]))

    def values(self, a: int, b: int, at: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """The signal bars in [a, b) (`at`, when the caller knows them) and each float
        column's values at them."""
        if at is None:
            at = self.bars[np.searchsorted(self.bars, a):np.searchsorted(self.bars, b)] if self.bars is not None \
                else a + np.flatnonzero(self.position[a:b])
        k0 = self.signals_before(a) if any(m == 2 for m in self.modes) else 0
        out = []
        for col, mode in zip(self.floats, self.modes, strict=True):
            if mode == 0:
                out.append(np.full(len(at), col[0]))
            elif mode == 1:
                out.append(col[at])
            else:
                out.append(col[k0 : k0 + len(at)])
        return at, out

    def row(self, i: int) -> tuple[int, list[float]]:
        at, vals = self.values(i, i + 1)
        return int(self.position[i]), [float(v[0]) for v in vals] if len(at) else []


def _differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where a and b differ by more than RTOL relative to b (NaN equals NaN; `np.isclose`
    costs more than the recompute on the few values compared here)."""
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.abs(a - b) <= RTOL * np.abs(b)) | (np.isnan(a) & np.isnan(b))
    return ~same


def _first_difference(full: _Cols, cut: _Cols, a: int, b: int) -> tuple[int, list[str]] | None:
    """The first bar in [a, b) whose row differs, and which columns differ there."""
    moved = full.position[a:b] != cut.position[a:b]
    k = int(np.argmax(moved))
    first = a + k if moved[k] else b
    at, want = full.values(a, first)
    best, columns = first, ["position"] if first < b else []
    if len(at):  # positions agree before `first`: the same signal bars; all four columns at once
        _, got = cut.values(a, first, at)
        bad = _differ(np.vstack(got), np.vstack(want))
        hit = bad.any(axis=1)
        if hit.any():
            bar = int(at[int(bad.any(axis=0).argmax())])
            if bar < best:
                best = bar
                columns = [name for name, row in zip(VALUE_COLUMNS, bad, strict=True) if row[at == bar].any()]
    return (best, columns) if best < b else None


# ---- which bars and ticks -------------------------------------------------------------------


def _bars_of_ticks(market: Market, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For frame ticks `frames[k]`: the bar the kernel reads there (`steps.newest_closed`: the
    newest bar closed by t, again at later ticks while no newer one closed) and whether there is one."""
    ts = market.arrays.timestamp[market.signal_lo : market.signal_hi]
    t = market.frames[k]
    j = np.searchsorted(ts, t - market.step, side="right") - 1  # open <= t - step: closed by t
    return j, j >= 0


def _ticks_of_bars(market: Market, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For bars j: the first frame tick at which the kernel reads them, and whether it ever does
    (a bar is read from the first tick at or after its close until a later bar has closed)."""
    ts = market.arrays.timestamp[market.signal_lo : market.signal_hi]
    frames = market.frames
    if not len(frames):
        return np.zeros(len(j), dtype=np.int64), np.zeros(len(j), dtype=bool)
    close = ts[j] + market.step
    k = np.searchsorted(frames, close, side="left")
    t = frames[np.minimum(k, len(frames) - 1)]
    last = j + 1 >= len(ts)
    after = ts[np.minimum(j + 1, len(ts) - 1)] + market.step  # the next bar's close
    return t, (k < len(frames)) & (last | (after > t))


def readable(market: Market) -> tuple[np.ndarray, np.ndarray]:
    """(frame ticks, bar index) for every tick at which the kernel reads a row, in time order; a
    bar is read at every tick while it is the newest closed one."""
    k = np.arange(len(market.frames))
    j, ok = _bars_of_ticks(market, k)
    return market.frames[ok], j[ok]


def _rng(name: str, params: Mapping[str, Any]) -> np.random.Generator:
    text = f"{name}|{json.dumps(dict(params), sort_keys=True, default=repr)}"
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


def _pick(rng: np.random.Generator, n: int, k: int, *, first: bool = False) -> list[int]:
    """Up to k distinct indices below n: 0 if `first`, the rest at random."""
    chosen = [0] if first and n and k else []
    take = min(k - len(chosen), n - len(chosen))
    if take > 0:
        chosen += [len(chosen) + int(v) for v in rng.choice(n - len(chosen), size=take, replace=False)]
    return chosen


def _first_readable_signal(market: Market, position: np.ndarray, chunk: int = 4096) -> int | None:
    """The first signal bar a backtest acts on, found by scanning from the frame's start in
    chunks (a sweep variant's check must not cost a pass over every bar)."""
    if not len(market.frames):
        return None
    ts = market.arrays.timestamp[market.signal_lo : market.signal_hi]
    lo = int(np.searchsorted(ts, int(market.frames[0]) - market.step))  # bars closing at or after the start
    while lo < len(position):
        signal = lo + np.flatnonzero(position[lo : lo + chunk])
        ok = _ticks_of_bars(market, signal)[1]
        if ok.any():
            return int(signal[int(ok.argmax())])
        lo += chunk
    return None


@dataclass(frozen=True)
class Plan:
    """Where a check looks: the cuts of the look-ahead check and the (tick, bar) pairs at
    which get_signal is compared."""

    mode: str
    cuts: list[int]
    ticks: np.ndarray
    bars: np.ndarray
    readable: int | None = None
    """How many bars the kernel can read ("full" only: a sample does not count them)."""


def plan(market: Market, table: SignalTable, *, name: str, params: Mapping[str, Any], mode: str) -> Plan:
    """"full": every bar the kernel can read and every signal bar are cuts, every tick at which
    the kernel reads a row is compared. "sample" (seeded by name and params): the first signal
    bar the kernel can read and random others, each with the bar just before it, and random
    readable bars as cuts; the ticks of the first and random other signal bars and random
    ticks without a signal compared. A sample looks up only the bars it considers (a few
    searches, not a pass over every tick). "first" (`verify(sweep=True)` for a sweep's further
    variants): one cut, at the first signal bar a backtest acts on; no ticks."""
    if mode not in (*MODES, "first"):
        raise FarmError(f"lookahead_check must be one of {', '.join(MODES)}, got {mode!r}")
    empty = np.empty(0, dtype=np.int64)
    if mode == "off" or not len(table):
        return Plan(mode, [], empty, empty, 0)
    position = table.kernel_columns()[0]
    if mode == "first":  # a sweep's further variants: the first signal bar a backtest acts on
        first = _first_readable_signal(market, position)
        return Plan(mode, [] if first is None else [first], empty, empty)
    if mode == "full":
        ticks, bars = readable(market)
        cut = position != 0
        cut[bars] = True
        return Plan(mode, np.flatnonzero(cut).tolist(), ticks, bars, len(np.unique(bars)))
    rng = _rng(name, params)
    signal = table.signal_bars()
    t_sig, ok = _ticks_of_bars(market, signal)
    signal, t_sig = signal[ok], t_sig[ok]
    picked = signal[_pick(rng, len(signal), SAMPLE_SIGNAL_BARS, first=True)].tolist()
    cuts = set(picked) | {i - 1 for i in picked if i > 0}
    draws = rng.integers(0, len(market.frames), size=8 * (SAMPLE_OTHER_BARS + SAMPLE_OTHER_TICKS)) \
        if len(market.frames) else empty
    j, ok = _bars_of_ticks(market, draws)
    quiet_ticks: dict[int, int] = {}
    others: list[int] = []
    for b, k, good in zip(j.tolist(), draws.tolist(), ok.tolist(), strict=True):
        if not good:
            continue
        if len(others) < SAMPLE_OTHER_BARS and b not in cuts:
            others.append(b)
            cuts.add(b)
        if len(quiet_ticks) < SAMPLE_OTHER_TICKS and position[b] == 0:
            quiet_ticks.setdefault(b, int(market.frames[k]))
    at = _pick(rng, len(signal), SAMPLE_SIGNAL_TICKS, first=True)
    pairs = sorted([(int(t_sig[i]), int(signal[i])) for i in at] + [(t, b) for b, t in quiet_ticks.items()])
    ticks = np.array([t for t, _ in pairs], dtype=np.int64)
    bars = np.array([b for _, b in pairs], dtype=np.int64)
    return Plan(mode, sorted(cuts), ticks, bars)


# ---- the look-ahead check --------------------------------------------------------------------


def check_lookahead(market: Market, table: SignalTable, fn: Callable[..., Any], params: Mapping[str, Any], *,
                    name: str, mode: str = "sample", where: Plan | None = None,
                    on_progress: Progress | None = None) -> tuple[int, int]:
    """Raise `LookAheadError` at the first bar whose row depends on later candles; returns
    (cuts, rows compared). `table` is `signals` on `market.signal_candles`.

    "sample" compares every row before each cut (a row that reads h bars ahead shows up at any
    cut within h bars after it, and a statistic of the whole history at any cut); "full" cuts
    at every bar the kernel can read and every signal bar, comparing the rows since the
    previous cut, so each such row is checked against its own truncated history."""
    where = where or plan(market, table, name=name, params=params, mode=mode)
    mode, cuts = where.mode, where.cuts
    if not cuts:
        return 0, 0
    full = _Cols.of(table, index=mode != "first")  # the table keeps its signal index (plan made it)
    found: tuple[int, list[str], _Cols] | None = None
    rows = previous = recomputed = 0
    for n, i in enumerate(cuts):
        if on_progress is not None and n % _PROGRESS_EVERY == 0:
            on_progress("look-ahead", n, len(cuts))
        m = i + 1
        if m >= len(table):
            continue  # the full history itself
        recomputed += 1
        truncated = Candles(market.arrays, market.signal_lo, market.signal_lo + m)
        label = f"strategy {name}: signals on the candles up to bar {i} ({iso_ms(int(truncated.timestamp[-1]))})"
        try:
            cut = _Cols.of(compute_table(fn, truncated, params, label))
        except Exception as exc:  # noqa: BLE001 - a row that needs later candles to exist at all
            raise _error(name, table, i, [], f"signals raised on the candles up to that bar "
                         f"({type(exc).__name__}: {exc}); a row may only need its bar and earlier ones") from exc
        a = previous if mode == "full" else 0
        rows += m - a
        diff = _first_difference(full, cut, a, m)
        previous = m
        if diff is not None and (found is None or diff[0] < found[0]):
            found = (diff[0], diff[1], cut)
            if mode == "full":
                break  # windows ascend: nothing later is earlier
    if found is not None:
        bar, columns, cut = found
        raise _error(name, table, bar, columns, _changes(full, cut, bar, columns))
    return recomputed, rows


def _changes(full: _Cols, cut: _Cols, bar: int, columns: list[str]) -> str:
    (pf, vf), (pc, vc) = full.row(bar), cut.row(bar)
    if "position" in columns:
        return f"position {pf} with the full history, {pc} without the candles after it"
    parts = [f"{c} {vf[VALUE_COLUMNS.index(c)]!r} with the full history, {vc[VALUE_COLUMNS.index(c)]!r} without"
             for c in columns]
    return "; ".join(parts) + " the candles after it"


def _error(name: str, table: SignalTable, bar: int, columns: list[str], detail: str) -> LookAheadError:
    ts = int(table.timestamp[bar])
    changed = f" ({', '.join(columns)} changed)" if columns else ""
    return LookAheadError(
        f"strategy {name}: signals reads the future: the row of bar {bar} (open {iso_ms(ts)}; bars count from 0 "
        f"in the {len(table)} candles it was given){changed}: {detail}. The row of a bar may depend only on that "
        f"bar and earlier ones (docs/lookahead.md; config lookahead_check='off' skips this check)",
        strategy_name=name, bar=bar, timestamp=ts, columns=columns,
    )


# ---- both forms agree ------------------------------------------------------------------------


def check_agreement(market: Market, table: SignalTable, get_signal: Callable[..., Any], params: Mapping[str, Any],
                    *, name: str, symbol: str, exchange_name: str, frame_name: str, mode: str = "sample",
                    where: Plan | None = None, on_progress: Progress | None = None,
                    client: ExchangeClient | None = None) -> int:
    """Raise `FormsDisagreeError` at the first checked frame tick where `get_signal`, called as
    the per-tick engine calls it there, does not return the row the kernel reads at that tick;
    returns the number of ticks compared. Ticks inside a data gap are skipped (the per-tick
    engine does not call get_signal there). "full": every tick at which the kernel reads a row;
    "sample": the first signal tick, random other signal ticks and random ticks without one."""
    from farm.context import RunContext, use
    from farm.engine.signals import dto_to_dict

    where = where or plan(market, table, name=name, params=params, mode=mode)
    if not len(where.ticks):
        return 0
    full = _Cols.of(table, index=True)
    if client is None:  # the run's client when given (its candles), else one of this check's own
        client = ExchangeClient(registry.exchanges.get(exchange_name, source="lookahead"))
    ctx = RunContext(symbol=symbol, strategy_name=name, exchange_name=exchange_name, frame_name=frame_name,
                     backtest=True, exchange=client)
    compared = 0
    with use(ctx):
        for n, (t, j) in enumerate(zip(where.ticks.tolist(), where.bars.tolist(), strict=True)):
            if on_progress is not None and n % _PROGRESS_EVERY == 0:
                on_progress("both forms", n, len(where.ticks))
            ctx.when = t
            try:
                client.average_price(symbol, t)
            except NoCandlesError:
                continue  # a gap: the per-tick engine asks nothing here
            compared += 1
            try:
                raw = get_signal(symbol, ms_to_datetime(t), **params)
                got = dto_to_dict(raw) if raw else None
            except Exception as exc:  # noqa: BLE001 - the per-tick engine would publish it: no signal
                got, failed = None, f"{type(exc).__name__}: {exc}"
            else:
                failed = None
            problem = _disagreement(full, table, j, got)
            if problem is not None:
                columns, detail = problem
                if failed is not None:
                    detail += f" (get_signal raised {failed})"
                raise FormsDisagreeError(
                    f"strategy {name}: get_signal and signals disagree at tick {iso_ms(t)} (the row of bar {j}, "
                    f"open {iso_ms(int(table.timestamp[j]))}, the newest closed bar then): {detail}. Both forms "
                    f"must give the same signal (docs/lookahead.md; config lookahead_check='off' skips this check)",
                    strategy_name=name, tick=t, bar=j, columns=columns,
                )
    return compared


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan  # not a number: differs from any row value but NaN


def _disagreement(full: _Cols, table: SignalTable, j: int, dto: dict[str, Any] | None
                  ) -> tuple[list[str], str] | None:
    """Which columns of get_signal's answer differ from row j, and how; None if they agree.
    The note is compared only when `signals` returns one (notes are optional per form)."""
    from farm.engine.notes import normalize_note

    sides = {"long": 1, "short": -1}
    side = 0 if dto is None else sides.get(dto.get("position"), 2)  # type: ignore[arg-type]
    position, values = full.row(j)
    word = {1: "long", -1: "short", 0: "none"}
    if side != position:
        got = word.get(side, repr(None if dto is None else dto.get("position")))
        return ["position"], f"get_signal says {got}, the signals row says {word[position]}"
    if position == 0:
        return None
    assert dto is not None
    columns, parts = [], []
    for name, want in zip(VALUE_COLUMNS, values, strict=True):
        got = _number(dto.get(name))
        if _differ(np.array([got]), np.array([want]))[0]:
            columns.append(name)
            parts.append(f"{name} {got!r} from get_signal, {want!r} from signals")
    if table.note is not None:
        got_note, want_note = normalize_note(dto.get("note")), normalize_note(table.note_at(j))
        if got_note != want_note:
            columns.append("note")
            parts.append(f"note {got_note!r} from get_signal, {want_note!r} from signals")
    return (columns, "; ".join(parts)) if columns else None


# ---- the default check before a kernel run ------------------------------------------------------


_verified: OrderedDict[tuple[Any, ...], tuple[Any, ...]] = OrderedDict()
"""Checks passed in this process: (strategy variant, data, mode) → what keeps the key's ids
meaningful. The functions are held (small, and registered anyway); the candle columns and the
frame's ticks only weakly, so a long-lived worker does not keep every job's candles alive: when
one is freed its entries go (`_dead`), before its id could be reused. A cache of facts about
immutable inputs, not run state; guarded by `_lock` (background runs are threads)."""
_dead: list[tuple[Any, ...]] = []
"""Keys whose arrays were freed; a weakref callback only appends (it may run inside a dict
operation), `verify` removes them under the lock."""
_lock = threading.Lock()


def _forget() -> None:
    _verified.clear()
    _dead.clear()


registry.on_clear(_forget)


def verify(market: Market, table: SignalTable, fn: Callable[..., Any], params: Mapping[str, Any], *,
           name: str, get_signal: Callable[..., Any] | None = None,
           run: tuple[str, str, str] | None = None, sweep: bool = False,
           client: ExchangeClient | None = None) -> None:
    """The check every kernel run makes (config `lookahead_check`): look-ahead, then, given
    `get_signal` and `run` = (symbol, exchange_name, frame_name), both forms agree. Once per
    strategy variant and data in a process: a repeated run on the same candles skips it.

    `sweep=True` (`run_sweep`: many variants of one function on one market, each costing about
    one `signals` call): the "sample" check runs for the first variant of a function on this
    data, and each further variant only gets the cut at its first signal bar a backtest acts on
    (one short prefix, every row before it compared): a full sample per variant would cost
    several times the variant's backtest."""
    from farm.config import get_config

    cfg = get_config()
    mode = cfg.lookahead_check
    if mode == "off" or not len(table):
        return
    a = market.arrays
    data = (a.timestamp, a.open, a.high, a.low, a.close, a.volume, market.frames)
    key = (mode, name, id(fn), id(get_signal), json.dumps(dict(params), sort_keys=True, default=repr),
           cfg.model_dump_json(), tuple(map(id, data)), market.signal_lo, market.signal_hi,
           len(market.frames), market.frame_step, run)
    base = (key[:4], *key[5:]) if sweep else None  # the function on this data, any params
    with _lock:
        while _dead:
            _verified.pop(_dead.pop(), None)
        if key in _verified:
            _verified.move_to_end(key)
            return
        light = mode == "sample" and base in _verified
    where = plan(market, table, name=name, params=params, mode="first" if light else mode)
    check_lookahead(market, table, fn, params, name=name, where=where)
    if get_signal is not None and run is not None:
        symbol, exchange_name, frame_name = run
        check_agreement(market, table, get_signal, params, name=name, symbol=symbol, exchange_name=exchange_name,
                        frame_name=frame_name, where=where, client=client)
    keys = [key] if base is None or light else [key, base]
    with _lock:
        for k in keys:
            refs = tuple(weakref.ref(x, lambda _, k=k: _dead.append(k)) for x in data)
            _verified[k] = (fn, get_signal, refs)
        while len(_verified) > _MEMO_SIZE:
            _verified.popitem(last=False)


# ---- on demand: farm check -------------------------------------------------------------------


def check_strategy(strategy_name: str, *, exchange_name: str, frame_name: str, symbol: str,
                   exhaustive: bool = False, on_progress: Progress | None = None) -> CheckReport:
    """Check a registered vectorised strategy on one symbol and frame, whatever config
    `lookahead_check` says: no look-ahead, and both forms agree if it has `get_signal` too.

    `exhaustive=False` is the default check's sample; `exhaustive=True` recomputes `signals` at
    every bar the kernel can act on and every signal bar and calls `get_signal` at every frame
    tick where the kernel reads a row: every row a backtest of this frame can act on is then
    proven to depend on its past only and to be what `get_signal` returns. Raises
    `LookAheadError` or `FormsDisagreeError` naming the first offending bar or tick; returns
    what was covered. `on_progress(phase, done, total)` follows a long check."""
    from farm.kernel.market import load_market
    from farm.run.backtest import validate_names

    started = time.perf_counter()
    schema = validate_names(strategy_name, exchange_name, frame_name)
    name = schema.strategy_name
    if schema.signals is None:
        raise FarmError(f"strategy {name} has no vectorised form (signals=): nothing to check")
    mode = "full" if exhaustive else "sample"
    market = load_market(symbol, exchange_name, frame_name)
    table = compute_table(schema.signals, market.signal_candles, schema.params, f"strategy {name}: signals")
    where = plan(market, table, name=name, params=schema.params, mode=mode)
    cuts, rows = check_lookahead(market, table, schema.signals, schema.params, name=name, where=where,
                                 on_progress=on_progress)
    ticks = 0
    if schema.get_signal is not None:
        ticks = check_agreement(market, table, schema.get_signal, schema.params, name=name, symbol=symbol,
                                exchange_name=exchange_name, frame_name=frame_name, where=where,
                                on_progress=on_progress)
    count = len(np.unique(readable(market)[1])) if where.readable is None else where.readable
    return CheckReport(
        strategy_name=name, mode="exhaustive" if exhaustive else "sample", bars=len(table), readable=count,
        signal_bars=int(np.count_nonzero(table.position)), cuts=cuts, rows=rows, ticks=ticks,
        seconds=time.perf_counter() - started,
    )


__all__ = [
    "MODES",
    "CheckReport",
    "FormsDisagreeError",
    "LookAheadError",
    "check_agreement",
    "check_lookahead",
    "check_strategy",
    "readable",
    "verify",
]
