"""Failures that say what happened, through the real `farm` command: one line per cause with
its count, the first traceback with the strategy's file:line, a non-zero exit when a strategy
never traded because every signal it produced failed, and a frame without candles."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from farm.run.failures import message_causes

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests.failing_strategies"


def farm_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FARM_DATA_DIR": str(tmp_path / ".farm")}
    for name in ("FARM_REDIS_URL", "FARM_S3_BUCKET", "FARM_IMPORTS"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def backtest(strategy: str, frame: str, tmp_path: Path, *, module: str = MODULE, exchange: str = "fs-sample"):
    return farm_cli("backtest", "--strategy", strategy, "--exchange", exchange, "--frame", frame, "--symbol",
                    "ETH/BTC", "--imports", module, "--out", str(tmp_path / "out"), tmp_path=tmp_path)


def diagnostics(stderr: str) -> list[str]:
    """stderr without the progress bar."""
    return [line for line in stderr.splitlines() if "━" not in line and line.strip()]


def test_a_strategy_raising_on_every_tick_fails_with_one_traceback(tmp_path):
    from tests import failing_strategies

    line = inspect.getsourcelines(failing_strategies.always_raises)[1] + 1
    done = backtest("fs_raises", "fs-day", tmp_path)
    assert done.returncode == 1, done.stderr
    lines = diagnostics(done.stderr)
    assert f"  289 × ValueError at tests/failing_strategies.py:{line} in always_raises" in lines
    assert f'  File "{ROOT / "tests" / "failing_strategies.py"}", line {line}, in always_raises' in lines
    assert lines.count("ValueError: no data for ETH/BTC at 00:00") == 1  # the first one, shown once
    assert any(x.startswith("FAILED: fs_raises never traded, every signal it produced failed") for x in lines)
    assert len(lines) < 15  # not one line per tick


def test_signals_rejected_on_every_attempt_are_summarised_and_fail(tmp_path):
    done = backtest("fs_tight", "fs-day", tmp_path)
    assert done.returncode == 1, done.stderr
    lines = diagnostics(done.stderr)
    assert ("  289 signals rejected: Long: StopLoss too close to priceOpen. Minimum distance: 0.5% to avoid "
            "instant stop out on market volatility.") in lines
    assert "Traceback (most recent call last):" not in lines and len(lines) < 10


def test_a_strategy_that_trades_despite_errors_exits_zero(tmp_path):
    from tests.farm import helpers

    source, first = inspect.getsourcelines(helpers.boom)
    line = first + next(i for i, text in enumerate(source) if text.strip().startswith("raise "))
    done = backtest("tf_boom", "farm-test-2018-01-12", tmp_path, module="tests.farm.helpers",
                    exchange="farm-test-sample")
    assert done.returncode == 0, done.stderr
    lines = diagnostics(done.stderr)
    assert any(re.fullmatch(rf"  \d+ × RuntimeError at tests/farm/helpers.py:{line} in boom", x) for x in lines), lines
    assert not any(x.startswith("FAILED") for x in lines)


def test_a_frame_without_candles_warns_and_fails(tmp_path):
    done = backtest("fs_tight", "fs-empty", tmp_path)
    assert done.returncode == 1
    assert ("warning: exchange fs-sample has no ETH/BTC candles in frame fs-empty: nothing was backtested"
            in done.stderr)


def test_sweep_groups_causes_and_fails_for_strategies_that_never_traded(tmp_path):
    done = farm_cli("sweep", "--walker", "fs-walker", "--symbols", "ETH/BTC,XLM/BTC", "--imports", MODULE,
                    "--workers", "2", "--out", str(tmp_path / "sweep"), tmp_path=tmp_path)
    assert done.returncode == 1, done.stderr
    out = done.stdout.splitlines()
    assert "  1,156 strategy error(s) in 4 task(s):" in out
    assert "    289 × ValueError: no data for ETH/BTC at 00:00 (and 288 like it)" in out
    assert any(x.startswith("    578 signals rejected: Long: StopLoss too close to priceOpen.") for x in out)
    assert "  FAILED XLM/BTC fs_tight: never traded, every signal it produced failed (289 errors)" in out
    assert len(out) < 20 and len(diagnostics(done.stderr)) < 5
    report = (tmp_path / "sweep" / "README.md").read_text()  # per task, as before
    assert "symbol XLM/BTC at 2018-01-12T00:00:00.000Z (get_signal): ValueError: no data for XLM/BTC" in report


@pytest.mark.parametrize("count", [1, 204])
def test_identical_task_failures_are_one_cause(count):
    message = "JobError: module 'my_big' is not in this worker's FARM_IMPORTS (tests.farm.helpers)"
    causes = message_causes([message] * count + ["JobError: module 'other' failed to import: boom"])
    assert [c.line() for c in causes] == [f"{count} × {message}", "1 × JobError: module 'other' failed to import: boom"]
