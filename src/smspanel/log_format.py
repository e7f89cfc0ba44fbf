"""One log record, one line: text a user typed cannot forge a log line or drive a terminal."""

from __future__ import annotations

import logging
import re

# Colour codes (werkzeug styles its request lines): decoration for a terminal, noise in a file,
# and in someone's input a way to hide text. They are dropped before anything is escaped.
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")

# C0 and C1 controls (newlines, escape, backspace...) and Unicode's line and paragraph separators.
CONTROL_CHARACTERS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_READABLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
ESCAPES = str.maketrans(
    {
        code: _READABLE.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        for code in CONTROL_CHARACTERS
    }
)


def single_line(text: str) -> str:
    """`text` with control characters and line separators written as escapes."""
    return ANSI_COLOUR.sub("", text).translate(ESCAPES)


class SingleLineFormatter(logging.Formatter):
    """Escapes the formatted message; a traceback follows it as is, being many lines anyway."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return single_line(super().formatMessage(record))


class PoolErrorsInOneLine(logging.Filter):
    """SQLAlchemy's pool logs a connection it could not reset (its database went away) with
    a full traceback. During an outage that floods the log with nothing new: requests already
    answer 503 and the dispatcher says it cannot reach the database. Keep the line and the
    error; drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("sqlalchemy.pool") and record.exc_info:
            error = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()}: {error!r}", None
            record.exc_info = record.exc_text = None
        return True


def configure_logging() -> None:
    """Log to stderr one line per record, so typed input cannot forge lines; werkzeug's request
    log propagates here too, as it adds its own handler only when none exists yet."""
    if not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(SingleLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(PoolErrorsInOneLine())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
