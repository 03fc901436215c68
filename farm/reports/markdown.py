"""Markdown building blocks shared by every report: tables, cells, footer lines.

One helper per cell format, so a number looks the same in every report. Numbers are
formatted like JavaScript's `toFixed` (ties away from zero), not like Python's `format`
(ties to even), so reports match the reference digit for digit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from farm.engine.jsfmt import fixed
from farm.models import iso_ms

NA = "N/A"

T = TypeVar("T")

def to_fixed(x: float, digits: int) -> str:
    """JavaScript `Number.prototype.toFixed` (ties away from zero, `-0` as `0.00`)."""
    return fixed(x, digits)


def num(x: float | None, digits: int) -> str:
    """Plain fixed-point number (ratios, milliseconds): `-0.206`."""
    return NA if x is None else to_fixed(x, digits)


def pct(x: float | None, digits: int = 2) -> str:
    """Unsigned-style percentage (only a minus sign): `33.33%`, `1.940%`."""
    return NA if x is None else f"{to_fixed(x, digits)}%"


def pct_signed(x: float | None, digits: int = 2) -> str:
    """PnL-style percentage with a plus sign when positive: `+1.23%`, `-0.40%`, `0.00%`."""
    if x is None:
        return NA
    return f"{'+' if x > 0 else ''}{to_fixed(x, digits)}%"


def sci(x: float | None, digits: int = 2) -> str:
    """Scientific notation, `8.80e+15`: for values too wide for a fixed-size picture cell
    (the float quirk of SPEC §11.4 makes Sharpe ratios near 1e16)."""
    return NA if x is None else f"{x:.{digits}e}"


QUOTE_ASSETS = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP", "JPY", "TRY", "BRL", "AUD",
    "BTC", "ETH", "BNB", "XRP", "TRX", "SOL",
)
"""Quote assets recognised at the end of a symbol written without a separator (`BTCUSDT`)."""


def quote_asset(symbol: str | None) -> str | None:
    """The currency a symbol's prices are in: the quote of `BASE/QUOTE` (`ETH/BTC` → `BTC`,
    `BTC/USDT:USDT` → `USDT`), else a known quote asset the symbol ends with (`BTCUSDT` →
    `USDT`, `EURUSD` → `USD`); `None` when the symbol does not say (the price then has no
    suffix rather than a guessed one)."""
    if not symbol:
        return None
    if "/" in symbol:
        quote = symbol.split("/", 1)[1].split(":", 1)[0].strip()
        return quote or None
    upper_symbol = symbol.upper()
    for asset in sorted(QUOTE_ASSETS, key=len, reverse=True):
        if upper_symbol.endswith(asset) and len(upper_symbol) > len(asset):
            return asset
    return None


def price(x: float | None, quote: str | None = None) -> str:
    """Price/money cell: 8 decimals and the quote currency, `0.05260000 BTC` (the reference
    always wrote USD); no suffix when the currency is unknown."""
    if x is None:
        return NA
    return f"{to_fixed(x, 8)} {quote}" if quote else to_fixed(x, 8)


def iso(ms: int | None) -> str:
    """Time cell: ISO 8601 UTC with milliseconds, `2024-01-01T00:07:00.000Z`."""
    return NA if ms is None else iso_ms(ms)


def text(x: object) -> str:
    """Free-text cell (ids, notes, reasons); missing or empty → `N/A`."""
    return NA if x is None or x == "" else str(x)


def upper(x: str | None) -> str:
    """Enum-like cell shown upper-case (`LONG`, `CLOSED`); missing → `N/A`."""
    return NA if not x else x.upper()


def integer(x: int | None) -> str:
    """Whole-number cell (minutes, counts); missing → `N/A`."""
    return NA if x is None else str(int(x))


def row(cells: Sequence[str]) -> str:
    """One GitHub-markdown table row: `| a | b | c |`."""
    return f"| {' | '.join(cells)} |"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Header row, `| --- |` separator row, then the data rows, joined by newlines."""
    return "\n".join([row(header), row(["---"] * len(header)), *(row(r) for r in rows)])


def metric(label: str, value: str, hint: str | None = None) -> str:
    """Footer line `**Label:** value (hint)`; the hint is left out when the value is N/A."""
    if hint is None or value == NA:
        return f"**{label}:** {value}"
    return f"**{label}:** {value} ({hint})"


def limit_rows(items: Sequence[T], max_rows: int, noun: str) -> tuple[list[T], str | None]:
    """The first `max_rows` items (lists are newest first) and, if some were left out, the
    line saying so.

    D8: statistics always cover every record; only the table is shortened, and the reader
    must be told that the footer numbers cover more rows than the table shows.
    """
    shown = list(items[: max(0, max_rows)])
    if len(shown) == len(items):
        return shown, None
    return shown, (
        f"*Showing the {len(shown)} most recent of {len(items)} {noun}; statistics cover all of them.*"
    )


def document(*blocks: str | None) -> str:
    """Join report blocks with a blank line between them, skipping absent blocks.

    Each block is one or more lines; a report is `title`, table, footer, ... separated by
    blank lines, exactly as the reference lays them out.
    """
    return "\n\n".join(b for b in blocks if b is not None)
