"""Where report files go: `<dir>/<kind>/<file>` with `<dir>` from the call, or FARM_DUMP_DIR."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from farm.config import get_settings

log = logging.getLogger("farm.reports")


def write_report(text: str, kind: str, filename: str, path: str | Path | None = None) -> Path:
    """Write a report; `path` is the directory (default `./dump/<kind>/`). Returns the file."""
    directory = Path(path) if path is not None else get_settings().dump_dir / kind
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / safe_filename(filename)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    log.info("report written: %s", target)
    return target


def safe_filename(filename: str) -> str:
    """Symbols like BTC/USDT and variant names must not create sub-directories, and a control
    character in a user's symbol (a NUL) must not stop a whole sweep's reports: each becomes "-"."""
    return _UNSAFE.sub("-", filename)


_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")
