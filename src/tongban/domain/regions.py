"""The 41 cities of the Yangtze River Delta (长三角), by 6-digit medical-insurance region code.

The list ships with the package (a copy of ``shared/data/yrd-regions.csv``) so nothing is
read from outside at run time.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    province: str
    name_zh: str
    name_en: str

    @property
    def province_code(self) -> str:
        return province_code_of(self.code)


def province_code_of(region_code: str) -> str:
    """Province = first two digits + "0000" (DESIGN.md §3)."""
    return region_code[:2] + "0000"


@cache
def yrd_regions() -> tuple[Region, ...]:
    text = files("tongban.data").joinpath("yrd-regions.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return tuple(Region(r["code"], r["province"], r["name_zh"], r["name_en"]) for r in rows)


@cache
def regions_by_code() -> dict[str, Region]:
    return {r.code: r for r in yrd_regions()}


@cache
def province_codes() -> frozenset[str]:
    return frozenset(province_code_of(r.code) for r in yrd_regions())


def region(code: str) -> Region:
    """The YRD city with this code; KeyError if it is not one of the 41."""
    return regions_by_code()[code]


def is_region(code: str) -> bool:
    return code in regions_by_code()


def covers(target: str, visit_region: str) -> bool:
    """Does a filing target (a city code, or a province code) cover the visit region?"""
    if target == visit_region:
        return True
    return target in province_codes() and province_code_of(visit_region) == target
