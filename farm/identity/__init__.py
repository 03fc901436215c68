"""What a result's key covers: the one place the rule is written down (docs/keys.md explains it).

A farm result is stored under the content hash of everything that decides its outcome, and
nothing else, so a re-run skips exactly the work whose inputs did not change and never serves
numbers computed from other inputs:

* **strategies**: the canonical (variant) names, which carry the variant parameters;
* **symbol**;
* **frame**: its interval, start and end (not its name: renaming a frame keeps its results,
  moving its dates recomputes them);
* **data**: what the exchange's candles for this symbol are (`farm.identity.data`): a file's
  content digest, a DataFrame's digest, a synthetic source's parameters, an identity the user
  declared, or a fingerprint of the candles themselves (not the exchange's name);
* **config**: the engine config fields that can change a result (`NOT_OUTCOME` lists the others,
  each with the reason);
* **code**: the code version of what the process imported (`farm.identity.code`): every project
  module the strategy's modules reach, transitively; third-party distributions by version; farm
  itself; and how the strategies were registered (interval, parameters, risk profiles).

Everything a job needs only to be *run* (the exchange and frame names that look the inputs up in
a worker's registry, the full config, the modules to import) travels in the job but stays out of
its key. A worker checks that its own inputs match the key's (`check_job_inputs` in
`farm.run.jobs`) before running, and refuses a job it would answer with other inputs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

NOT_OUTCOME: dict[str, str] = {
    "get_candles_retry_count": "how often a failing fetch is retried; a fetch that still fails "
                               "fails the job, it never yields a different result",
    "get_candles_retry_delay_ms": "how long to wait between retries",
    "report_show_signal_note": "a column of the rendered report; results store statistics only",
    "report_max_rows": "rows of the rendered report; statistics cover every signal (D8)",
    "backtest_path": "which engine runs the backtest; kernel and per-tick give the same trades "
                     "(the parity the kernel tests pin)",
}
"""EngineConfig fields that cannot change a result, with the reason. Every other field is in
the key, so a field added to EngineConfig later is part of the key until it is listed here.
(`candle_page_limit` stays in: price-anomaly checks take their median per fetched page.)"""


def outcome_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of an engine config (EngineConfig fields as a dict) that goes into a key."""
    return {name: value for name, value in sorted(config.items()) if name not in NOT_OUTCOME}


class FrameSpan(BaseModel):
    """A frame as far as the outcome goes: its tick interval and its dates (ms since the epoch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval: str
    start_ms: int
    end_ms: int


def key_body(job: dict[str, Any]) -> dict[str, Any]:
    """The parts of a job (a `BacktestJob` as a JSON dict) that decide its outcome."""
    return {
        "strategies": list(job["strategies"]),
        "symbol": job["symbol"],
        "frame": job["frame"],
        "data": job["data"],
        "config": outcome_config(job["config"]),
        "code_version": job["code_version"],
    }


def content_key(job: dict[str, Any]) -> str:
    """The job's key: its task id and its result's storage key."""
    text = json.dumps(key_body(job), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


__all__ = ["NOT_OUTCOME", "FrameSpan", "content_key", "key_body", "outcome_config"]
