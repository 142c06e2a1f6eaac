"""Identifiers: resident ID numbers (身份证号), region codes (医保区划), institution codes.

Validation returns a normalised value or raises ``InvalidInput`` with a stable code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from tongban.domain.regions import is_region, province_codes
from tongban.errors import InvalidInput

_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"  # index = (Σ weight × digit) mod 11, ISO 7064 MOD 11-2
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")  # ASCII digits only: one person, one key
_REGION_SHAPE = re.compile(r"[0-9]{6}")
_INSTITUTION_SHAPE = re.compile(r"H([0-9]{6})([0-9]{5})")
# Province-level codes of GB/T 2260 that start every real address code (81-83: Hong Kong,
# Macao and Taiwan residents' residence permits, which share the ID number's format).
_ID_PROVINCES = frozenset(
    {
        *("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36"),
        *("37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62"),
        *("63", "64", "65", "71", "81", "82", "83"),
    }
)


def id_check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits of an ID number."""
    total = sum(w * int(d) for w, d in zip(_ID_WEIGHTS, first17, strict=True))
    return _CHECK_CHARS[total % 11]


@dataclass(frozen=True, slots=True)
class ResidentId:
    number: str
    birth_date: date

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)

    @property
    def is_female(self) -> bool:
        return int(self.number[16]) % 2 == 0


def parse_id_number(raw: object, today: date | None = None) -> ResidentId:
    """Validate an 18-character ID number: shape, province, check character, real birth date."""
    if not isinstance(raw, str):
        raise InvalidInput("INVALID_ID_NUMBER", "the ID number must be a string of 18 characters")
    number = raw.strip().upper()
    if not _ID_SHAPE.fullmatch(number):
        raise InvalidInput(
            "INVALID_ID_NUMBER", "an ID number is 17 digits and a check character (0-9 or X)"
        )
    if number[:2] not in _ID_PROVINCES:
        raise InvalidInput(
            "INVALID_ID_NUMBER", f"{mask_id_number(number)} does not start with a province code"
        )
    if id_check_char(number[:17]) != number[17]:
        raise InvalidInput(
            "INVALID_ID_NUMBER",
            f"the check character of {mask_id_number(number)} is wrong (ISO 7064 MOD 11-2)",
        )
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(
            "INVALID_ID_NUMBER", f"{mask_id_number(number)} does not contain a real birth date"
        ) from None
    if born.year < 1900 or (today is not None and born > today):
        raise InvalidInput(
            "INVALID_ID_NUMBER", f"{mask_id_number(number)} has an impossible birth date"
        )
    return ResidentId(number, born)


def make_id_number(area: str, born: date, sequence: int) -> str:
    """Compose a valid ID number (area code, birth date, 3-digit sequence) with its check char."""
    first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
    return first17 + id_check_char(first17)


def mask_id_number(number: str) -> str:
    """First 6 and last 4 characters shown; everything between hidden (DESIGN.md §5)."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def parse_region_code(raw: object, *, allow_province: bool = False) -> str:
    """A YRD region code (one of the 41 cities; a province code too when allowed)."""
    if not isinstance(raw, str) or not _REGION_SHAPE.fullmatch(raw):
        raise InvalidInput("INVALID_REGION", "a region code is 6 digits, e.g. 330700")
    if is_region(raw) or (allow_province and raw in province_codes()):
        return raw
    raise InvalidInput("UNKNOWN_REGION", f"{raw} is not a Yangtze River Delta region")


def parse_institution_code(raw: object) -> str:
    """`H` + 6-digit region code + 5 digits, with the region one of the 41."""
    if not isinstance(raw, str):
        raise InvalidInput("INVALID_INSTITUTION_CODE", "an institution code is a string")
    match = _INSTITUTION_SHAPE.fullmatch(raw)
    if not match or not is_region(match.group(1)):
        raise InvalidInput(
            "INVALID_INSTITUTION_CODE",
            f"{raw!r} is not an institution code (H + region code + 5 digits, e.g. H33070000012)",
        )
    return raw


def institution_region(code: str) -> str:
    return code[1:7]
