"""Risk profiles (SPEC §8 with D4, D6), the ready-made rules and the Risk report (§11.8).

Market: flat 1m candles at 100 (volume 100) around T0, so the current price (VWAP) is 100 and
every number below is computed by hand from that.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

import farm
from farm import registry
from farm.context import RunContext, use
from farm.engine.risk import RiskRejection
from farm.engine.strategy import StrategyRuntime
from farm.run.state import RunState, current_run
from farm.stats import RiskEntry, risk_statistics
from tests.conftest import MIN, T0, flat_candles, minutes, register_table, run, set_candle

LONG = {"position": "long", "price_take_profit": 101, "price_stop_loss": 99, "minute_estimated_time": 10}
SCHED_LONG = {"position": "long", "price_open": 99, "price_take_profit": 101, "price_stop_loss": 97,
              "minute_estimated_time": 10}
HI = {"high": 101.5}


def market(edits: dict[int, dict[str, float]] | None = None, count: int = 300):
    df = flat_candles(T0 - 30 * MIN, 30 + count)
    for minute, values in (edits or {}).items():
        set_candle(df, T0 + minute * MIN, **values)
    return df


def signals_at(plan: dict[int, dict[str, Any]]):
    """get_signal returning plan[minute after T0] (a fresh copy), else None."""

    def get_signal(symbol: str, when: datetime) -> dict[str, Any] | None:
        signal = plan.get((int(when.timestamp() * 1000) - T0) // MIN)
        return dict(signal) if signal else None

    return get_signal


def setup(risk_validations: list[Any], plan: dict[int, dict[str, Any]], *, edits=None, frame_minutes: int = 0,
          risk_callbacks: Any = None, **strategy: Any) -> None:
    register_table(market(edits))
    farm.add_frame("f", "1m", T0, T0 + frame_minutes * MIN)
    farm.add_risk("r", risk_validations, callbacks=risk_callbacks)
    farm.add_strategy("s", "1m", signals_at(plan), risk_name="r", **strategy)


def reject(message: str = "no"):
    def validate(payload: Any) -> None:
        raise RiskRejection(message)

    return validate


def listen() -> tuple[list[Any], list[BaseException], list[BaseException]]:
    rejections: list[Any] = []
    validation_errors: list[BaseException] = []
    errors: list[BaseException] = []
    farm.listen_risk(rejections.append)
    farm.listen_validation(validation_errors.append)
    farm.listen_error(errors.append)
    return rejections, validation_errors, errors


# ---- the check (§8.2) ---------------------------------------------------------------------


def test_a_rejected_signal_never_opens_and_the_rejection_is_published_and_recorded(reference_config):
    setup([{"validate": reject("portfolio is full"), "note": "portfolio full"}], {0: LONG}, frame_minutes=5)
    rejections, validation_errors, errors = listen()
    assert run() == []
    (event,) = rejections
    assert (event.symbol, event.strategy_name, event.exchange_name) == ("A", "s", "x")
    assert event.pending_signal == LONG  # the DTO as returned, no entry price yet
    assert event.current_price == 100
    assert event.active_position_count == 0
    assert event.comment == "portfolio full"
    assert event.timestamp == T0  # the tick, so reruns render identical reports
    assert [str(e) for e in validation_errors] == ["portfolio is full"]
    assert errors == []
    stats = farm.Risk.get_data("A", "s")
    assert stats.total_rejections == 1 and stats.by_symbol == {"A": 1} and stats.by_strategy == {"s": 1}


def test_rejections_are_recorded_without_any_listener(reference_config):
    setup([reject()], {0: LONG, 1: LONG, 2: LONG}, frame_minutes=5)
    run()
    stats = farm.Risk.get_data("A", "s")
    assert stats.total_rejections == 3
    assert [minutes([e.timestamp])[0] for e in stats.event_list] == [2, 1, 0]  # newest first


def test_comment_is_the_note_or_na(reference_config):
    setup([reject()], {0: LONG}, frame_minutes=0)
    farm.add_risk("q", [{"validate": reject(), "note": ""}])
    farm.add_risk("p", [{"validate": reject()}])
    farm.add_strategy("t", "1m", signals_at({0: LONG}), risk_list=["q", "p"])
    farm.add_risk("o", [{"validate": reject(), "note": 42}])
    farm.add_strategy("u", "1m", signals_at({0: LONG}), risk_name="o")
    rejections, _, _ = listen()
    run()
    run(strategy="t")
    run(strategy="u")
    assert [e.comment for e in rejections] == ["N/A", "N/A", "N/A", "42"]


def test_validations_run_in_order_and_stop_at_the_first_failure(reference_config):
    calls: list[str] = []

    def check(name: str, fail: bool = False):
        def validate(payload: Any) -> None:
            calls.append(name)
            if fail:
                raise RiskRejection(name)

        return validate

    setup([check("first"), {"validate": check("second", fail=True), "note": "second"}, check("third")], {0: LONG})
    rejections, validation_errors, _ = listen()
    run()
    assert calls == ["first", "second"]
    assert [e.comment for e in rejections] == ["second"]
    assert [str(e) for e in validation_errors] == ["second"]


def test_no_validations_always_allow(reference_config):
    setup([], {0: LONG}, edits={4: HI})
    (r,) = run()
    assert r.close_reason == "take_profit"
    assert farm.Risk.get_data("A", "s").total_rejections == 0


@pytest.mark.parametrize(("answer", "opened"), [(None, True), (True, True), (False, False)])
def test_return_values_none_and_true_allow_false_rejects(reference_config, answer, opened):
    setup([{"validate": lambda payload: answer, "note": "answer"}], {0: LONG}, edits={4: HI})
    rejections, validation_errors, _ = listen()
    assert len(run()) == (1 if opened else 0)
    assert [e.comment for e in rejections] == ([] if opened else ["answer"])
    if not opened:
        assert isinstance(validation_errors[0], RiskRejection)
        assert "risk r: validation[0] returned False" in str(validation_errors[0])


@pytest.mark.parametrize("answer", [0, 1, "too many positions", [], object()])
def test_any_other_return_value_rejects_as_a_broken_validation(reference_config, answer):
    setup([{"validate": lambda payload: answer, "note": "odd"}], {0: LONG}, edits={4: HI})
    rejections, validation_errors, errors = listen()
    assert run() == []
    assert [e.comment for e in rejections] == ["odd"]
    assert isinstance(validation_errors[0], TypeError)
    assert "returned" in str(validation_errors[0]) and "None/True to allow" in str(validation_errors[0])
    assert errors == []


def test_a_broken_validation_rejects_every_signal_and_never_stops_the_run(reference_config):
    def broken(payload: Any) -> None:
        payload.active_position_count + "1"  # a bug: TypeError

    setup([{"validate": broken, "note": "limits"}], {0: LONG, 3: LONG, 7: LONG}, frame_minutes=9)
    rejections, validation_errors, errors = listen()
    progress: list[float] = []
    farm.listen_backtest_progress(lambda e: progress.append(e.progress))
    assert run() == []
    assert len(rejections) == 3 and {e.comment for e in rejections} == {"limits"}
    assert [type(e) for e in validation_errors] == [TypeError] * 3
    assert errors == []
    assert progress[-1] == 1.0  # the run went to its end


def test_async_validations_are_awaited(reference_config):
    async def slow_reject(payload: Any) -> None:
        await asyncio.sleep(0)
        raise RiskRejection("async no")

    async def slow_allow(payload: Any) -> None:
        await asyncio.sleep(0)

    setup([slow_allow, {"validate": slow_reject, "note": "async"}], {0: LONG})
    rejections, validation_errors, _ = listen()
    run()
    assert [e.comment for e in rejections] == ["async"]
    assert [str(e) for e in validation_errors] == ["async no"]


def test_async_validation_inside_a_running_event_loop(reference_config):
    async def allow(payload: Any) -> bool:
        return True

    async def deny(payload: Any) -> bool:
        return False

    setup([allow, {"validate": deny, "note": "deny"}], {0: LONG})
    rejections, _, _ = listen()

    async def main() -> list[Any]:
        return run()

    assert asyncio.run(main()) == []
    assert [e.comment for e in rejections] == ["deny"]


def test_a_validation_cannot_change_the_signal_it_checks(reference_config):
    def meddle(payload: Any) -> None:
        payload.pending_signal["price_take_profit"] = 150

    setup([meddle], {0: LONG}, edits={4: HI})
    (r,) = run()
    assert r.signal.price_take_profit == 101 and r.close_reason == "take_profit"


# ---- callbacks and D4 --------------------------------------------------------------------------


def test_on_allowed_fires_once_for_an_immediate_signal(reference_config):
    seen: list[tuple[str, str]] = []
    setup([lambda payload: None], {0: LONG}, edits={4: HI},
          risk_callbacks={"on_allowed": lambda symbol, p: seen.append((symbol, type(p.pending_signal).__name__))})
    (r,) = run()
    assert r.close_reason == "take_profit"
    assert seen == [("A", "dict")]  # D4: one check per decision


def test_on_allowed_fires_twice_for_a_scheduled_signal(reference_config):
    seen: list[tuple[str, float, int]] = []

    def on_allowed(symbol: str, payload: Any) -> None:
        seen.append((type(payload.pending_signal).__name__, payload.current_price, minutes([payload.timestamp])[0]))

    setup([lambda payload: None], {0: SCHED_LONG}, edits={3: {"low": 98.9}, 4: HI},
          risk_callbacks={"on_allowed": on_allowed})
    (r,) = run()
    assert r.close_reason == "take_profit"
    # creation (the DTO, at the market price) and activation (the row, at its entry price)
    assert seen == [("dict", 100.0, 0), ("SignalRow", 99.0, 3)]


def test_a_rejection_at_scheduled_activation_drops_the_signal(reference_config):
    def only_at_creation(payload: Any) -> None:
        if isinstance(payload.pending_signal, farm.SignalRow):
            raise RiskRejection("full by now")

    rejected: list[str] = []
    setup([{"validate": only_at_creation, "note": "full"}], {0: SCHED_LONG}, edits={3: {"low": 98.9}, 4: HI},
          risk_callbacks={"on_rejected": lambda symbol, p: rejected.append(symbol)})
    rejections, _, errors = listen()
    assert run() == []
    assert rejected == ["A"]
    (event,) = rejections
    assert event.current_price == 99 and minutes([event.timestamp]) == [3]
    assert isinstance(event.pending_signal, farm.SignalRow)
    # Kept from the reference: the orchestrator reports the dropped activation as an error.
    assert "risk rejected the activation" in str(errors[0])


def test_on_rejected_receives_the_symbol_and_the_payload(reference_config):
    seen: list[Any] = []
    setup([reject()], {0: LONG}, risk_callbacks={"on_rejected": lambda symbol, p: seen.append((symbol, p))})
    run()
    ((symbol, payload),) = seen
    assert symbol == "A"
    assert (payload.strategy_name, payload.exchange_name, payload.current_price, payload.timestamp) == (
        "s", "x", 100, T0)
    assert payload.active_position_count == 0 and payload.active_positions == []


def test_a_failing_callback_is_reported_and_does_not_change_the_decision(reference_config):
    def boom(symbol: str, payload: Any) -> None:
        raise RuntimeError("callback bug")

    setup([lambda payload: None], {0: LONG}, edits={4: HI}, risk_callbacks={"on_allowed": boom})
    _, _, errors = listen()
    (r,) = run()
    assert r.close_reason == "take_profit"
    assert [str(e) for e in errors] == ["callback bug"]


# ---- merged risks (§8.4) ------------------------------------------------------------------------


def test_merged_risks_every_member_checks_and_all_must_allow(reference_config):
    calls: list[str] = []

    def member(name: str, fail: bool):
        def validate(payload: Any) -> None:
            calls.append(name)
            if fail:
                raise RiskRejection(name)

        return {"validate": validate, "note": f"{name} says no"}

    register_table(market({4: HI}))
    farm.add_frame("f", "1m", T0, T0)
    farm.add_risk("a", [member("a", True)])
    farm.add_risk("b", [member("b", False)])
    farm.add_risk("c", [member("c", True)])
    farm.add_strategy("s", "1m", signals_at({0: LONG}), risk_name="a", risk_list=["b", "c"])
    rejections, _, _ = listen()
    assert run() == []
    assert calls == ["a", "b", "c"]  # riskName first, no short-circuit after "a" rejected
    assert [e.comment for e in rejections] == ["a says no", "c says no"]
    assert farm.Risk.get_data("A", "s").total_rejections == 2


def test_merged_risks_add_to_and_remove_from_every_ledger(reference_config):
    held: list[dict[str, int]] = []

    def snapshot(*args: Any) -> None:
        # Positions still open (a backtest keeps a closed one, stamped with its close time).
        ledgers = current_run()  # the callbacks run inside the backtest's run
        assert ledgers is not None
        held.append({n: sum(p.close_timestamp is None for p in ledgers.risk_runtime(n).positions.values())
                     for n in ("a", "b")})

    register_table(market({4: HI}))
    farm.add_frame("f", "1m", T0, T0 + 5 * MIN)
    farm.add_risk("a", [])
    farm.add_risk("b", [])
    farm.add_strategy("s", "1m", signals_at({0: LONG}), risk_list=["a", "b"],
                      callbacks={"on_open": snapshot, "on_tick": snapshot})
    (r,) = run()
    assert r.close_reason == "take_profit"
    assert held[0] == {"a": 1, "b": 1}  # on_open: the position is in both ledgers
    assert held[-1] == {"a": 0, "b": 0}  # after the close


# ---- the ledger (§8.3) --------------------------------------------------------------------------


def test_payload_lists_the_active_positions(reference_config):
    farm.add_risk("r", [])
    seen: list[Any] = []
    rt = RunState().risk_runtime("r")
    rt.schema = rt.schema.model_copy(update={"validations": [seen.append]})
    rt.add("a", "BTC", T0)
    rt.add("b", "ETH", T0 + MIN)
    rt.add("a", "BTC", T0 + 2 * MIN)  # the same strategy and symbol again overwrites
    assert rt.check(symbol="SOL", pending_signal=LONG, strategy_name="c", exchange_name="x", current_price=1.0,
                    timestamp=T0 + 2 * MIN, backtest=True)
    (payload,) = seen
    assert payload.active_position_count == 2
    assert [(p.strategy_name, p.symbol, p.open_timestamp) for p in payload.active_positions] == [
        ("a", "BTC", T0 + 2 * MIN), ("b", "ETH", T0 + MIN)]
    assert isinstance(payload.active_positions[0], farm.ActivePosition)
    assert isinstance(payload, farm.RiskPayload)
    rt.remove("a", "BTC")
    rt.remove("a", "BTC")  # removing twice is harmless
    assert list(rt.positions) == ["b:ETH"]


def test_a_backtest_position_counts_only_between_its_open_and_close_times(reference_config):
    """In backtests a closed position keeps its close time, so a check sees exactly the positions
    open at the checked time: the ledger is one timeline for strategies stepped together."""
    farm.add_risk("r", [])
    seen: list[Any] = []
    rt = RunState().risk_runtime("r")
    rt.schema = rt.schema.model_copy(update={"validations": [seen.append]})
    rt.add("a", "BTC", T0)
    rt.remove("a", "BTC", at=T0 + 10 * MIN)
    for minute in (0, 5, 10, 15):
        rt.check(symbol="ETH", pending_signal=LONG, strategy_name="b", exchange_name="x", current_price=1.0,
                 timestamp=T0 + minute * MIN, backtest=True)
    assert [p.active_position_count for p in seen] == [1, 1, 0, 0]


def test_a_closed_position_leaves_the_ledger(reference_config):
    """One strategy, max 1 position: the second signal is allowed because the first closed."""
    setup([farm.max_concurrent_positions(1)], {0: LONG, 10: LONG}, edits={4: HI, 14: HI}, frame_minutes=20)
    results = run()
    assert [(r.close_reason, minutes([r.signal.pending_at, r.close_timestamp])) for r in results] == [
        ("take_profit", [0, 4]), ("take_profit", [10, 14])]
    assert farm.Risk.get_data("A", "s").total_rejections == 0


def run_together(pairs: list[tuple[str, str]], until_minute: int) -> list[tuple[int, str, str, str]]:
    """Step several strategies minute by minute in one run, as a risk-group runner does: one
    `risk_for` per strategy from one run, so strategies on one risk share its ledger.
    Returns (minute, strategy, symbol, action) of every non-idle tick."""
    state = RunState()
    client = state.exchange("x")
    schemas = {name: registry.get_strategy(name) for name, _ in pairs}
    runtimes = []
    for name, symbol in pairs:
        ctx = RunContext(symbol=symbol, strategy_name=name, exchange_name="x", frame_name="f", backtest=True,
                         exchange=client)
        runtimes.append(StrategyRuntime(schemas[name], ctx, client, state.risk_for(schemas[name].risk_names)))
    out = []
    for minute in range(until_minute + 1):
        for rt in runtimes:
            with use(rt.ctx):
                result = rt.tick(T0 + minute * MIN)
            if result is not None and result.action not in ("idle", "active"):
                out.append((minute, rt.name, rt.symbol, result.action))
    return out


def test_two_strategies_on_one_risk_share_its_ledger_across_symbols(reference_config):
    """max 1 position: b (on B) is rejected while a (on A) holds its position; a's signal
    expires at minute 10 (lifetime 10 min), and b's next signal, at minute 10, opens."""
    register_table(market())
    farm.add_risk("r", [farm.max_concurrent_positions(1)])
    farm.add_strategy("a", "1m", signals_at({0: LONG}), risk_name="r")
    farm.add_strategy("b", "1m", lambda symbol, when: dict(LONG), risk_name="r")
    events = run_together([("a", "A"), ("b", "B")], until_minute=10)
    assert events == [(0, "a", "A", "opened"), (10, "a", "A", "closed"), (10, "b", "B", "opened")]
    stats = farm.Risk.get_data("B", "b")
    assert stats.total_rejections == 10  # minutes 0..9
    assert {e.active_position_count for e in stats.event_list} == {1}
    assert {e.comment for e in stats.event_list} == {"max 1 concurrent position"}
    assert farm.Risk.get_data("A", "a").total_rejections == 0


