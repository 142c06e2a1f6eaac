"""Dates in Asia/Shanghai: they decide accumulator years, filing validity and clearing periods.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and needs
no time-zone database on the machine.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def local_date(moment: datetime) -> date:
    """The calendar date in Asia/Shanghai of an aware moment."""
    return moment.astimezone(SHANGHAI).date()
