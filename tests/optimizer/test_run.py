"""The optimizer end to end against the loopback Ollama-protocol server: data collection, the
generated module imported and its walker backtested on the test range through `farm.sweep`; a
re-run answered entirely from the reply store; a changed prompt re-asking only its strategy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import farm
from farm.optimizer import Optimizer
from farm.persist import open_store
from tests.farm.conftest import report_bytes
from tests.optimizer import setup_optimizer as setup

ROOT = Path(__file__).resolve().parents[2]


def final_requests(server) -> list[str]:
    """The last user message of every structured request (a strategy's decision)."""
    return [r["messages"][-1]["content"] for r in server.requests if r.get("format")]


def test_the_generated_walker_runs_and_a_second_run_asks_the_llm_nothing(fake_ollama, tmp_path):
    setup.register()
    out = tmp_path / "out"
    first = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=2)
    assert first.module_path == (out / "llm_test_UNITTEST_BTC.py").resolve()
    assert first.module_name in sys.modules and len(first.strategies) == 2 and len(first.entries) == 2
    walker = first.walker_results
    assert walker.walker_name == first.walker_name and walker.frame_name.endswith("_test_frame")
    assert not first.sweep.failures and not first.sweep.errors
    assert sum(row.stats.total_signals for row in walker.strategies) > 0  # the LLM's signals traded
    prompts = [r for r in fake_ollama.requests if not r.get("format")]
    assert len(prompts) == 2  # get_prompt once per training range
    asked = fake_ollama.calls
    assert asked > len(prompts)
    reports = report_bytes(out / "report")
    assert any(name.startswith("walker/") for name in reports)
    # The conversations behind the signals are dumped under the out directory only.
    assert any((out / "dump" / "strategy").iterdir())

    # Same process, registry cleared and registered again (a dirty process): nothing is asked.
    farm.clear_registry()
    setup.register()
    second = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=2)
    assert fake_ollama.calls == asked
    assert second.walker_results == walker and report_bytes(out / "report") == reports

    # The backtests themselves run again (a new result store): every decision comes from the
    # reply store, and the outcome is the same.
    third = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=1,
                          store=open_store(f"file://{tmp_path / 'other-results'}"))
    assert third.sweep.tasks_run == 2 and fake_ollama.calls == asked
    assert third.walker_results == walker


def test_a_changed_prompt_for_one_range_asks_again_for_that_strategy_only(fake_ollama, tmp_path):
    revise = {"on": False}

    def get_prompt(symbol, messages):
        prompt = setup.get_prompt(symbol, messages)
        if revise["on"] and "2017-11-08" in messages[0]["content"]:
            prompt += " Revised: trade only after 08:00."
        return prompt

    setup.register(get_prompt_fn=get_prompt)
    out = tmp_path / "out"
    before = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=1)
    asked = fake_ollama.calls
    old_prompts = [e.strategy for e in before.entries]

    revise["on"] = True
    farm.clear_registry()
    setup.register(get_prompt_fn=get_prompt)
    after = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=1)
    assert after.walker_name != before.walker_name  # other content, other names (D18)
    assert [e.strategy for e in after.entries][0] == old_prompts[0]
    new = final_requests(fake_ollama)[len(final_requests(fake_ollama)) - (fake_ollama.calls - asked):]
    assert new, "the revised strategy was asked again"
    assert all("Revised: trade only after 08:00." in text for text in new)
    assert not any(old_prompts[0] in text for text in new)
    # The untouched strategy's decisions came from the store and gave the same trades.
    unchanged_before = before.walker_results.strategies
    unchanged_after = after.walker_results.strategies
    stats = lambda rows, k: next(r.stats for r in rows if r.strategy_name.endswith(f"_strategy-{k}"))  # noqa: E731
    trades = lambda st: [(c.close_reason, c.close_timestamp, c.pnl.pnl_percentage, c.signal.position,  # noqa: E731
                          c.signal.price_open) for c in st.signal_list]
    assert trades(stats(unchanged_after, 1)) == trades(stats(unchanged_before, 1))
    assert stats(unchanged_after, 1).total_pnl == stats(unchanged_before, 1).total_pnl


def test_the_module_runs_on_its_own_with_the_replies_already_stored(fake_ollama, tmp_path):
    setup.register()
    out = tmp_path / "out"
    result = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=1)
    asked = fake_ollama.calls
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(result.module_path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "walker report:" in proc.stdout and (out / "dump" / "walker").is_dir()
    assert fake_ollama.calls == asked  # another process, the same store: no LLM call


def test_the_cli_writes_the_module_and_the_reports(fake_ollama, tmp_path):
    import typer
    from typer.testing import CliRunner

    from farm.optimizer.cli_llm import optimize_llm

    app = typer.Typer()
    app.command("optimize")(optimize_llm)
    app.command("other")(lambda: None)  # a group, so `optimize` is a sub-command as in `farm`
    setup.register()
    out = tmp_path / "cli-out"
    result = CliRunner().invoke(app, ["optimize", "--optimizer", "llm-test", "--symbol", setup.SYMBOL,
                                      "--out", str(out), "--workers", "1", "--imports", ""])
    assert result.exit_code == 0, result.output
    assert "module:" in result.output and (out / "llm_test_UNITTEST_BTC.py").exists()
    assert (out / "report" / "README.md").exists()
    bad = CliRunner().invoke(app, ["optimize", "--optimizer", "nope", "--symbol", setup.SYMBOL, "--imports", ""])
    assert bad.exit_code == 2 and "optimizer nope not found" in bad.output


def test_backtests_that_met_an_unreachable_llm_are_not_kept(fake_ollama, tmp_path, monkeypatch):
    setup.register(get_prompt_fn=lambda symbol, messages: f"Trade {symbol} breakouts.")
    out = tmp_path / "out"
    monkeypatch.setenv("FARM_LLM_HOST", "http://127.0.0.1:9")  # nothing listens
    down = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=1)
    assert down.llm_unavailable == sorted(down.strategies)
    assert any("LlmUnavailableError" in m for e in down.sweep.errors for m in e.messages)
    monkeypatch.setenv("FARM_LLM_HOST", fake_ollama.host)
    up = Optimizer.run(setup.SYMBOL, optimizer_name="llm-test", out=out, workers=1)
    assert up.sweep.tasks_run == 2 and not up.sweep.errors and not up.llm_unavailable  # backtested again
    assert sum(row.stats.total_signals for row in up.walker_results.strategies) > 0