def test_separate_backtests_are_separate_runs(reference_config):
    """D6: each Backtest.run starts with a fresh ledger; nothing carries over between runs."""
    register_table(market({4: HI}))
    farm.add_frame("f", "1m", T0, T0)
    farm.add_risk("r", [farm.max_concurrent_positions(1)])
    farm.add_strategy("a", "1m", signals_at({0: {**LONG, "minute_estimated_time": 60 * 24}}), risk_name="r")
    farm.add_strategy("b", "1m", signals_at({0: LONG}), risk_name="r")
    assert len(run(strategy="a")) == 1
    assert len(run(strategy="b")) == 1
    assert farm.Risk.get_data("A", "b").total_rejections == 0


# ---- ready-made rules ---------------------------------------------------------------------------


def test_max_positions_per_symbol_counts_only_that_symbol(reference_config):
    register_table(market())
    farm.add_risk("r", [farm.max_positions_per_symbol(1)])
    farm.add_strategy("a", "1m", signals_at({0: LONG}), risk_name="r")
    farm.add_strategy("b", "1m", signals_at({1: LONG}), risk_name="r")
    farm.add_strategy("c", "1m", signals_at({2: LONG}), risk_name="r")
    events = run_together([("a", "A"), ("b", "A"), ("c", "B")], until_minute=2)
    assert events == [(0, "a", "A", "opened"), (2, "c", "B", "opened")]
    (rejection,) = farm.Risk.get_data("A", "b").event_list
    assert rejection.comment == "max 1 position per symbol" and rejection.active_position_count == 1


