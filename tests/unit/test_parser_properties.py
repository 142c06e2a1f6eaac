"""Every parser of outside input, fed anything (DESIGN.md §3, §5; issue 5, hostile input).

The rule each one keeps: whatever arrives, it returns a value that is right and reads back to
itself, or raises its documented error (a ``TongbanError`` with a stable code, or the
``ValueError`` its module documents) — never another exception, never a silently wrong value.
The example tests (test_identifiers.py, test_money_parsing.py, test_ledger_rules.py, ...) pin
the rules with chosen cases; these throw arbitrary input at the same parsers.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tongban.domain.calendar import SHANGHAI, local_date
from tongban.domain.case import parse_line
from tongban.domain.catalogue import line_amount
from tongban.domain.clearing import Period
from tongban.domain.identifiers import (
    institution_region,
    make_id_number,
    mask_id_number,
    parse_id_number,
    parse_institution_code,
    parse_region_code,
)
from tongban.domain.money import (
    format_ratio,
    parse_decimal,
    parse_fen,
    parse_ratio,
    parse_yuan,
    round_half_up,
    yuan,
)
from tongban.domain.regions import province_codes, yrd_regions
from tongban.errors import InvalidInput

properties = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

YRD = sorted(r.code for r in yrd_regions())
# Province-level codes of GB/T 2260 (81/82/83: Hong Kong, Macao, Taiwan residence permits).
PROVINCES = [
    *("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37"),
    *("41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64"),
    *("65", "71", "81", "82", "83"),
]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # ISO 7064 MOD 11-2, by hand
# Every decimal digit that is not ASCII, by value: int() reads them all, a parser must not.
OTHER_DIGITS = {d: [c for c in map(chr, range(sys.maxunicode + 1)) if c not in "0123456789"
                    and unicodedata.category(c) == "Nd" and unicodedata.digit(c) == d]
                for d in range(10)}
X_LOOKALIKES = ["Ｘ", "ｘ", "Х", "Χ", "Ⅹ", "✕"]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars | st.decimals(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8,
)
areas = st.builds(lambda p, n: f"{p}{n:04d}", st.sampled_from(PROVINCES), st.integers(0, 9999))
births = st.dates(date(1900, 1, 1), date(2099, 12, 31))
valid_ids = st.builds(make_id_number, areas, births, st.integers(0, 999))
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(datetime(1901, 1, 1), datetime(2998, 12, 31), timezones=offsets)


def with_check_char(first17: str) -> str:
    total = sum(w * int(d) for w, d in zip(_WEIGHTS, first17, strict=True))
    return first17 + "10X98765432"[total % 11]


@st.composite
def damaged_ids(draw: st.DrawFn) -> str:
    """A valid number with one character replaced by anything, or re-cased, or padded."""
    number = draw(valid_ids)
    at = draw(st.integers(0, 17))
    other = draw(st.characters() | st.sampled_from(X_LOOKALIKES + list("0123456789X")))
    changed = number[:at] + other + number[at + 1:]
    return draw(st.sampled_from([changed, number.lower(), f" {number}\t", number[:at]]))


# --------------------------------------------------------------------------- ID numbers
@properties
@given(st.one_of(damaged_ids(), st.text(max_size=24), json_values))
def test_an_id_number_is_read_exactly_or_refused_without_being_echoed(raw: Any) -> None:
    try:
        resident = parse_id_number(raw)
    except InvalidInput as refused:
        assert refused.code == "INVALID_ID_NUMBER"
        assert re.search(r"[0-9]{11}", refused.detail) is None  # masked, never the number
        return
    number = resident.number
    assert number == raw.strip().upper() == with_check_char(number[:17])
    assert re.fullmatch(r"[0-9]{17}[0-9X]", number, re.ASCII) and number[:2] in PROVINCES
    assert resident.birth_date == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert parse_id_number(number) == resident


@properties
@given(st.sampled_from(PROVINCES), st.integers(0, 9999), st.integers(0, 99_999_999),
       st.integers(0, 999), st.dates(date(1900, 1, 1), date(2100, 1, 1)))
def test_an_id_number_is_accepted_exactly_when_its_birth_date_is_a_real_day_up_to_today(
    province: str, county: int, birth: int, sequence: int, today: date
) -> None:
    number = with_check_char(f"{province}{county:04d}{birth:08d}{sequence:03d}")
    try:
        born = date(birth // 10_000, birth // 100 % 100, birth % 100)
        plausible = born.year >= 1900 and born <= today
    except ValueError:
        plausible = False
    try:
        assert parse_id_number(number, today).birth_date == born
        assert plausible
    except InvalidInput:
        assert not plausible


@properties
@given(st.integers(0, 99).map("{:02d}".format).filter(lambda p: p not in PROVINCES),
       st.integers(0, 9999), births, st.integers(0, 999))
@example("00", 0, date(1990, 1, 1), 5)
def test_an_id_number_whose_region_is_no_province_is_refused(
    prefix: str, county: int, born: date, sequence: int
) -> None:
    number = make_id_number(f"{prefix}{county:04d}", born, sequence)
    try:
        parse_id_number(number)
        raise AssertionError(f"{mask_id_number(number)} was accepted")
    except InvalidInput as refused:
        assert refused.code == "INVALID_ID_NUMBER"


@properties
@given(valid_ids, st.integers(0, 17), st.data())
def test_an_id_number_with_any_non_ascii_digit_or_x_is_refused(
    number: str, at: int, data: st.DataObject
) -> None:
    original = number[at]
    other = data.draw(st.sampled_from(
        X_LOOKALIKES if original == "X" else OTHER_DIGITS[int(original)]))
    assert original != other
    try:
        parse_id_number(number[:at] + other + number[at + 1:])
        raise AssertionError("a non-ASCII character was read as a digit")
    except InvalidInput as refused:
        assert refused.code == "INVALID_ID_NUMBER"


@properties
@given(valid_ids, st.integers(0, 15))
def test_swapping_two_neighbouring_digits_of_an_id_number_is_always_detected(
    number: str, at: int
) -> None:
    swapped = number[:at] + number[at + 1] + number[at] + number[at + 2:]
    if swapped != number:
        try:
            parse_id_number(swapped)
            raise AssertionError("a transposition went unnoticed")
        except InvalidInput:
            pass


@properties
@given(areas, births, st.integers(0, 999))
def test_composed_numbers_of_every_province_round_trip_whatever_their_case_and_spacing(
    area: str, born: date, sequence: int
) -> None:
    number = make_id_number(area, born, sequence)
    for written in (number, number.lower(), f"\u3000{number}\n"):
        resident = parse_id_number(written)
        assert (resident.number, resident.birth_date) == (number, born)
    assert mask_id_number(number) == number[:6] + "********" + number[14:]


@properties
@given(st.text())
def test_masking_keeps_the_length_and_shows_at_most_the_first_six_and_last_four(text: str) -> None:
    masked = mask_id_number(text)
    assert len(masked) == len(text)
    if len(text) > 10:
        assert masked == text[:6] + "*" * (len(text) - 10) + text[-4:]
    else:
        assert set(masked) <= {"*"}


# --------------------------------------------------------------------------- region and institution
codes = st.sampled_from(YRD + sorted(province_codes()) + ["110000", "330799", "000000"])


@properties
@given(st.one_of(codes, codes.map(lambda c: c[:5] + "\uff10"), st.text(max_size=7), json_values),
       st.booleans())
def test_a_region_code_is_one_of_the_41_cities_or_an_allowed_province_or_refused(
    raw: Any, allow_province: bool
) -> None:
    known = isinstance(raw, str) and (
        raw in YRD or (allow_province and raw in province_codes()))
    try:
        assert parse_region_code(raw, allow_province=allow_province) == raw
        assert known
    except InvalidInput as refused:
        six_digits = isinstance(raw, str) and re.fullmatch(r"[0-9]{6}", raw, re.ASCII)
        assert refused.code == ("UNKNOWN_REGION" if six_digits else "INVALID_REGION")
        assert not known


institutions = st.builds(lambda r, n: f"H{r}{n:05d}", codes, st.integers(0, 99999))


@properties
@given(st.one_of(institutions, institutions.map(lambda c: c.lower()),
                 institutions.map(lambda c: c[:-1] + "\u0663"), st.text(max_size=13), json_values))
def test_an_institution_code_is_h_a_city_and_five_digits_or_refused(raw: Any) -> None:
    shaped = isinstance(raw, str) and re.fullmatch(r"H[0-9]{11}", raw, re.ASCII)
    valid = bool(shaped) and raw[1:7] in YRD
    try:
        assert parse_institution_code(raw) == raw and institution_region(raw) == raw[1:7]
        assert valid
    except InvalidInput as refused:
        assert refused.code == "INVALID_INSTITUTION_CODE" and not valid


# --------------------------------------------------------------------------- amounts and quantities
LIMIT = 10**15  # fen; parsers keep every amount below it (MAX_MAGNITUDE)


def half_up(x: Fraction) -> int:
    """Round to a whole number, halves away from zero: the reference for round_half_up."""
    whole = int(abs(x) + Fraction(1, 2))
    return whole if x >= 0 else -whole


def expected_fen(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and re.fullmatch(r"-?[0-9]{1,15}", raw.strip(), re.ASCII):
        raw = int(raw.strip())
    if isinstance(raw, Decimal) and raw.is_finite() and raw.copy_abs() < LIMIT and raw % 1 == 0:
        raw = int(raw)
    return raw if isinstance(raw, int) and abs(raw) < LIMIT else None


@properties
@given(st.one_of(st.integers(), st.integers(-LIMIT, LIMIT).map(str), st.text(max_size=17),
                 st.decimals(), st.floats(), json_values))
@example(LIMIT)
@example(-LIMIT)
@example(10**5000)
@example(Decimal("1E+999999999"))
def test_fen_are_whole_numbers_below_ten_to_the_fifteen_or_refused(raw: Any) -> None:
    expected = expected_fen(raw)
    try:
        fen = parse_fen(raw)
    except ValueError:
        assert expected is None
    else:
        assert type(fen) is int and fen == expected


def decimal_texts(places: int = 9) -> st.SearchStrategy[str]:
    return st.integers(0, places).flatmap(lambda p: st.decimals(
        -LIMIT + 1, LIMIT - 1, places=p, allow_nan=False, allow_infinity=False)).map(
        lambda d: format(d, "f"))


specials = st.sampled_from(["NaN", "-Infinity", "Infinity", "sNaN", "1e3", "-0", "0", "1E-10"])


@properties
@given(st.one_of(decimal_texts(12), specials, st.text(max_size=12), st.decimals(), json_values))
@example(Decimal("0.4999999999999999999999999999999"))
@example(Decimal("NaN"))
@example(Decimal("-1E+999999999"))
def test_a_decimal_is_exact_finite_below_ten_to_the_fifteen_with_at_most_nine_places(
    raw: Any,
) -> None:
    text = raw.strip() if isinstance(raw, str) else None
    expected = (Decimal(text) if text and re.fullmatch(r"-?[0-9]{1,15}(\.[0-9]{1,9})?", text,
                                                       re.ASCII) else None)
    if isinstance(raw, Decimal) and raw.is_finite() and raw.copy_abs() < LIMIT:
        expected = raw if raw.as_tuple().exponent >= -9 else None  # as written, like text
    if type(raw) is int and abs(raw) < LIMIT:
        expected = Decimal(raw)
    try:
        value = parse_decimal(raw)
    except ValueError:
        assert expected is None or isinstance(raw, (bool, float))
    else:
        assert isinstance(value, Decimal) and value == expected
        assert parse_decimal(format(value, "f")) == value  # and it reads back from its text


@properties
@given(st.one_of(decimal_texts(), specials, st.text(max_size=10), json_values),
       st.integers(0, 10**9))
def test_a_quantity_is_a_positive_decimal_and_its_amount_is_exactly_rounded_half_up(
    raw: Any, price: int
) -> None:
    try:
        amount = line_amount(parse_line({"code": "X", "quantity": raw, "unit_price": price}, 0), 0)
    except InvalidInput as refused:
        assert refused.code == "INVALID_LINE"
        try:
            q = Fraction(parse_decimal(raw))
        except ValueError:
            return
        assert q <= 0 or q * price >= LIMIT
        return
    quantity = Fraction(Decimal(raw.strip()) if isinstance(raw, str) else raw)
    assert quantity > 0 and amount == half_up(quantity * price)


@properties
@given(st.decimals(-(10**40), 10**40, allow_nan=False, allow_infinity=False))
@example(Decimal("999999999999999.999999999") * 999_999_999_999_999)
def test_rounding_half_up_is_exact_for_any_decimal_however_large(value: Decimal) -> None:
    assert round_half_up(value) == half_up(Fraction(value))


@properties
@given(st.integers(-LIMIT + 1, LIMIT - 1))
def test_fen_written_as_yuan_read_back_to_the_same_fen(fen: int) -> None:
    text = yuan(fen)
    assert re.fullmatch(r"-?[0-9]+\.[0-9]{2}", text) and Fraction(Decimal(text)) * 100 == fen
    assert parse_yuan(text) == fen


@properties
@given(st.one_of(decimal_texts(4), st.integers(-LIMIT, LIMIT).map(lambda f: yuan(f * 10)),
                 specials, st.text(max_size=10), json_values))
def test_yuan_text_is_exact_fen_with_at_most_two_decimals_or_refused(raw: Any) -> None:
    shaped = isinstance(raw, str) and re.fullmatch(r"-?[0-9]{1,13}(\.[0-9]{1,2})?", raw.strip(),
                                                   re.ASCII)
    try:
        fen = parse_yuan(raw)
    except ValueError:
        assert not shaped
    else:
        assert shaped and type(fen) is int and Fraction(Decimal(raw.strip())) * 100 == fen


@properties
@given(st.one_of(decimal_texts(), specials, st.text(max_size=6), json_values))
def test_a_ratio_is_between_zero_and_one_and_reads_back_from_its_canonical_text(raw: Any) -> None:
    try:
        ratio = parse_ratio(raw)
    except ValueError:
        return
    assert Decimal(0) <= ratio <= Decimal(1) and ratio == parse_decimal(raw)
    assert parse_ratio(format_ratio(ratio)) == ratio and "E" not in format_ratio(ratio)


# --------------------------------------------------------------------------- periods and days
periodish = st.builds("{:04d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13))


@properties
@given(st.one_of(periodish, periodish.map(lambda p: f" {p}\n"), st.text(max_size=8), json_values))
@example(None)
@example(202611)
def test_a_period_is_an_ascii_year_and_month_from_2000_to_2999_or_refused(raw: Any) -> None:
    shaped = isinstance(raw, str) and re.fullmatch(r"2[0-9]{3}-(0[1-9]|1[0-2])", raw.strip(),
                                                   re.ASCII)
    try:
        period = Period.parse(raw)
    except InvalidInput as refused:
        assert refused.code == "INVALID_PERIOD" and not shaped
    else:
        assert shaped and str(period) == raw.strip() and Period.parse(str(period)) == period


@properties
@given(moments)
def test_a_moment_lies_in_the_period_and_on_the_day_it_has_in_shanghai(moment: datetime) -> None:
    period, day = Period.of(moment), local_date(moment)
    assert period.starts_at <= moment < period.ends_at
    assert datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) <= moment
    assert day == (moment.astimezone(UTC) + timedelta(hours=8)).date()


@properties
@given(st.datetimes())
def test_a_moment_without_a_time_zone_is_refused_not_read_in_the_machines_zone(
    naive: datetime,
) -> None:
    for read in (local_date, Period.of):
        try:
            read(naive)
            raise AssertionError(f"{read.__name__} guessed a time zone")
        except ValueError:
            pass
