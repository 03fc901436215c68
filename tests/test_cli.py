"""The `farm` command as a user runs it: a real subprocess, real files, real exit codes."""

from __future__ import annotations

import re
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
    assert re.search(r"compounded return [+-]?\d+\.\d\d%, max drawdown -?\d+\.\d\d%", result.stdout)
    report = (out / "backtest" / "sma_cross.md").read_text()
    assert report.startswith("# Backtest Report: sma_cross")
    for kind in ("schedule", "partial", "performance"):
        assert any((out / kind).iterdir())
    chart = (out / "chart" / "sma_cross_ETH-BTC.html").read_text()  # the interactive chart (issue #12)
    assert "<html" in chart.lower() and "Bokeh" in chart and "<script src=" not in chart
    assert f"report: {out / 'chart' / 'sma_cross_ETH-BTC.html'}" in result.stdout


def test_unknown_names_fail_with_one_line_and_non_zero_status(tmp_path):
    (tmp_path / "my_setup.py").write_text(USER_MODULE)
    result = farm_cli("backtest", "--strategy", "nope", "--exchange", "sample", "--frame", "week",
                      "--symbol", "ETH/BTC", "--imports", "my_setup", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: strategy nope not found source=backtest; ")
    assert "modules imported for registrations: my_setup;" in line and "--imports MODULE" in line
    assert "Traceback" not in result.stderr
    typo = farm_cli("backtest", "--strategy", "sma_cros", "--exchange", "sample", "--frame", "week",
                    "--symbol", "ETH/BTC", "--imports", "my_setup", cwd=tmp_path)
    assert typo.returncode == 2 and "did you mean sma_cross?" in typo.stderr, typo.stderr


def test_a_broken_strategy_module_is_named(tmp_path):
    (tmp_path / "broken.py").write_text("import farm\nraise RuntimeError('typo in my strategy')\n")
    result = farm_cli("backtest", "--strategy", "s", "--exchange", "e", "--frame", "f", "--symbol", "X",
                      "--imports", "broken", cwd=tmp_path)
    assert result.returncode == 2
    assert "module 'broken' failed while importing: RuntimeError: typo in my strategy" in result.stderr
    missing = farm_cli("backtest", "--strategy", "s", "--exchange", "e", "--frame", "f", "--symbol", "X",
                       "--imports", "no_such_module", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot import module 'no_such_module'" in missing.stderr


def test_demo_sweeps_the_bundled_strategies_and_writes_reports_and_pictures(tmp_path):
    out = tmp_path / "demo"
    result = farm_cli("demo", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = (out / "README.md").read_text()
    for symbol in ("ADA/BTC", "ETH/BTC", "TRX/BTC", "XLM/BTC"):
        assert f"| {symbol} |" in summary
        assert (out / "walker" / f"demo_{symbol.replace('/', '-')}.md").read_text().startswith(
            "# Walker Comparison Report: demo")
    heat = sorted(p.name for p in (out / "heat").glob("*.md"))
    assert "sma_cross(fast=5,slow=50).md" in heat and "breakout_retest.md" in heat and len(heat) == 9
    assert (out / "heatmap.png").stat().st_size > 10_000
    html = (out / "heatmap.html").read_text()
    assert "sma_cross(fast=20,slow=100)" in html and "ETH/BTC" in html
    assert "heatmap:" in result.stdout and "36 tasks" in result.stdout


SWEEP_MODULE = USER_MODULE + """
farm.add_walker("w", "sample", "week", ["sma_cross", farm.variant("sma_cross", fast=5)])
"""


def test_sweep_status_and_report_commands(tmp_path):
    (tmp_path / "my_sweep.py").write_text(SWEEP_MODULE)
    env = {"FARM_DATA_DIR": str(tmp_path / ".farm")}
    first = farm_cli("sweep", "--walker", "w", "--symbols", "ETH/BTC,XLM/BTC", "--imports", "my_sweep",
                     "--out", str(tmp_path / "out"), "--workers", "2", "--block-size", "2", cwd=tmp_path,
                     env_extra=env)
    assert first.returncode == 0, first.stderr
    assert "4 tasks, 4 run, 0 already stored, 0 failed" in first.stdout
    sweep_id = first.stdout.split()[1].rstrip(":")
    again = farm_cli("sweep", "--walker", "w", "--symbols", "ETH/BTC,XLM/BTC", "--imports", "my_sweep",
                     "--out", str(tmp_path / "out2"), cwd=tmp_path, env_extra=env)
    assert "4 tasks, 0 run, 4 already stored, 0 failed" in again.stdout  # blocks of 2 or the default: same keys
    bad = farm_cli("sweep", "--walker", "w", "--symbols", "ETH/BTC", "--imports", "my_sweep", "--block-size", "0",
                   cwd=tmp_path, env_extra=env)
    assert bad.returncode == 2 and "--block-size" in bad.stderr
    for name in ("README.md", "summary.json", "heatmap.html"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()
    status = farm_cli("status", sweep_id, cwd=tmp_path, env_extra=env)
    assert status.stdout.strip() == f"sweep {sweep_id}: 4/4 done, 0 failed, 0 pending"
    report = farm_cli("report", sweep_id, "--imports", "my_sweep", "--out", str(tmp_path / "out3"),
                      cwd=tmp_path, env_extra=env)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "out3" / "summary.json").read_bytes() == (tmp_path / "out" / "summary.json").read_bytes()


def test_sweep_with_unknown_names_fails_before_running(tmp_path):
    (tmp_path / "my_sweep.py").write_text(SWEEP_MODULE)
    result = farm_cli("sweep", "--walker", "nope", "--symbols", "ETH/BTC", "--imports", "my_sweep", cwd=tmp_path,
                      env_extra={"FARM_DATA_DIR": str(tmp_path / ".farm")})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: walker nope not found source=walker; ")
    missing = farm_cli("status", "no-such-sweep", cwd=tmp_path, env_extra={"FARM_DATA_DIR": str(tmp_path / ".farm")})
    assert missing.returncode == 2 and "sweep no-such-sweep not found" in missing.stderr


def test_an_unwritable_result_store_is_a_clear_error(tmp_path):
    (tmp_path / "my_sweep.py").write_text(SWEEP_MODULE)
    (tmp_path / "a-file").write_text("not a directory")
    result = farm_cli("sweep", "--walker", "w", "--symbols", "ETH/BTC", "--imports", "my_sweep", cwd=tmp_path,
                      env_extra={"FARM_DATA_DIR": str(tmp_path / "a-file" / "farm")})
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: file://") and "cannot write 'sweeps/" in line
    assert "Traceback" not in result.stderr


def test_every_command_documents_itself(tmp_path):
    for args in (["--help"], ["backtest", "--help"], ["demo", "--help"], ["sweep", "--help"], ["status", "--help"],
                 ["report", "--help"], ["worker", "--help"], ["flower", "--help"]):
        result = farm_cli(*args, cwd=tmp_path)
        assert result.returncode == 0 and "Usage" in result.stdout


def test_farm_worker_runs_celery_on_the_farm_queue_without_gossip_or_mingle():
    from farm.cli import celery_worker_args

    assert celery_worker_args("farm", ["--concurrency", "2"]) == [
        "-A", "workers.app:app", "worker", "-Q", "farm", "--without-gossip", "--without-mingle", "--concurrency", "2"]
    given = celery_worker_args("q", ["--without-mingle", "-l", "INFO"])
    assert given.count("--without-mingle") == 1 and given[-3:] == ["--without-mingle", "-l", "INFO"]


LIST_MODULE = USER_MODULE + '''
farm.add_walker("pair", "sample", "week", [farm.variant("sma_cross", fast=5), farm.variant("sma_cross", fast=8)])
'''


def test_farm_list_names_what_the_modules_registered(tmp_path):
    (tmp_path / "my_list.py").write_text(LIST_MODULE)
    result = farm_cli("list", "--imports", "my_list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "modules: my_list"
    assert "  sample" in lines
    assert "  week: 5m, 2018-01-12 00:00 to 2018-01-19 00:00 UTC" in lines
    [strategy] = [line for line in lines if line.startswith("  sma_cross: ")]
    assert "fast=10, slow=50" in strategy
    assert ("  pair: exchange sample, frame week, metric sharpe_ratio, 2 strategies: "
            "sma_cross(fast=5), sma_cross(fast=8)") in lines
    assert lines[lines.index("batches:") + 1] == "  (none)"
    bare = farm_cli("list", cwd=tmp_path, env_extra={"FARM_IMPORTS": ""})
    assert bare.returncode == 0 and bare.stdout.startswith("modules: none (name them with --imports or FARM_IMPORTS)")


def test_farm_version_prints_the_package_version(tmp_path):
    import farm

    result = farm_cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"farm {farm.__version__}"