def test_max_concurrent_positions_allows_up_to_n(reference_config):
    register_table(market())
    farm.add_risk("r", [farm.max_concurrent_positions(2)])
    for name in ("a", "b", "c"):
        farm.add_strategy(name, "1m", signals_at({0: LONG}), risk_name="r")
    events = run_together([("a", "A"), ("b", "B"), ("c", "C")], until_minute=0)
    assert events == [(0, "a", "A", "opened"), (0, "b", "B", "opened")]
    (rejection,) = farm.Risk.get_data("C", "c").event_list
    assert rejection.comment == "max 2 concurrent positions" and rejection.active_position_count == 2


@pytest.mark.parametrize(
    ("signal", "allowed"),
    [
        # market entry 100 (no price_open): reward |102 − 100| = 2, risk |100 − 99| = 1 → 2
        ({**LONG, "price_take_profit": 102}, True),
        # reward 1, risk 1 → 1 < 2
        (LONG, False),
        # short: reward |100 − 97| = 3, risk |101.5 − 100| = 1.5 → 2
        ({"position": "short", "price_take_profit": 97, "price_stop_loss": 101.5, "minute_estimated_time": 10},
         True),
        # short: reward 2.9, risk 1.5 → 1.93 < 2
        ({"position": "short", "price_take_profit": 97.1, "price_stop_loss": 101.5, "minute_estimated_time": 10},
         False),
    ],
)
def test_min_reward_risk_on_market_signals(reference_config, signal, allowed):
    setup([farm.min_reward_risk(2)], {0: signal}, frame_minutes=0)
    rejections, validation_errors, _ = listen()
    run()
    assert [e.comment for e in rejections] == ([] if allowed else ["reward/risk at least 2"])
    assert farm.Risk.get_data("A", "s").total_rejections == (0 if allowed else 1)
    if not allowed:
        assert str(validation_errors[0]).startswith("reward/risk ")


