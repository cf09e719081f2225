"""Expiration timestamps as credential services write them (pure functions)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_timestamp", "parse_timestamp"]

_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r"\s*(Z|z|[+-]\d\d:?\d\d)?"
)


def parse_timestamp(value: str) -> float:
    """Seconds since the epoch for an ISO 8601 UTC timestamp.

    Accepts ``2026-11-26T10:14:46Z``, fractions of any length (moto's STS
    writes microseconds), ``+00:00``-style offsets, and no zone (read as UTC).
    Raises :class:`ValueError` on anything else.
    """
    match = _ISO.fullmatch(value.strip())
    if match is None:
        raise ValueError("not an ISO 8601 timestamp")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        moment -= sign * offset
    seconds = moment.timestamp()
    if fraction:
        seconds += int(fraction) / 10 ** len(fraction)
    return seconds


def format_timestamp(seconds: float) -> str:
    """``2026-11-26T10:14:46Z`` for seconds since the epoch (for log lines)."""
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
