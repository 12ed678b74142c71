"""Durations as people write them in manifests ("90s", "2m", "1h30m").

The API parses them once, into `timedelta` (`Duration`): the rest of the operator never
sees the text. They serialize back to the shortest text, so a manifest round-trips.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Final

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

PATTERN: Final = r"^([0-9]+(ms|s|m|h))+$"
_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse(text: str) -> float:
    """Seconds in a duration string; raises ValueError naming the text when it is malformed."""
    if not re.fullmatch(PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: use digits with ms, s, m or h, e.g. 30s or 1h30m")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))


def format_seconds(seconds: float) -> str:
    """The shortest duration string for a whole number of seconds (for messages and defaults)."""
    whole = int(seconds)
    if whole != seconds:
        return f"{round(seconds * 1000)}ms"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def _to_timedelta(value: object) -> object:
    return timedelta(seconds=parse(value)) if isinstance(value, str) else value


def _to_text(value: timedelta) -> str:
    return format_seconds(value.total_seconds())


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_timedelta),
    PlainSerializer(_to_text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "example": "30s"}),
]


def text(value: timedelta) -> str:
    """The shortest text of a duration; PromQL reads the same units."""
    return _to_text(value)