def test_min_reward_risk_uses_the_entry_price_of_a_scheduled_signal(reference_config):
    """Entry 99 (not the market's 100): reward |101 − 99| = 2, risk |99 − 97| = 2 → 1, so a
    floor of 1 allows it at creation (DTO) and at activation (row), a floor of 1.5 does not."""
    seen: list[str] = []
    setup([farm.min_reward_risk(1)], {0: SCHED_LONG}, edits={3: {"low": 98.9}, 4: HI},
          risk_callbacks={"on_allowed": lambda symbol, p: seen.append(type(p.pending_signal).__name__)})
    (r,) = run()
    assert r.close_reason == "take_profit" and seen == ["dict", "SignalRow"]

    farm.clear_registry()
    setup([farm.min_reward_risk(1.5)], {0: SCHED_LONG}, edits={3: {"low": 98.9}, 4: HI})
    assert run() == []
    assert [e.comment for e in farm.Risk.get_data("A", "s").event_list] == ["reward/risk at least 1.5"]


@pytest.mark.parametrize(("take_profit", "allowed"), [(101, False), (101.49, False), (101.5, True), (102, True)])
def test_min_take_profit_distance(reference_config, take_profit, allowed):
    """Entry 100: the take-profit must be at least 1.5 % = 1.5 away."""
    setup([farm.min_take_profit_distance(1.5)], {0: {**LONG, "price_take_profit": take_profit}})
    rejections, _, _ = listen()
    run()
    assert [e.comment for e in rejections] == ([] if allowed else ["take profit at least 1.5% from entry"])


