#!/usr/bin/env bash
# Render a sample sweep heatmap (HTML + matplotlib PNG) and screenshot the HTML page with
# headless Chromium, to eyeball both pictures. A manual tool, not part of the test suite.
#
#   scripts/screenshot_heatmap.sh [OUT_DIR] [METRIC]
#
# OUT_DIR defaults to ./dump/heatmap-screenshot, METRIC to sharpe_ratio. Needs the Debian
# package `chromium` (apt-get install -y chromium) and matplotlib.
set -euo pipefail

OUT_DIR="${1:-./dump/heatmap-screenshot}"
METRIC="${2:-sharpe_ratio}"
WINDOW_SIZE="${WINDOW_SIZE:-1280,900}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"

CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$CHROMIUM" ]]; then
  echo "chromium not found: apt-get install -y chromium" >&2
  exit 1
fi

cd "$REPO"
python - "$OUT_DIR" "$METRIC" <<'PY'
"""A deterministic sample sweep: 4 symbols × 7 strategy variants, with the awkward cases
(a strategy that never traded one symbol, a single-trade row with N/A Sharpe, and the
identical-PnL float quirk that gives a Sharpe near 1e16)."""
import random
import sys
from pathlib import Path

from farm.heat import heatmap_statistics
from farm.models import ClosedResult, PnL, SignalRow
from farm.reports.heatmap import heatmap_matrix, render_heatmap_html, render_heatmap_png

out, metric = Path(sys.argv[1]), sys.argv[2]
T0, MIN = 1_704_067_200_000, 60_000


def trade(symbol: str, strategy: str, k: int, pnl: float) -> ClosedResult:
    at = T0 + k * 90 * MIN
    s = SignalRow(id=f"{strategy}-{symbol}-{k}", position="long", price_open=100.0, price_take_profit=102.0,
                  price_stop_loss=98.0, minute_estimated_time=60, note="", symbol=symbol,
                  strategy_name=strategy, exchange_name="sample", scheduled_at=at, pending_at=at)
    return ClosedResult(signal=s, current_price=100.0, close_reason="take_profit", close_timestamp=at + 60 * MIN,
                        pnl=PnL(pnl_percentage=pnl, price_open=100.0, price_close=100.0),
                        symbol=symbol, strategy_name=strategy, exchange_name="sample")


symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
strategies = [f"sma_cross(fast={f},slow={s})" for f, s in ((5, 20), (10, 50), (20, 100))]
strategies += ["rsi_revert(lower=25,period=14,upper=75)", "breakout(lookback=48)", "fixed_tp", "buy_and_hold"]
rng = random.Random(7)
stats = {}
for j, strategy in enumerate(strategies):
    by_symbol = {}
    for i, symbol in enumerate(symbols):
        if strategy == "breakout(lookback=48)" and symbol == "XRPUSDT":
            continue  # never traded: N/A cell
        if strategy == "buy_and_hold":
            by_symbol[symbol] = [trade(symbol, strategy, 0, rng.uniform(-3, 3))]  # 1 trade: Sharpe N/A
            continue
        if strategy == "fixed_tp" and symbol == "SOLUSDT":
            by_symbol[symbol] = [trade(symbol, strategy, k, 0.1) for k in range(8)]  # float quirk
            continue
        edge = (j - 2) * 0.12 + (i - 1.5) * 0.1
        by_symbol[symbol] = [trade(symbol, strategy, k, rng.gauss(edge, 1.0)) for k in range(40)]
    stats[strategy] = heatmap_statistics(by_symbol)

matrix = heatmap_matrix(stats, metric, symbols=symbols, title="Sample sweep")
print(render_heatmap_html(matrix, out / "heatmap.html"))
print(render_heatmap_png(matrix, out / "heatmap.png"))
PY

PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$PROFILE" \
  --hide-scrollbars --screenshot="$OUT_DIR/heatmap_html.png" --window-size="$WINDOW_SIZE" \
  "file://$OUT_DIR/heatmap.html" 2>/dev/null
echo "$OUT_DIR/heatmap_html.png"
