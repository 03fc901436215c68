"""An optimizer over the bundled UNITTEST/BTC 1m candles: one source of hourly summaries per
training range, prompts from the LLM (`farm.optimizer.ask_text`), the generated module's
exchange over the same bundled candles (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import farm
from farm.data.sample import sample_source
from farm.optimizer import ask_text, sample_exchange_code

SYMBOL = "UNITTEST/BTC"
RANGES = [
    {"start_date": "2017-11-06T00:00:00Z", "end_date": "2017-11-07T00:00:00Z", "note": "day 1"},
    {"start_date": "2017-11-08T00:00:00Z", "end_date": "2017-11-09T00:00:00Z", "note": "day 2"},
]
TEST_RANGE = {"start_date": "2017-11-10T00:00:00Z", "end_date": "2017-11-10T03:00:00Z"}

fetches: list[dict] = []


def hourly(symbol: str, start_date: datetime, end_date: datetime, limit: int, offset: int) -> list[dict]:
    """Hourly candles of the range as rows with an id, a page at a time."""
    fetches.append({"symbol": symbol, "start": start_date, "limit": limit, "offset": offset})
    frame = sample_source("1m")(symbol, "1h", start_date, 48)
    rows = [
        {"id": int(ts), "time": datetime.fromtimestamp(ts / 1000, UTC).isoformat(), "close": float(c),
         "volume": round(float(v), 4)}
        for ts, c, v in zip(frame["timestamp"], frame["close"], frame["volume"], strict=True)
        if ts < end_date.timestamp() * 1000
    ]
    return rows[offset:offset + limit]


def get_prompt(symbol: str, messages: list[dict]) -> str:
    return ask_text([*messages, {"role": "user", "content": f"Write a trading strategy for {symbol}."}])


def register(name: str = "llm-test", *, ranges=None, get_prompt_fn=get_prompt, sources=None, **extra) -> None:
    farm.add_optimizer(
        name, range_train=ranges or RANGES, range_test=TEST_RANGE,
        source=sources or [{"name": "hourly", "fetch": hourly}], get_prompt=get_prompt_fn,
        template={"get_exchange_template": sample_exchange_code}, **extra,
    )