def test_min_take_profit_distance_at_activation_measures_from_the_entry(reference_config):
    """Row entry 99, TP 101: 2/99 = 2.02 % ≥ 2 % (from the market's 100 it would be 1 %)."""
    setup([farm.min_take_profit_distance(2)], {0: SCHED_LONG}, edits={3: {"low": 98.9}, 4: HI})
    (r,) = run()
    assert r.close_reason == "take_profit"


def test_a_rule_lets_a_malformed_signal_through_to_signal_validation(reference_config):
    setup([farm.min_reward_risk(2), farm.min_take_profit_distance(1)],
          {0: {**LONG, "price_take_profit": "102"}})
    rejections, _, errors = listen()
    assert run() == []
    assert rejections == []
    assert "priceTakeProfit" in str(errors[0])  # signal validation explains the real problem


def test_rules_read_signal_rows_and_dicts_alike():
    from farm.engine.risk import RiskPayload

    row = farm.SignalRow(id="x", position="long", price_open=100, price_take_profit=101, price_stop_loss=99,
                         minute_estimated_time=10, symbol="A", strategy_name="s", exchange_name="x",
                         scheduled_at=T0, pending_at=T0)
    for signal in (row, dict(LONG), {**LONG, "price_open": 100}):
        payload = RiskPayload(symbol="A", pending_signal=signal, strategy_name="s", exchange_name="x",
                              current_price=100, timestamp=T0, active_position_count=0, active_positions=[])
        farm.min_reward_risk(1)["validate"](payload)
        with pytest.raises(RiskRejection, match="reward/risk 1 below 1.01"):
            farm.min_reward_risk(1.01)["validate"](payload)
        with pytest.raises(RiskRejection, match="take profit 1% from entry, below 1.5%"):
            farm.min_take_profit_distance(1.5)["validate"](payload)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: farm.max_concurrent_positions(-1), "max_concurrent_positions: expected a whole number >= 0"),
        (lambda: farm.max_concurrent_positions(1.5), "expected a whole number"),
        (lambda: farm.max_positions_per_symbol(True), "expected a whole number"),
        (lambda: farm.min_reward_risk(0), "min_reward_risk: expected a number > 0"),
        (lambda: farm.min_reward_risk(float("nan")), "expected a number > 0"),
        (lambda: farm.min_take_profit_distance(-0.5), "min_take_profit_distance: expected a number >= 0"),
    ],
)
def test_rule_arguments_are_checked(make, message):
    with pytest.raises(farm.SchemaError, match=message):
        make()


