"""What a generated module calls at import and at backtest time.

Kept in farm (not copied into each module) so the rule exists once and a module stays a short
list of names, dates and prompts. Everything here reads its configuration from this process's
environment (the LLM endpoint, the store): a module or a task message never chooses them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from farm import registry

logger = logging.getLogger("farm.optimizer")

TIMEFRAMES: tuple[tuple[str, int, str], ...] = (
    ("1h", 24, "hourly"),
    ("15m", 24, "15-minute"),
    ("5m", 24, "5-minute"),
    ("1m", 30, "1-minute"),
)
"""The multi-timeframe conversation of a generated strategy (SPEC §12.3 item 8), longest first."""

SYSTEM_PROMPT = ("You are a trading-strategy assistant. Answer with a bare report: no greetings, no "
                 "disclaimers, no markdown headings.")
SIGNAL_REQUEST = ("Following the strategy below, decide what to do now with {symbol}: wait, open a long "
                  "or open a short position. The holding time is at most 360 minutes. Current price: "
                  "{price}.\n\nStrategy:\n{prompt}")

_KINDS = {"add_exchange": registry.exchanges, "add_frame": registry.frames, "add_strategy": registry.strategies,
          "add_walker": registry.walkers}


def register(add: Callable[..., Any], name: str, *args: Any, **kwargs: Any) -> None:
    """`add(name, ...)` unless the name is registered already: a generated module's names carry
    the hash of its content (D18), so an existing name was registered by the same code (the
    module imported a second time, e.g. by a worker that also lists it in FARM_IMPORTS)."""
    kind = _KINDS.get(add.__name__)
    if kind is not None and kind.has(name):
        return
    add(name, *args, **kwargs)


def text(messages: Sequence[Mapping[str, Any]], symbol: str) -> str:
    """A plain-text strategy report for `symbol`; the reply is cached by content."""
    from farm.optimizer.llm import ask_text

    conversation = [{"role": "system", "content": SYSTEM_PROMPT}, *messages,
                    {"role": "user", "content": f"What conditions would you buy {symbol.upper()} under? "
                                                "Describe the strategy."}]
    return ask_text(conversation)


def json_signal(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The LLM's decision as a plain dict (validated against `SignalReply`)."""
    from farm.optimizer.llm import ask_signal

    return ask_signal(messages).model_dump()


def candle_lines(candles: Any) -> str:
    return "\n".join(
        f"{c.timestamp},{c.open:.8g},{c.high:.8g},{c.low:.8g},{c.close:.8g},{c.volume:.8g}" for c in candles
    )


def signal_messages(symbol: str, prompt: str) -> list[dict[str, str]]:
    """The conversation of one decision: each timeframe's closed candles (analysed and
    acknowledged), then the request that embeds the strategy prompt. Built from the ambient
    context only (`farm.get_candles`, never the clock), so the same tick asks the same question."""
    import farm

    messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    for interval, limit, label in TIMEFRAMES:
        candles = farm.get_candles(symbol, interval, limit)
        messages.append({"role": "user", "content": f"Analyse the {label} candles of {symbol} "
                                                    f"(timestamp,open,high,low,close,volume):\n{candle_lines(candles)}"})
        messages.append({"role": "assistant", "content": f"{label.capitalize()} candles analysed."})
    price = farm.get_average_price(symbol)
    messages.append({"role": "user", "content": SIGNAL_REQUEST.format(symbol=symbol, price=f"{price:.8g}",
                                                                      prompt=prompt)})
    return messages


def llm_signal(symbol: str, prompt: str, *, ask: Callable[[list[dict[str, str]]], dict[str, Any]] = json_signal,
               dump: Callable[..., Any] | None = None) -> dict[str, Any] | None:
    """A generated strategy's `get_signal`: ask, dump the conversation, return the signal (None
    for "wait"). The signal id is the hash of the question: the same tick gives the same id."""
    messages = signal_messages(symbol, prompt)
    result = dict(ask(messages))
    signal_id = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:32]
    result["id"] = signal_id
    if dump is not None:
        dump(signal_id, messages, result)
    if result.get("position") == "wait":
        return None
    return result


def dump_signal(signal_id: str, history: Sequence[Mapping[str, Any]], signal: Mapping[str, Any],
                output_dir: str | Path = "./dump/strategy", *, warn_kb: int = 20) -> Path | None:
    """SPEC §12.5: `<output_dir>/<signal_id>/` with `00_system_prompt.md` (the signal and every
    system message), `NN_user_message.md` per user message and `NN_llm_output.md`. Does nothing
    when the directory exists (returns None); else returns it."""
    folder = Path(output_dir) / signal_id
    if folder.exists():
        return None
    folder.mkdir(parents=True)
    system = [m["content"] for m in history if m.get("role") == "system"]
    users = [m["content"] for m in history if m.get("role") == "user"]
    signal_json = json.dumps(dict(signal), indent=2, ensure_ascii=False, default=str)
    head = ["# Outline Result Summary", "", f"**ResultId**: {signal_id}", "", "```json", signal_json, "```", ""]
    for content in system:
        head += ["## System Message", "", str(content), ""]
    (folder / "00_system_prompt.md").write_text("\n".join(head))
    for i, content in enumerate(users, 1):
        if len(str(content).encode()) > warn_kb * 1024:
            logger.warning("dump_signal %s: user message %d is over %d KB", signal_id, i, warn_kb)
        (folder / f"{i:02d}_user_message.md").write_text(f"# User Input {i}\n\n**ResultId**: {signal_id}\n\n{content}\n")
    (folder / f"{len(users) + 1:02d}_llm_output.md").write_text(
        f"# Full Outline Result\n\n**ResultId**: {signal_id}\n\n```json\n{signal_json}\n```\n")
    return folder


def launch(symbol: str, walker_name: str, out_dir: str | Path) -> Any:
    """`python GENERATED_MODULE`: the walker on this machine, progress printed, the walker
    report and each strategy's backtest report written under `out_dir/dump`."""
    import farm

    dump = Path(out_dir) / "dump"
    for progress in farm.Walker.run(symbol, walker_name=walker_name):
        print(f"{progress.strategies_tested}/{progress.total_strategies} {progress.strategy_name}: "
              f"{progress.metric_value}")
    results = farm.Walker.get_data(symbol, walker_name)
    print(f"walker report: {farm.Walker.dump(symbol, walker_name, path=dump / 'walker')}")
    for row in results.strategies:
        farm.Backtest.dump(symbol, row.strategy_name, path=dump / "backtest")
    return results


def sample_exchange_code(symbol: str, exchange_name: str) -> str:
    """An exchange section over farm's bundled sample candles (no network): pass it as
    `template={"get_exchange_template": sample_exchange_code}` to try an optimizer offline."""
    return "\n".join([
        "from farm.data.sample import sample_source",
        "",
        f"runtime.register(farm.add_exchange, {exchange_name!r}, get_candles=sample_source('1m'))",
    ])


__all__ = ["SYSTEM_PROMPT", "TIMEFRAMES", "dump_signal", "json_signal", "launch", "llm_signal", "register",
           "sample_exchange_code", "signal_messages", "text"]
