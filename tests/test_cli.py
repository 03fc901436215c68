"""The `farm` command as a user runs it: a real subprocess, real files, real exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def farm_cli(*args: str, cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


USER_MODULE = '''
import farm
from farm.data.sample import sample_source
import strategies.sma_cross
farm.set_config(base_interval="5m")
farm.add_exchange("sample", sample_source("5m"))
farm.add_frame("week", "5m", "2018-01-12", "2018-01-19")
'''


def test_backtest_command_writes_reports_and_prints_statistics(tmp_path):
    (tmp_path / "my_setup.py").write_text(USER_MODULE)
    out = tmp_path / "reports"
    result = farm_cli("backtest", "--strategy", "sma_cross", "--exchange", "sample", "--frame", "week",
                      "--symbol", "ETH/BTC", "--imports", "my_setup", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sma_cross on ETH/BTC:" in result.stdout
    report = (out / "backtest" / "sma_cross.md").read_text()
    assert report.startswith("# Backtest Report: sma_cross")
    for kind in ("schedule", "partial", "performance"):
        assert any((out / kind).iterdir())


def test_unknown_names_fail_with_one_line_and_non_zero_status(tmp_path):
    (tmp_path / "my_setup.py").write_text(USER_MODULE)
    result = farm_cli("backtest", "--strategy", "nope", "--exchange", "sample", "--frame", "week",
                      "--symbol", "ETH/BTC", "--imports", "my_setup", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: strategy nope not found source=backtest"]
    assert "Traceback" not in result.stderr


def test_a_broken_strategy_module_is_named(tmp_path):
    (tmp_path / "broken.py").write_text("import farm\nraise RuntimeError('typo in my strategy')\n")
    result = farm_cli("backtest", "--strategy", "s", "--exchange", "e", "--frame", "f", "--symbol", "X",
                      "--imports", "broken", cwd=tmp_path)
    assert result.returncode == 2
    assert "module 'broken' failed while importing: RuntimeError: typo in my strategy" in result.stderr
    missing = farm_cli("backtest", "--strategy", "s", "--exchange", "e", "--frame", "f", "--symbol", "X",
                       "--imports", "no_such_module", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot import module 'no_such_module'" in missing.stderr


def test_demo_runs_the_bundled_strategies_and_writes_a_summary(tmp_path):
    result = farm_cli("demo", "--out", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "demo" / "summary.md").read_text()
    for symbol in ("ADA/BTC", "ETH/BTC", "TRX/BTC", "XLM/BTC"):
        for strategy in ("sma_cross", "mean_reversion", "breakout_retest"):
            assert f"| {symbol} | {strategy} |" in summary
    assert len(list((tmp_path / "demo" / "backtest").glob("*.md"))) == 12


def test_every_command_documents_itself(tmp_path):
    for args in (["--help"], ["backtest", "--help"], ["demo", "--help"]):
        result = farm_cli(*args, cwd=tmp_path)
        assert result.returncode == 0 and "Usage" in result.stdout
