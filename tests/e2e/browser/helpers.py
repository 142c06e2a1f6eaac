"""Small helpers the browser tests share: money as the page writes it, and finding demo samples."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails under CI) saying what to install
    expect = None

SHANGHAI, JINHUA, NANJING = "310000", "330700", "320100"

# shoot(page, name) -> the screenshot's path (a fixture of conftest.py)
Shoot = Callable[[Any, str], Path]


def tid(page: Any, testid: str) -> Any:
    """The element of the page's data-testid contract."""
    return page.get_by_test_id(testid)


def yuan(fen: int) -> str:
    """Integer fen as the page writes yuan, without the symbol: 123456 -> "1,234.56"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def fen_of(text: str) -> int:
    """A yuan amount as shown ("¥1,234.56", "-¥12.30") back to integer fen."""
    found = re.search(r"(-?)[¥￥]?\s*([\d,]+)\.(\d{2})", text)
    assert found, f"no yuan amount in {text!r}"
    sign, whole, cents = found.groups()
    value = int(whole.replace(",", "")) * 100 + int(cents)
    return -value if sign else value


def count_of(text: str) -> int:
    """A count as shown ("1,234") as an integer."""
    digits = re.sub(r"[^\d]", "", text)
    assert digits, f"no count in {text!r}"
    return int(digits)


def resident(samples: dict[str, Any], home: str, *, filed: bool, skip: int = 0) -> dict[str, Any]:
    """A demo resident of ``home`` with (or without) a filing; ``skip`` passes over the first
    few, so two tests never share a person."""
    found = [r for r in samples["residents"]
             if r["home_region"] == home and bool(r.get("filed")) == filed]
    assert len(found) > skip, f"the demo offers no {'filed' if filed else 'unfiled'} {home} person"
    return dict(found[skip])


def institution(samples: dict[str, Any], region: str, index: int = 0) -> dict[str, Any]:
    found = [i for i in samples["institutions"] if i["region"] == region]
    assert len(found) > index, f"the demo offers too few institutions of {region}"
    return dict(found[index])
