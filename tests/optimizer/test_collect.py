"""Data collection (SPEC §12.2): paging, de-duplication, one entry per (range, source), shared
message lists, progress events and callbacks. No LLM here: `get_prompt` is plain code."""

from __future__ import annotations

import pytest

import farm
from farm.errors import SchemaError
from farm.optimizer import Optimizer
from farm.optimizer.sources import Source, paginate, to_range

WINDOW = to_range({"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-01-02T00:00:00Z"}, "test")


def rows_source(rows: list[dict], calls: list[tuple[int, int]], page_cap: int | None = None) -> Source:
    def fetch(symbol, start_date, end_date, limit, offset):
        calls.append((limit, offset))
        return rows[offset:offset + (page_cap or limit)]

    return Source(name="rows", fetch=fetch)


def test_pages_of_25_until_a_short_page_with_rows_deduplicated_by_id():
    rows = [{"id": i % 60, "v": i} for i in range(70)]  # ids 0..59 then 0..9 again
    calls: list[tuple[int, int]] = []
    data = paginate(rows_source(rows, calls), "X", WINDOW, min_interval=0)
    assert calls == [(25, 0), (25, 25), (25, 50)]
    assert [r["id"] for r in data] == list(range(60)) and data[0]["v"] == 0  # first occurrence kept


def test_a_full_last_page_asks_once_more_and_the_row_cap_holds():
    calls: list[tuple[int, int]] = []
    assert len(paginate(rows_source([{"id": i} for i in range(50)], calls), "X", WINDOW, min_interval=0)) == 50
    assert calls == [(25, 0), (25, 25), (25, 50)]
    calls.clear()
    capped = paginate(rows_source([{"id": i} for i in range(500)], calls), "X", WINDOW, max_rows=60, min_interval=0)
    assert len(capped) == 60 and calls[-1] == (25, 50)


def test_a_page_longer_than_the_limit_or_a_row_without_id_is_an_error():
    with pytest.raises(SchemaError, match="more than the limit 25"):
        paginate(rows_source([{"id": i} for i in range(40)], [], page_cap=30), "X", WINDOW, min_interval=0)
    with pytest.raises(SchemaError, match="no id"):
        paginate(rows_source([{"x": 1}], []), "X", WINDOW, min_interval=0)


def register_two_by_two(seen_prompts: list[int], events_log: list[tuple]) -> None:
    def prices(symbol, start_date, end_date, limit, offset):
        return [{"id": f"p{start_date:%d}-{i}", "close": i} for i in range(3)][offset:offset + limit]

    def news(symbol, start_date, end_date, limit, offset):
        return [{"id": "n1", "title": "up"}][offset:offset + limit]

    def get_prompt(symbol, messages):
        seen_prompts.append(len(messages))
        return f"strategy after {len(messages)} messages"

    farm.add_optimizer(
        "two-by-two",
        range_train=[{"start_date": "2024-01-01", "end_date": "2024-01-02"},
                     {"start_date": "2024-01-03", "end_date": "2024-01-04"}],
        range_test={"start_date": "2024-01-05", "end_date": "2024-01-06"},
        source=[{"name": "prices", "fetch": prices, "assistant": lambda s, d, n: f"{len(d)} prices read"}, news],
        get_prompt=get_prompt,
        callbacks={
            "on_source_data": lambda symbol, name, data, start, end: events_log.append(("source", name, len(data))),
            "on_data": lambda symbol, entries: events_log.append(("data", len(entries))),
        },
    )


def test_one_entry_per_range_and_source_sharing_the_range_s_message_list():
    prompts: list[int] = []
    log: list[tuple] = []
    register_two_by_two(prompts, log)
    progress: list[tuple[int, int, float]] = []
    farm.listen_optimizer_progress(lambda p: progress.append((p.processed_sources, p.total_sources, p.progress)))
    entries = Optimizer.get_data("BTC/USDT", "two-by-two")
    assert [(e.name, e.strategy) for e in entries] == [
        ("prices", "strategy after 2 messages"), ("unknown", "strategy after 4 messages"),
        ("prices", "strategy after 2 messages"), ("unknown", "strategy after 4 messages"),
    ]
    assert prompts == [2, 4, 2, 4]
    assert entries[0].messages is entries[1].messages and entries[1].messages is not entries[2].messages
    first = entries[0].messages
    assert [m["role"] for m in first] == ["user", "assistant", "user", "assistant"]
    assert first[0]["content"].startswith("Прочитай данные и скажи ОК\n\n[") and '"p01-0"' in first[0]["content"]
    assert first[1]["content"] == "3 prices read" and first[3]["content"] == "ОК"
    assert '"p03-0"' in entries[2].messages[0]["content"]  # the second range has its own data
    # Before each source, then once at the end (SPEC §12.2).
    assert progress == [(0, 4, 0.0), (1, 4, 0.25), (2, 4, 0.5), (3, 4, 0.75), (4, 4, 1.0)]
    assert log == [("source", "prices", 3), ("source", "unknown", 1)] * 2 + [("data", 4)]


def test_ranges_collected_side_by_side_give_the_same_entries():
    register_two_by_two([], [])
    one = Optimizer.get_data("BTC/USDT", "two-by-two")
    both = Optimizer.get_data("BTC/USDT", "two-by-two", workers=2)
    assert [(e.name, e.strategy, e.messages) for e in one] == [(e.name, e.strategy, e.messages) for e in both]


def test_bad_registrations_are_named_before_anything_is_fetched():
    farm.add_optimizer("typo", range_train=[{"start_date": "2024-01-01", "end_date": "2024-01-02"}],
                       range_test={"start_date": "2024-01-03", "end_date": "2024-01-04"},
                       source=[lambda **kw: []], get_prompt=lambda s, m: "x",
                       template={"get_strategy_templat": lambda *a: ""})
    with pytest.raises(SchemaError, match="unknown template function.*get_strategy_templat"):
        Optimizer.get_code("BTC/USDT", "typo")
    farm.add_optimizer("backwards", range_train=[{"start_date": "2024-01-02", "end_date": "2024-01-01"}],
                       range_test={"start_date": "2024-01-03", "end_date": "2024-01-04"},
                       source=[lambda **kw: []], get_prompt=lambda s, m: "x")
    with pytest.raises(SchemaError, match=r"range_train\[0\].*after end_date"):
        Optimizer.get_data("BTC/USDT", "backwards")
    with pytest.raises(farm.NotFoundError, match="optimizer nope not found"):
        Optimizer.get_data("BTC/USDT", "nope")


def test_a_source_that_ignores_the_offset_ends_after_a_page_with_nothing_new():
    calls: list[tuple[int, int]] = []

    def same_page(symbol, start_date, end_date, limit, offset):
        calls.append((limit, offset))
        return [{"id": i} for i in range(25)]

    data = paginate(Source(name="stuck", fetch=same_page), "X", WINDOW, min_interval=0)
    assert len(data) == 25 and calls == [(25, 0), (25, 25)]
