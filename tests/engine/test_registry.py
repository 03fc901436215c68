"""Registries, schema checks and strategy variants (SPEC §2, API.md "Strategy variants")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

import farm
from farm import registry
from farm.schemas import (
    ExchangeSchema,
    FrameSchema,
    OptimizerSchema,
    RiskSchema,
    SizingSchema,
    StrategySchema,
    WalkerSchema,
)
from tests.conftest import MIN, T0, flat_candles, register_table, run


def no_signal(symbol, when, **params):
    return None


def candles_fn(symbol, interval, since, limit):
    return []


def prompt_fn(symbol, messages):
    return "prompt"


REGISTRARS = {
    "exchange": (
        lambda name: farm.add_exchange(name, candles_fn),
        farm.list_exchanges,
        ExchangeSchema,
        "exchange_name",
    ),
    "frame": (
        lambda name: farm.add_frame(name, "1m", T0, T0 + 10 * MIN),
        farm.list_frames,
        FrameSchema,
        "frame_name",
    ),
    "strategy": (
        lambda name: farm.add_strategy(name, "1m", no_signal),
        farm.list_strategies,
        StrategySchema,
        "strategy_name",
    ),
    "walker": (
        lambda name: farm.add_walker(name, "x", "f", ["s"]),
        farm.list_walkers,
        WalkerSchema,
        "walker_name",
    ),
    "risk": (
        lambda name: farm.add_risk(name, [lambda payload: None]),
        farm.list_risks,
        RiskSchema,
        "risk_name",
    ),
    "sizing": (
        lambda name: farm.add_sizing(name, "fixed-percentage", risk_percentage=1.0),
        farm.list_sizings,
        SizingSchema,
        "sizing_name",
    ),
    "optimizer": (
        lambda name: farm.add_optimizer(
            name,
            range_train=[{"start": T0, "end": T0 + MIN}],
            range_test={"start": T0, "end": T0 + MIN},
            source=[lambda *a: []],
            get_prompt=prompt_fn,
        ),
        farm.list_optimizers,
        OptimizerSchema,
        "optimizer_name",
    ),
}


# ---- add / list --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REGISTRARS))
def test_add_returns_pydantic_schema_and_list_keeps_registration_order(kind):
    add, list_fn, schema_type, name_field = REGISTRARS[kind]
    names = ["zeta", "alpha", "mid"]
    returned = [add(n) for n in names]
    for schema, name in zip(returned, names, strict=True):
        assert isinstance(schema, BaseModel)
        assert isinstance(schema, schema_type)
        assert getattr(schema, name_field) == name
    listed = list_fn()
    assert [getattr(s, name_field) for s in listed] == names
    assert listed == returned
    assert all(a is b for a, b in zip(listed, returned, strict=True))


@pytest.mark.parametrize("kind", sorted(REGISTRARS))
def test_duplicate_name_is_rejected(kind):
    add, list_fn, _, _ = REGISTRARS[kind]
    add("dup")
    with pytest.raises(farm.DuplicateError, match="already exist") as info:
        add("dup")
    assert "dup" in str(info.value)
    assert len(list_fn()) == 1


def test_schema_fields_are_snake_case_as_given():
    def on_open(*args):
        return None

    schema = farm.add_strategy(
        "s",
        "5m",
        no_signal,
        callbacks={"on_open": on_open},
        risk_name="r",
        risk_list=["q"],
        params={"fast": 3},
        note="my note",
    )
    assert schema.strategy_name == "s"
    assert schema.interval == "5m"
    assert schema.get_signal is no_signal
    assert schema.callbacks == {"on_open": on_open}
    assert schema.risk_name == "r"
    assert schema.risk_list == ["q"]
    assert schema.params == {"fast": 3}
    assert schema.note == "my note"
    [listed] = farm.list_strategies()
    assert listed.note == "my note"
    assert listed.callbacks["on_open"] is on_open

    frame = farm.add_frame("f", "1h", datetime(2024, 1, 1, tzinfo=UTC), "2024-01-02T00:00:00Z", note="fn")
    assert frame.start_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert frame.end_date == datetime(2024, 1, 2, tzinfo=UTC)
    assert frame.note == "fn"


def test_callbacks_may_be_an_object_with_attributes():
    class Callbacks:
        def on_close(self, *args):
            return None

        def helper(self):  # not a callback name: ignored
            return None

    cb = Callbacks()
    schema = farm.add_strategy("s", "1m", no_signal, callbacks=cb)
    assert set(schema.callbacks) == {"on_close"}
    assert schema.callbacks["on_close"] == cb.on_close


def test_clear_registry_empties_every_kind():
    for kind, (add, _, _, _) in REGISTRARS.items():
        add(f"one-{kind}")
    farm.clear_registry()
    for _, list_fn, _, _ in REGISTRARS.values():
        assert list_fn() == []
    # names are free again
    REGISTRARS["strategy"][0]("one-strategy")
    assert [s.strategy_name for s in farm.list_strategies()] == ["one-strategy"]


# ---- unknown names -----------------------------------------------------------------------


@pytest.fixture
def world():
    farm.set_config(get_candles_retry_delay_ms=0)
    exchange = register_table(flat_candles(T0, 60))
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 12 * MIN)
    farm.add_strategy("s", "1m", no_signal)
    return exchange


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"strategy": "nope"}, "strategy nope not found"),
        ({"exchange": "nope"}, "exchange nope not found"),
        ({"frame": "nope"}, "frame nope not found"),
    ],
)
def test_backtest_with_unknown_name_fails(world, overrides, fragment):
    with pytest.raises(farm.NotFoundError, match=fragment):
        run(**overrides)
    assert world.calls == []


def test_not_found_message_names_the_caller_and_says_how_to_fix_it(world):
    with pytest.raises(farm.NotFoundError) as info:
        run(strategy="ghost")
    assert str(info.value).startswith("strategy ghost not found source=backtest; ")
    assert "registered strategy names: s" in str(info.value)
    assert "import the module that registers strategy ghost with --imports MODULE or FARM_IMPORTS=MODULE" in str(
        info.value)


def test_not_found_offers_the_closest_names_and_the_imported_modules(world):
    farm.add_strategy("sma_cross", "1m", lambda symbol, when: None)
    registry.note_imported(["my_strategies"])
    with pytest.raises(farm.NotFoundError) as info:
        run(strategy="sma_cros")
    message = str(info.value)
    assert "strategy sma_cros not found" in message
    assert "did you mean sma_cross?" in message
    assert "modules imported for registrations: my_strategies;" in message


def test_background_with_unknown_name_fails_immediately(world):
    with pytest.raises(farm.NotFoundError, match="frame nope not found"):
        farm.Backtest.background("A", strategy_name="s", exchange_name="x", frame_name="nope")


@pytest.mark.parametrize(("kwargs", "missing"), [({"risk_name": "r1"}, "r1"), ({"risk_list": ["r2"]}, "r2")])
def test_strategy_with_unregistered_risk_fails_at_run(world, kwargs, missing):
    farm.add_strategy("risky", "1m", no_signal, **kwargs)
    with pytest.raises(farm.NotFoundError, match=f"risk {missing} not found"):
        run(strategy="risky")
    farm.add_risk(missing, [])
    assert run(strategy="risky") == []


def test_variant_of_unknown_strategy_is_not_found():
    with pytest.raises(farm.NotFoundError, match="strategy ghost not found"):
        farm.variant("ghost", fast=1)


# ---- shallow schema checks ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("register", "fragment"),
    [
        (lambda: farm.add_strategy("s", "1m", get_signal=3), "get_signal must be a function"),
        (lambda: farm.add_strategy("s", "1m", get_signal=None), "get_signal must be a function"),
        (lambda: farm.add_strategy("s", "2m", no_signal), "unknown interval '2m'"),
        (lambda: farm.add_strategy("s", "4h", no_signal), "unknown interval '4h'"),
        (lambda: farm.add_exchange("e", "not a function"), "get_candles must be a function"),
        (lambda: farm.add_exchange("e", candles_fn, format_price=1), "format_price must be a function"),
        (lambda: farm.add_frame("f", "7m", T0, T0 + MIN), "unknown interval '7m'"),
        (lambda: farm.add_frame("f", "1m", T0 + MIN, T0), "end_date is before start_date"),
        (lambda: farm.add_walker("w", "x", "f", []), "strategies must be a non-empty list"),
        (
            lambda: farm.add_strategy("s", "1m", no_signal, callbacks={"on_opn": print}),
            "unknown callback(s) on_opn",
        ),
        (
            lambda: farm.add_exchange("e", candles_fn, callbacks={"on_candles": print}),
            "unknown callback(s) on_candles",
        ),
        (
            lambda: farm.add_strategy("s", "1m", no_signal, callbacks={"on_open": 5}),
            "callback on_open must be callable",
        ),
        (lambda: farm.add_sizing("z", "martingale"), "method must be one of"),
        (lambda: farm.add_sizing("z", "atr-based"), "risk_percentage is required for atr-based"),
        (lambda: farm.add_risk("r", [42]), "validation[0] must be a function"),
        (
            lambda: farm.add_optimizer("o", [], {}, [candles_fn], prompt_fn),
            "range_train must be a non-empty list",
        ),
    ],
)
def test_schema_shape_errors(register, fragment):
    with pytest.raises(ValueError) as info:
        register()
    assert fragment in str(info.value)
    for list_fn in (
        farm.list_strategies,
        farm.list_exchanges,
        farm.list_frames,
        farm.list_walkers,
        farm.list_sizings,
        farm.list_risks,
        farm.list_optimizers,
    ):
        assert list_fn() == []


def test_frame_end_equal_to_start_is_allowed():
    schema = farm.add_frame("f", "1m", T0, T0)
    assert schema.start_date == schema.end_date


# ---- variants ----------------------------------------------------------------------------


@pytest.fixture
def sma():
    return farm.add_strategy("sma", "1m", no_signal, params={"fast": 5, "slow": 20, "mode": "simple"})


def test_variant_canonical_name(sma):
    assert farm.variant("sma", fast=10, slow=50) == "sma(fast=10,slow=50)"
    # keys sorted whatever the call order
    assert farm.variant("sma", slow=50, fast=10) == "sma(fast=10,slow=50)"
    assert farm.variant("sma", fast=10) == "sma(fast=10)"
    assert farm.variant("sma", slow=0.5) == "sma(slow=0.5)"


def test_variant_string_values_by_repr(sma):
    assert farm.variant("sma", mode="ema") == "sma(mode='ema')"
    assert farm.variant("sma", mode="ema", fast=3) == "sma(fast=3,mode='ema')"


def test_variant_is_idempotent(sma):
    first = farm.variant("sma", fast=10, slow=50)
    second = farm.variant("sma", slow=50, fast=10)
    assert first == second == "sma(fast=10,slow=50)"
    # variants are not base registrations
    assert [s.strategy_name for s in farm.list_strategies()] == ["sma"]


def test_variant_unknown_param_is_named(sma):
    with pytest.raises(ValueError) as info:
        farm.variant("sma", fast=1, window=3)
    assert "window" in str(info.value)
    assert "fast" not in str(info.value).split("declared")[0]


def test_grid_is_the_cartesian_product_in_deterministic_order(sma):
    names = farm.grid("sma", slow=[50, 100], fast=[5, 10])
    assert names == [
        "sma(fast=5,slow=50)",
        "sma(fast=5,slow=100)",
        "sma(fast=10,slow=50)",
        "sma(fast=10,slow=100)",
    ]
    assert farm.grid("sma", fast=[5, 10], slow=[50, 100]) == names
    assert farm.grid("sma", fast=[5, 10], slow=(50, 100)) == names


def test_grid_with_a_string_parameter(sma):
    assert farm.grid("sma", mode=["ema", "wma"], fast=[1]) == [
        "sma(fast=1,mode='ema')",
        "sma(fast=1,mode='wma')",
    ]


def test_grid_rejects_unknown_params_and_empty_lists(sma):
    with pytest.raises(ValueError, match="window"):
        farm.grid("sma", window=[1, 2])
    with pytest.raises(ValueError, match="fast"):
        farm.grid("sma", fast=[])


@pytest.fixture
def recording_world():
    farm.set_config(get_candles_retry_delay_ms=0)
    register_table(flat_candles(T0, 60))
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 12 * MIN)
    seen: list[tuple[str, datetime, dict]] = []

    def get_signal(symbol, when, **params):
        seen.append((symbol, when, params))
        return None

    farm.add_strategy("sma", "1m", get_signal, params={"fast": 5, "slow": 20, "mode": "simple"})
    return seen


def test_base_strategy_gets_its_default_params(recording_world):
    assert run(strategy="sma") == []
    assert [p for _, _, p in recording_world] == [{"fast": 5, "slow": 20, "mode": "simple"}] * 3
    assert [w for _, w, _ in recording_world] == [
        datetime(2024, 1, 1, 0, m, tzinfo=UTC) for m in (10, 11, 12)
    ]


def test_variant_resolves_in_backtest_and_its_params_reach_get_signal(recording_world):
    name = farm.variant("sma", fast=10, mode="ema")
    assert run(strategy=name) == []
    assert [p for _, _, p in recording_world] == [{"fast": 10, "slow": 20, "mode": "ema"}] * 3
    assert {s for s, _, _ in recording_world} == {"A"}


def test_grid_variants_each_run_with_their_params(recording_world):
    for name in farm.grid("sma", fast=[1, 2]):
        run(strategy=name)
    assert [p["fast"] for _, _, p in recording_world] == [1, 1, 1, 2, 2, 2]


def test_well_formed_variant_name_resolves_without_prior_variant_call(recording_world):
    assert run(strategy="sma(slow=99)") == []
    assert [p for _, _, p in recording_world] == [{"fast": 5, "slow": 99, "mode": "simple"}] * 3


def test_variant_results_carry_the_variant_name():
    farm.set_config(get_candles_retry_delay_ms=0)
    register_table(flat_candles(T0, 60))
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 10 * MIN)

    def get_signal(symbol, when, tp=110):
        return {
            "position": "long",
            "price_take_profit": tp,
            "price_stop_loss": 90,
            "minute_estimated_time": 3,
        }

    farm.add_strategy("tpx", "1m", get_signal, params={"tp": 110})
    name = farm.variant("tpx", tp=120)
    [result] = run(strategy=name)
    assert result.strategy_name == "tpx(tp=120)"
    assert result.signal.strategy_name == "tpx(tp=120)"
    assert result.signal.price_take_profit == 120
    assert result.close_reason == "time_expired"


def test_clear_registry_forgets_variants(recording_world):
    name = farm.variant("sma", fast=10)
    farm.clear_registry()
    register_table(flat_candles(T0, 60))
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 12 * MIN)
    with pytest.raises(farm.NotFoundError, match="not found"):
        run(strategy=name)


def test_non_canonical_variant_spelling_keeps_reports_consistent():
    farm.set_config(get_candles_retry_delay_ms=0)
    register_table(flat_candles(T0, 60))
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 20 * MIN)

    def get_signal(symbol, when, fast=5, slow=20):
        return {
            "position": "long",
            "price_take_profit": 110,
            "price_stop_loss": 90,
            "minute_estimated_time": 3,
        }

    farm.add_strategy("sma", "1m", get_signal, params={"fast": 5, "slow": 20})
    spelled = "sma(slow=50,fast=10)"
    run(strategy=spelled)
    results = run(strategy=spelled)
    assert len(results) == 4
    assert {r.strategy_name for r in results} == {"sma(fast=10,slow=50)"}
    assert farm.Backtest.get_data("A", "sma(fast=10,slow=50)").total_signals == 4
    assert farm.Backtest.get_data("A", spelled).total_signals == 4
