"""The real market candles bundled with the package, for ``farm demo`` and the golden test.

A small subset of the project's shared data (Parquet, one file per symbol and base interval,
named ``<SYMBOL with "-" for "/">_<interval>.parquet``): enough to run a multi-symbol sweep
with no download and no network, small enough to ship in the wheel.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from farm.data.sources import FileSource
from farm.errors import FarmError, NotFoundError
from farm.intervals import CANDLE_INTERVALS, interval_ms

__all__ = ["sample_dir", "sample_source", "sample_symbols"]

_SUFFIX = ".parquet"


def sample_dir() -> Path:
    """The directory of the bundled files, wherever the package is installed."""
    resource = files("farm").joinpath("sample_data")
    if isinstance(resource, Path):
        return resource
    # A zipped install has no real directory; FileSource needs paths it can open.
    try:
        path = Path(str(resource))
    except TypeError:
        path = None
    if path is None or not path.is_dir():
        raise FarmError(
            f"the bundled sample data is not on the file system ({resource!r}); install farm unzipped"
        )
    return path


def sample_symbols() -> dict[str, str]:
    """Bundled symbol -> its base interval, e.g. ``{"UNITTEST/BTC": "1m", "ETH/BTC": "5m"}``.

    Ordered by interval, then symbol, so the 1m golden-test symbol comes first.
    """
    found: list[tuple[int, str, str]] = []
    for path in sample_dir().glob(f"*_*{_SUFFIX}"):
        name, _, interval = path.name[: -len(_SUFFIX)].rpartition("_")
        if name and interval in CANDLE_INTERVALS:
            found.append((CANDLE_INTERVALS[interval], name.replace("-", "/"), interval))
    return {symbol: interval for _, symbol, interval in sorted(found)}


def sample_source(interval: str = "1m") -> FileSource:
    """A FileSource over the bundled files of base `interval` ("1m": UNITTEST/BTC, "5m": the pairs).

    The base interval matters: each file is served at its own interval and coarser ones, so a
    sweep over the 5m pairs wants ``sample_source("5m")`` and an engine ``base_interval`` of 5m.
    """
    interval_ms(interval)  # unknown names fail with the standard message
    available = sorted(set(sample_symbols().values()), key=CANDLE_INTERVALS.__getitem__)
    if interval not in available:
        raise NotFoundError(
            f"bundled sample data at interval {interval!r} not found (available: {', '.join(available)})"
        )
    directory = str(sample_dir()).replace("{", "{{").replace("}", "}}")
    return FileSource(f"{directory}/{{symbol}}_{{interval}}{_SUFFIX}", interval)
