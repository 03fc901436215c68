"""The README's examples run as written (against the bundled data instead of ./data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import farm
from farm.data.sample import sample_dir

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_quick_start_runs_and_trades(capsys):
    code = python_block_after("## Quick start")
    code = code.replace('"data/{symbol}_{interval}.parquet"', repr(f"{sample_dir()}/{{symbol}}_{{interval}}.parquet"))
    exec(compile(code, "README quick start", "exec"), {})
    stats = farm.Backtest.get_data("UNITTEST/BTC", "breakout")
    assert stats.total_signals > 0
    out = capsys.readouterr().out
    assert "# Backtest Report: breakout" in out
    assert f"**Total signals:** {stats.total_signals}" in out


def all_python_blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"```python\n(.*?)```", text, re.S):
        heading = [line for line in text[: match.start()].splitlines() if line.startswith("## ")][-1]
        blocks.append((heading, match.group(1)))
    return blocks


@pytest.mark.parametrize(("heading", "code"), [b for b in all_python_blocks() if "Quick start" not in b[0]],
                         ids=[b[0] for b in all_python_blocks() if "Quick start" not in b[0]])
def test_every_readme_example_runs(heading, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README {heading}", "exec"), {})
    out = capsys.readouterr().out
    assert out.strip(), "each example prints what it shows"
    if "walker" in heading:
        assert "# Portfolio Heatmap: sma_cross" in out and "| ETH/BTC |" in out and "| XLM/BTC |" in out
    if "Risk profiles" in heading:
        assert out.strip().splitlines()[-1] == "0.1"
    if "Fast path" in heading:  # the kernel ran, and the per-tick engine gave the very same trades
        lines = out.strip().splitlines()
        assert lines[0].endswith("trades on kernel (numba)") and int(lines[0].split()[0]) > 0
        assert lines[1].startswith("True per-tick")
    if "The farm" in heading:
        assert (tmp_path / "dump" / "my-sweep" / "tasks.parquet").exists()


def test_readme_has_exactly_the_two_setup_commands():
    text = README.read_text()
    setup = text[text.index("## Set-up"):text.index("## Quick start")]
    commands = re.findall(r"```bash\n(.*?)\n```", setup, re.S)
    assert commands == ['pip install -e . && farm demo', 'pip install -e ".[dev]" && python -m pytest']
    assert 'python3 -m pip install -q -e ".[dev]" && python3 -m pytest' in (README.parent / ".ci" / "run").read_text()