def test_rule_notes_read_well():
    assert [r["note"] for r in (farm.max_concurrent_positions(3), farm.max_positions_per_symbol(2),
                                farm.min_reward_risk(1.5), farm.min_take_profit_distance(0.5))] == [
        "max 3 concurrent positions", "max 2 positions per symbol", "reward/risk at least 1.5",
        "take profit at least 0.5% from entry"]


# ---- the Risk report (§11.8) --------------------------------------------------------------------

HEADER = ("| Symbol | Strategy | Signal ID | Position | Exchange | Open Price | Take Profit | Stop Loss | "
          "Current Price | Active Positions | Reason | Timestamp |")


def test_report_of_rejections(reference_config):
    plan = {0: LONG, 5: {**SCHED_LONG, "id": "my-id"}}
    setup([{"validate": reject(), "note": "portfolio full"}], plan, frame_minutes=5)
    assert run() == []
    assert farm.Risk.get_report("A", "s") == "\n".join([
        "# Risk Rejection Report: A:s",
        "",
        HEADER,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        "| A | s | my-id | LONG | x | 99.00000000 | 101.00000000 | 97.00000000 | 100.00000000 | 0 | "
        "portfolio full | 2024-01-01T00:05:00.000Z |",
        "| A | s | N/A | LONG | x | N/A | 101.00000000 | 99.00000000 | 100.00000000 | 0 | "
        "portfolio full | 2024-01-01T00:00:00.000Z |",
        "",
        "**Total rejections:** 2",
        "",
        "## Rejections by Symbol",
        "",
        "- A: 2",
        "",
        "## Rejections by Strategy",
        "",
        "- s: 2",
    ])


