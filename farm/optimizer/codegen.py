"""`get_code` (SPEC §12.3): the sections of a runnable Python module, each followed by an empty
line — banner, dump helper, `text` and `json` helpers, exchange, one frame per training range,
the test frame, one strategy per collected entry, the walker, the launcher.

Names share a prefix derived from the module's content (D18, where the reference draws a random
one): the same data, prompts and template give the same module byte for byte, so its strategies'
code versions, farm task keys and reports repeat on a re-run, and a module with other content
never shares a name with it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from farm.optimizer.collect import OptimizerEntry, OptimizerPlan

PLACEHOLDER = "P"
STRATEGY_INTERVAL = "5m"
FRAME_INTERVAL = "1m"


def names(prefix: str, plan: OptimizerPlan, entries: Sequence[OptimizerEntry]) -> dict[str, object]:
    return {
        "exchange": f"{prefix}_exchange",
        "train_frames": [f"{prefix}_train_frame-{k}" for k in range(1, len(plan.ranges) + 1)],
        "test_frame": f"{prefix}_test_frame",
        "strategies": [f"{prefix}_strategy-{k}" for k in range(1, len(entries) + 1)],
        "walker": f"{prefix}_walker",
    }


def render(prefix: str, symbol: str, plan: OptimizerPlan, entries: Sequence[OptimizerEntry]) -> str:
    t = plan.template
    n = names(prefix, plan, entries)
    sections = [
        t["get_top_banner"](symbol),
        t["get_json_dump_template"](symbol),
        t["get_text_template"](symbol),
        t["get_json_template"](symbol),
        t["get_exchange_template"](symbol, n["exchange"]),
    ]
    for frame_name, window in zip(n["train_frames"], plan.ranges, strict=True):  # type: ignore[call-overload]
        sections.append(t["get_frame_template"](symbol, frame_name, FRAME_INTERVAL, window.start_date, window.end_date))
    sections.append(t["get_frame_template"](symbol, n["test_frame"], FRAME_INTERVAL, plan.test_range.start_date,
                                            plan.test_range.end_date))
    for strategy_name, entry in zip(n["strategies"], entries, strict=True):  # type: ignore[call-overload]
        sections.append(t["get_strategy_template"](strategy_name, STRATEGY_INTERVAL, entry.strategy))
    sections.append(t["get_walker_template"](n["walker"], n["exchange"], n["test_frame"], n["strategies"]))
    sections.append(t["get_launcher_template"](symbol, n["walker"]))
    return "\n".join(f"{section}\n" for section in sections)


def content_prefix(symbol: str, plan: OptimizerPlan, entries: Sequence[OptimizerEntry]) -> str:
    """`o` + 10 hex digits of the hash of the module rendered with a placeholder prefix."""
    draft = render(PLACEHOLDER, symbol, plan, entries)
    return "o" + hashlib.sha256(f"{plan.name}\0{symbol}\0{draft}".encode()).hexdigest()[:10]


def generate(symbol: str, plan: OptimizerPlan, entries: Sequence[OptimizerEntry]) -> tuple[str, str]:
    """(code, prefix); the walker of the module is `<prefix>_walker`."""
    prefix = content_prefix(symbol, plan, entries)
    return render(prefix, symbol, plan, entries), prefix


def module_name(optimizer_name: str, symbol: str) -> str:
    """`<optimizer>_<symbol>` as a Python identifier (the reference's file name, `.py`)."""
    name = re.sub(r"\W", "_", f"{optimizer_name}_{symbol}", flags=re.ASCII)
    return name if name[0].isalpha() else f"opt_{name}"


__all__ = ["FRAME_INTERVAL", "STRATEGY_INTERVAL", "content_prefix", "generate", "module_name", "names", "render"]
