"""Credentials never leave the process in text: the one rule that masks them.

Every URL the farm prints, logs, raises or puts in a message goes through `mask_url` (one URL)
or `mask_text` (any text that may quote URLs, such as a driver's exception message): the
password of `scheme://user:password@host` becomes `**`. `MaskingFilter` applies `mask_text` to
log records, so a third-party message that quotes a URL is masked too.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "**"

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s/]+)@")
"""`scheme://user:password@` anywhere in a text (the user may be empty: `redis://:secret@host`)."""


def mask_url(url: str) -> str:
    """`url` with any password replaced by `**` (`redis://:**@host:6379/0`); a URL without one,
    or text that is no URL, comes back unchanged."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return mask_text(url)
    if password is None or password == MASK:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def mask_text(text: str) -> str:
    """`text` with the password of every URL in it masked."""
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


class MaskingFilter(logging.Filter):
    """Masks URL passwords in a record's message (arguments included) before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the logging module's to report
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        return True


def install_log_masking(*loggers: logging.Logger) -> None:
    """Attach one `MaskingFilter` to the handlers of the root logger, of `loggers` and to the
    last-resort handler (filters on a handler see records from every logger that propagates to
    it)."""
    seen: set[int] = set()
    handlers = [handler for logger in (logging.getLogger(), *loggers) for handler in logger.handlers]
    if logging.lastResort is not None:  # what prints a warning when no logging is configured (the CLI)
        handlers.append(logging.lastResort)
    for handler in handlers:
        if id(handler) in seen or any(isinstance(f, MaskingFilter) for f in handler.filters):
            continue
        seen.add(id(handler))
        handler.addFilter(MaskingFilter())


__all__ = ["MASK", "MaskingFilter", "install_log_masking", "mask_text", "mask_url"]
