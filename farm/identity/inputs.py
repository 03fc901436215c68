"""A job's inputs looked up from the registries: what the planner puts in a job's key, and what
a worker checks against it before running (`check_inputs`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from farm import registry
from farm.errors import FarmError
from farm.identity import FrameSpan
from farm.identity.code import code_digest, describe
from farm.identity.data import declared_identity, read_fingerprint
from farm.models import datetime_to_ms


class InputsChangedError(FarmError):
    """This process would answer a job with other inputs than the ones it was planned with (its
    code, frame or data differ). Permanent: retrying in the same process cannot help."""


def _strategy_functions(name: str) -> tuple[list[Any], dict[str, Any]]:
    """The functions whose code decides a strategy's outcome, and its registration as JSON."""
    schema = registry.get_strategy(name)
    functions: list[Any] = [schema.get_signal, schema.signals, *schema.callbacks.values()]
    risks: dict[str, Any] = {}
    for risk_name in schema.risk_names:
        if registry.risks.has(risk_name):
            risk = registry.risks.get(risk_name)
            functions.extend(v.get("validate") if isinstance(v, dict) else v for v in risk.validations)
            functions.extend(risk.callbacks.values())
            risks[risk_name] = describe({"validations": risk.validations, "callbacks": risk.callbacks})
    # A variant's own parameters are in its name (in the key already): describe the registration
    # it derives from, so all variants of one strategy share one code version (and blocks).
    registered = registry.get_strategy(schema.base_strategy) if schema.base_strategy else schema
    spec = describe({
        "strategy": registered.strategy_name, "interval": registered.interval, "params": registered.params,
        "risks": risks, "get_signal": schema.get_signal, "signals": schema.signals, "callbacks": schema.callbacks,
    })
    return functions, spec


def strategy_code_version(strategy_names: Iterable[str]) -> str:
    """The code version of these strategies as this process imported them (`farm.identity.code`)."""
    functions: list[Any] = []
    specs: list[Any] = []
    for name in strategy_names:
        fns, spec = _strategy_functions(name)
        functions.extend(fns)
        specs.append(spec)
    return code_digest(functions, specs)


def snapshot_strategy(name: str) -> None:
    """Take the code snapshots of a strategy's modules now (at registration)."""
    from farm.identity.code import snapshot_closure_of

    snapshot_closure_of(_strategy_functions(name)[0])


def frame_span(frame_name: str) -> FrameSpan:
    frame = registry.frames.get(frame_name)
    return FrameSpan(interval=frame.interval, start_ms=datetime_to_ms(frame.start_date),
                     end_ms=datetime_to_ms(frame.end_date))


def data_identity(exchange_name: str, symbol: str, span: FrameSpan, config: dict[str, Any]) -> str:
    """What the exchange's candles for `symbol` are. A source that cannot say is fingerprinted
    from the base candles of the frame's range. A source that fails to answer gets an `error:`
    identity: the job then fails where it runs, with the real message, and is never stored."""
    schema = registry.exchanges.get(exchange_name)
    try:
        declared = declared_identity(schema.get_candles, getattr(schema, "identity", None))
        if declared is not None:
            return str(declared(symbol))
        return read_fingerprint(schema, symbol, str(config.get("base_interval", "1m")), span.start_ms, span.end_ms)
    except Exception as exc:  # noqa: BLE001 - recorded in the identity, raised again by the run
        return f"error:{type(exc).__name__}"


def check_inputs(job: Any, *, memo: dict[tuple[str, ...], str] | None = None) -> None:
    """Refuse (`InputsChangedError`) a job this process would run with other inputs than planned:
    its code (imported before the strategy was edited: restart the worker), its frame's dates or
    its data. Called by a worker after importing the job's modules, before running it. `memo`:
    data identities already checked by the jobs of the same block (one read per symbol)."""
    here = strategy_code_version(job.strategies)
    if here != job.code_version:
        raise InputsChangedError(
            f"code version mismatch for {', '.join(job.strategies)}: this worker imported code {here}, the job "
            f"was planned with code {job.code_version}; restart the worker so it imports the current code "
            "(or re-import it in the planning process)"
        )
    span = frame_span(job.frame_name)
    if span != job.frame:
        raise InputsChangedError(
            f"frame {job.frame_name} here is {span.interval} {span.start_ms}..{span.end_ms}, the job was planned "
            f"with {job.frame.interval} {job.frame.start_ms}..{job.frame.end_ms}; restart the worker"
        )
    memo_key = (job.exchange_name, job.symbol, span.model_dump_json(), str(job.config.get("base_interval", "1m")))
    data = memo.get(memo_key) if memo is not None else None
    if data is None:
        data = data_identity(job.exchange_name, job.symbol, span, job.config)
        if memo is not None:
            memo[memo_key] = data
    if data != job.data:
        raise InputsChangedError(
            f"the data of exchange {job.exchange_name} for {job.symbol} changed since the job was planned "
            f"({job.data} then, {data} here); sweep again"
        )


def plan_inputs(exchange_name: str, frame_name: str, symbols: Sequence[str], config: dict[str, Any]
                ) -> tuple[FrameSpan, dict[str, str]]:
    """The frame span and each symbol's data identity, computed once per symbol per sweep."""
    span = frame_span(frame_name)
    return span, {symbol: data_identity(exchange_name, symbol, span, config) for symbol in symbols}


__all__ = ["InputsChangedError", "check_inputs", "data_identity", "frame_span", "plan_inputs",
           "snapshot_strategy", "strategy_code_version"]
