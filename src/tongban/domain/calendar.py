"""Dates in Asia/Shanghai: they decide accumulator years, filing validity and clearing periods.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and needs
no time-zone database on the machine.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def in_shanghai(moment: datetime) -> datetime:
    """An aware moment as Shanghai time; a naive one is refused with ``ValueError``.

    ``astimezone`` would read a naive moment in the machine's own zone: a date that depends
    on where the server runs.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a moment needs a time zone, got {moment.isoformat()}")
    return moment.astimezone(SHANGHAI)


def local_date(moment: datetime) -> date:
    """The calendar date in Asia/Shanghai of an aware moment."""
    return in_shanghai(moment).date()