def test_report_with_the_note_column(reference_config):
    farm.set_config(unsafe=True, report_show_signal_note=True)
    setup([reject()], {0: {**LONG, "note": "**Breakout** on\nvolume"}})
    run()
    lines = farm.Risk.get_report("A", "s").splitlines()
    assert lines[2] == HEADER.replace("| Position | Exchange |", "| Position | Note | Exchange |")
    assert lines[4].startswith("| A | s | N/A | LONG | Breakout on volume | x | N/A | ")


def test_empty_report_and_unknown_names(reference_config):
    setup([], {})
    assert farm.Risk.get_report("A", "s") == "# Risk Rejection Report: A:s\n\nNo risk rejections recorded yet."
    with pytest.raises(farm.NotFoundError, match="strategy nope not found"):
        farm.Risk.get_data("A", "nope")


def test_report_rows_are_capped_but_counts_are_not(reference_config):
    farm.set_config(unsafe=True, report_max_rows=1)
    setup([reject()], {0: LONG, 1: LONG, 2: LONG}, frame_minutes=2)
    run()
    report = farm.Risk.get_report("A", "s")
    assert report.count("| A | s | N/A |") == 1
    assert "*Showing the 1 most recent of 3 rejections; statistics cover all of them.*" in report
    assert "**Total rejections:** 3" in report


def test_dump_writes_the_report(reference_config, tmp_path):
    setup([reject()], {0: LONG})
    run()
    path = farm.Risk.dump("A", "s")
    assert path == tmp_path / "dump" / "risk" / "A_s.md"
    assert path.read_text() == farm.Risk.get_report("A", "s")
    other = farm.Risk.dump("A", "s", tmp_path / "elsewhere")
    assert other == tmp_path / "elsewhere" / "A_s.md"


def test_statistics_count_by_symbol_and_strategy_newest_first():
    def entry(symbol: str, strategy: str, minute: int) -> RiskEntry:
        return RiskEntry(timestamp=T0 + minute * MIN, symbol=symbol, strategy_name=strategy, exchange_name="x",
                         current_price=100, active_position_count=1, comment="N/A")

    stats = risk_statistics([entry("A", "s", 0), entry("B", "t", 1), entry("A", "t", 2)])
    assert stats.total_rejections == 3
    assert [minutes([e.timestamp])[0] for e in stats.event_list] == [2, 1, 0]
    assert list(stats.by_symbol.items()) == [("A", 2), ("B", 1)]
    assert list(stats.by_strategy.items()) == [("t", 2), ("s", 1)]
    assert risk_statistics([]).total_rejections == 0
