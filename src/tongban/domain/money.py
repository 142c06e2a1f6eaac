"""Money is integer fen; ratios and quantities are ``Decimal``; rounding is half-up to the fen.

Parsers here are the only way external numbers enter the domain: they refuse floats and
booleans so that no binary fraction ever reaches an amount.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal

Fen = int

# ASCII digits only, no underscores or exponents: what a person would write on a bill.
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,9})?")
_YUAN = re.compile(r"(-?)([0-9]{1,13})(?:\.([0-9]{1,2}))?")  # below 10^15 fen
MAX_MAGNITUDE = Decimal(10) ** 15  # far beyond any bill; keeps products inside 28 digits

_ONE = Decimal(1)


def round_half_up(value: Decimal) -> Fen:
    """Round a Decimal number of fen to whole fen, halves away from zero (DESIGN.md §3)."""
    # Enough digits for the whole result: the default 28 raise InvalidOperation beyond 10^28
    # (a quantity times a huge price cap), where exact rounding is still well defined.
    digits = Context(prec=max(28, value.adjusted() + 2))
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP, context=digits))


def parse_fen(value: object, what: str = "amount") -> Fen:
    """An integer number of fen below 10^15 in magnitude. Strings of digits are accepted; floats
    and bools are not."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer number of fen, not a boolean")
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        if not value.copy_abs() < MAX_MAGNITUDE:  # before int(); abs() overflows at 1E+999999999
            raise _too_large(what)
        return int(value)
    if isinstance(value, int):
        if not abs(value) < MAX_MAGNITUDE:
            raise _too_large(what)
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"{what} must be an integer number of fen, got {value!r}")


def _too_large(what: str) -> ValueError:
    # Far beyond any bill, and beyond what the database columns hold; the value itself is not
    # quoted (the repr of a huge int can itself fail).
    return ValueError(f"{what} must be below 10^15 fen in magnitude")


def parse_decimal(value: object, what: str = "number") -> Decimal:
    """A decimal number given as a string (or int / exact Decimal), never a float."""
    if isinstance(value, (bool, float)):
        raise ValueError(f'{what} must be a decimal string such as "0.5", got {value!r}')
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        if not _DECIMAL.fullmatch(value.strip()):
            raise ValueError(f"{what} is not a decimal number: {value!r}")
        result = Decimal(value.strip())
    else:
        raise ValueError(f"{what} must be a decimal string, got {value!r}")
    if not result.is_finite() or result.copy_abs() >= MAX_MAGNITUDE:
        raise ValueError(f"{what} must be a finite number below 10^15, got {value!r}")
    exponent = result.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -9:
        # As for text: more places would be rounded away silently by 28-digit arithmetic.
        raise ValueError(f"{what} has more than 9 decimal places, got {value!r}")
    return result


def parse_ratio(value: object, what: str = "ratio") -> Decimal:
    """A ratio in [0, 1] as a Decimal."""
    ratio = parse_decimal(value, what)
    if not Decimal(0) <= ratio <= _ONE:
        raise ValueError(f"{what} must be between 0 and 1, got {value!r}")
    return ratio


def format_ratio(ratio: Decimal) -> str:
    """Canonical text of a ratio: no trailing zeros, never an exponent ("0.90" -> "0.9")."""
    text = format(ratio.normalize(), "f")
    return text


def parse_yuan(value: object, what: str = "amount") -> Fen:
    """Yuan text with at most two decimals ("142.51") as exact fen: the inverse of ``yuan``.

    For the edges that speak yuan (the national interface); a third decimal is refused, never
    rounded, and a float is refused like everywhere else.
    """
    match = _YUAN.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{what} must be yuan with at most two decimals, got {value!r}")
    sign, whole, cents = match.groups()
    fen = int(whole) * 100 + int((cents or "0").ljust(2, "0"))
    return -fen if sign else fen


def yuan(fen: Fen) -> str:
    """Fen as a yuan string with two decimals, for printed reports only."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"
