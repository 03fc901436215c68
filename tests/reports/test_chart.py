"""The interactive chart of one backtest (issue #12): self-contained HTML, opened in a real
browser (headless Chromium, when installed) to check it draws."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

pytest.importorskip("bokeh")

import farm  # noqa: E402
import strategies  # noqa: E402
from farm.data.sample import sample_source  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def eth_backtest():
    farm.set_config(base_interval="5m")
    farm.add_exchange("sample", sample_source("5m"))
    farm.add_frame("days", "5m", "2018-01-18", "2018-01-24")
    strategies.register_all()
    list(farm.Backtest.run("ETH/BTC", strategy_name="sma_cross", exchange_name="sample", frame_name="days"))
    return farm.Backtest.get_data("ETH/BTC", "sma_cross")


def test_plot_writes_one_self_contained_page_with_every_trade(eth_backtest, tmp_path):
    path = farm.Backtest.plot("ETH/BTC", "sma_cross", exchange_name="sample", frame_name="days", path=tmp_path)
    assert path == tmp_path / "sma_cross_ETH-BTC.html"
    page = path.read_text()
    # No network needed: bokeh's JavaScript is inline, nothing is loaded from elsewhere.
    assert "<script src=" not in page and not re.search(r"<link[^>]+href=\"https?:", page)
    assert "Bokeh" in page and len(page) > 500_000
    for trade in eth_backtest.signal_list:
        assert trade.signal.id in page  # every trade is in the price panel's data
    assert "price (BTC)" in page  # priced in the quote currency
    assert "Equity" in page and "Drawdown" in page
    named = farm.Backtest.plot("ETH/BTC", "sma_cross", exchange_name="sample", frame_name="days",
                               path=tmp_path / "mine.html")
    assert named == tmp_path / "mine.html" and named.exists()


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian package chromium) is not installed")
def test_the_chart_draws_in_a_browser(eth_backtest, tmp_path):
    from PIL import Image

    path = farm.Backtest.plot("ETH/BTC", "sma_cross", exchange_name="sample", frame_name="days", path=tmp_path)
    shot = tmp_path / "chart.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--window-size=1400,1000", "--virtual-time-budget=5000", f"--screenshot={shot}", path.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    image = Image.open(shot).convert("RGB")
    # Drawn panels: the trades' win/loss colours and the equity line's blue appear on the page
    # (a page whose script failed would be white apart from the title text).
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}
    assert (0x1a, 0x98, 0x50) in colours or (0xd7, 0x30, 0x27) in colours
    assert (0x21, 0x66, 0xac) in colours
