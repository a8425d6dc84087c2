"""The one timestamp format of the API: UTC, microseconds, ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_utc(moment: datetime) -> str:
    # isoformat, unlike strftime's %Y, always writes four year digits (year 999 is "0999").
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
