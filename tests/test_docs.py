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
    # The standard statistics, not an extrapolated yearly figure (issue #12): a 9-day frame is
    # not annualised, and the return is the compounded equity.
    assert "Return [%]" in out and "Max. Drawdown [%]" in out and "Profit Factor" in out
    assert re.search(r"# Trades\s+" + str(stats.total_signals), out)
    assert "Expected Yearly Returns" not in out
    assert re.search(r"CAGR \[%\]\s+None", out)


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


# ---- the docs stand alone: every relative link resolves, nothing points outside the clone ----

ROOT = README.parent
DOCS = sorted([README, *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code: links and headings live there only."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower-cased, punctuation dropped, spaces to hyphens, -1, -2 ...
    for repeats."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in prose(path.read_text()).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path.read_text()))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)]


def test_docs_pages_exist_and_readme_links_them():
    names = {p.name for p in DOCS if p.parent.name == "docs"}
    assert {"README.md", "api.md", "behaviour.md", "farm.md"} <= names
    readme_links = relative_links(README)
    for page in ("docs/api.md", "docs/behaviour.md", "docs/farm.md"):
        assert any(link.split("#")[0] == page for link in readme_links), f"README does not link {page}"


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(README.parent)) for p in DOCS])
def test_every_relative_link_resolves(doc: Path):
    problems = []
    for target in relative_links(doc):
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            problems.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
        elif not linked.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(README.parent)) for p in DOCS])
def test_no_doc_sends_readers_outside_the_clone(doc: Path):
    text = doc.read_text()
    for missing in ("../shared", "API.md", "SPEC.md"):
        assert missing not in text, f"{doc.name} mentions {missing}, which a clone does not have"


def test_behaviour_lists_the_departures_in_order():
    """D1-D11 (the reference's defects) and every later one, numbered without a gap, with the
    line that says where the next goes."""
    text = (ROOT / "docs" / "behaviour.md").read_text()
    assert "deliberate-departures-from-backtest-kit" in anchors(ROOT / "docs" / "behaviour.md")
    numbers = [int(n) for n in re.findall(r"^\| D(\d+) \|", text, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 11
    assert f"D{len(numbers) + 1} and later" in text


def test_api_reference_names_every_public_name():
    text = (ROOT / "docs" / "api.md").read_text()
    missing = [name for name in farm.__all__ if name != "__version__" and not re.search(rf"\b{name}\b", text)]
    assert not missing, f"docs/api.md does not mention: {', '.join(missing)}"


def test_farm_reference_lists_every_setting():
    from farm.config import FarmSettings

    text = (ROOT / "docs" / "farm.md").read_text()
    missing = [f"FARM_{name.upper()}" for name in FarmSettings.model_fields if f"FARM_{name.upper()}" not in text]
    assert not missing, f"docs/farm.md does not list: {', '.join(missing)}"


def test_behaviour_lists_every_engine_config_field():
    from farm.config import EngineConfig

    text = (ROOT / "docs" / "behaviour.md").read_text()
    section = text[text.index("## Config and validation"):text.index("## Registries")]
    missing = [name for name in EngineConfig.model_fields if f"| `{name}` |" not in section]
    assert not missing, f"docs/behaviour.md's config table does not list: {', '.join(missing)}"
