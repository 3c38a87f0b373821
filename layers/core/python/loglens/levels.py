"""The six levels loglens stores, and every spelling of them that clients send.

Words (any case): see LEVEL_ALIASES. Numbers: a `level` that is a number is read on the
pino/bunyan scale (10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal; values in between
round down, above 60 is FATAL), the scale of every Node.js logger that writes numeric levels.
Python's logging numbers (10 debug … 50 critical) are a different scale: `python_level`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final


class Level(StrEnum):
    TRACE = "TRACE"
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    FATAL = "FATAL"


LEVEL_ALIASES: Final[dict[str, Level]] = {
    "trace": Level.TRACE,
    "finest": Level.TRACE,
    "silly": Level.TRACE,  # winston's lowest
    "debug": Level.DEBUG,
    "dbg": Level.DEBUG,
    "fine": Level.DEBUG,
    # winston's verbose sits between http and debug; Serilog's below debug. DEBUG is nearest to both.
    "verbose": Level.DEBUG,
    "info": Level.INFO,
    "information": Level.INFO,
    "informational": Level.INFO,
    "notice": Level.INFO,
    "http": Level.INFO,  # winston's request-log level, between info and verbose
    "success": Level.INFO,  # loguru
    "warn": Level.WARN,
    "warning": Level.WARN,
    "wrn": Level.WARN,
    "error": Level.ERROR,
    "err": Level.ERROR,
    "severe": Level.ERROR,
    "exception": Level.ERROR,
    "fatal": Level.FATAL,
    "critical": Level.FATAL,
    "crit": Level.FATAL,
    "panic": Level.FATAL,
    "emerg": Level.FATAL,
    "emergency": Level.FATAL,
    "alert": Level.FATAL,
}
_PINO_SCALE: Final = ((20, Level.TRACE), (30, Level.DEBUG), (40, Level.INFO), (50, Level.WARN), (60, Level.ERROR))
_PYTHON_SCALE: Final = ((10, Level.TRACE), (20, Level.DEBUG), (30, Level.INFO), (40, Level.WARN), (50, Level.ERROR))
# winston's colorize() format writes ANSI colour codes around the level even in JSON output.
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")


# Words exactly as most clients send them: one lookup, before any normalising.
_EXACT: Final[dict[str, Level]] = {**LEVEL_ALIASES, **{level.value: level for level in Level}}


def level_from_word(value: str) -> Level | None:
    found = _EXACT.get(value)
    if found is not None:
        return found
    text = value.strip().lower()
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return LEVEL_ALIASES.get(text)


def pino_level(number: float) -> Level | None:
    """pino/bunyan numeric levels; None below 10, where that scale has no level."""
    if number < 10:
        return None
    return next((level for bound, level in _PINO_SCALE if number < bound), Level.FATAL)


def python_level(number: float) -> Level:
    """Python logging's numbers (loguru uses them too: TRACE 5, SUCCESS 25)."""
    return next((level for bound, level in _PYTHON_SCALE if number < bound), Level.FATAL)
