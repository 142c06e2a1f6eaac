"""Resident ID numbers, region codes and institution codes (DESIGN.md §3, §5)."""

from __future__ import annotations

import csv
from datetime import date
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.domain.identifiers import (
    institution_region,
    make_id_number,
    mask_id_number,
    parse_id_number,
    parse_institution_code,
    parse_region_code,
)
from tongban.domain.regions import yrd_regions
from tongban.errors import InvalidInput

VALID_ID = "11010519491231002X"

# ISO 7064 MOD 11-2, written out independently of the code under test.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def with_check_char(first17: str) -> str:
    return first17 + _CHECK[sum(w * int(d) for w, d in zip(_WEIGHTS, first17, strict=True)) % 11]


def invalid_code(call, *args, **kwargs) -> str:
    with pytest.raises(InvalidInput) as invalid:
        call(*args, **kwargs)
    return invalid.value.code


# --------------------------------------------------------------------------- ID numbers


def test_the_sample_id_number_is_valid_and_its_birth_date_is_read():
    resident = parse_id_number(VALID_ID)

    assert resident.number == VALID_ID
    assert resident.birth_date == date(1949, 12, 31)


def test_the_check_character_helper_agrees_with_the_sample():
    assert with_check_char(VALID_ID[:17]) == VALID_ID


def test_a_lowercase_x_check_character_is_accepted_and_normalised():
    assert parse_id_number(VALID_ID.lower()).number == VALID_ID


@pytest.mark.parametrize(
    "raw",
    [
        VALID_ID[:17] + "1",  # wrong check character (should be X)
        VALID_ID[:17],  # 17 characters
        VALID_ID + "0",  # 19 characters
        "1101051949123100AX",  # letters
        "11010519491231002Y",  # a check character other than 0-9 or X
        with_check_char("11010519990230001"),  # 30 February 1999
        with_check_char("11010519991301001"),  # month 13
        with_check_char("11010518991231001"),  # born before 1900
        "",
    ],
    ids=[
        "wrong-check-char",
        "17-chars",
        "19-chars",
        "letters",
        "check-char-Y",
        "impossible-date",
        "month-13",
        "born-before-1900",
        "empty",
    ],
)
def test_an_invalid_id_number_is_refused(raw):
    assert invalid_code(parse_id_number, raw) == "INVALID_ID_NUMBER"


@pytest.mark.parametrize("raw", [None, 11010519491231002, ["x"]], ids=["none", "int", "list"])
def test_an_id_number_that_is_not_a_string_is_refused(raw):
    assert invalid_code(parse_id_number, raw) == "INVALID_ID_NUMBER"


def test_a_birth_date_after_today_is_refused_when_today_is_given():
    number = with_check_char("11010520300101001")

    assert parse_id_number(number).birth_date == date(2030, 1, 1)  # no clock: accepted
    assert invalid_code(parse_id_number, number, today=date(2025, 6, 1)) == "INVALID_ID_NUMBER"


def test_an_id_number_written_in_full_width_digits_is_refused():
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in VALID_ID)

    assert invalid_code(parse_id_number, full_width) == "INVALID_ID_NUMBER"


@settings(deadline=None)
@given(
    area=st.sampled_from([r.code for r in yrd_regions()]),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    sequence=st.integers(0, 999),
)
def test_composed_id_numbers_are_always_accepted(area, born, sequence):
    number = make_id_number(area, born, sequence)

    resident = parse_id_number(number)
    assert resident.number == number == with_check_char(number[:17])
    assert resident.birth_date == born
    assert number[:6] == area


@settings(deadline=None)
@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    sequence=st.integers(0, 999),
    position=st.integers(0, 16),
    shift=st.integers(1, 9),
)
def test_changing_any_one_digit_of_an_id_number_is_always_detected(born, sequence, position, shift):
    number = make_id_number("330702", born, sequence)
    digit = str((int(number[position]) + shift) % 10)
    altered = number[:position] + digit + number[position + 1 :]

    assert invalid_code(parse_id_number, altered) == "INVALID_ID_NUMBER"


def test_masking_shows_only_the_first_six_and_last_four_characters():
    assert mask_id_number(VALID_ID) == "110105********002X"
    assert parse_id_number(VALID_ID).masked == "110105********002X"


@pytest.mark.parametrize(
    "raw",
    [VALID_ID[:17] + "1", with_check_char("11010519990230001")],
    ids=["wrong-check-char", "impossible-date"],
)
def test_an_error_about_an_id_number_never_shows_it_in_full(raw):
    with pytest.raises(InvalidInput) as invalid:
        parse_id_number(raw)

    assert raw not in str(invalid.value)
    assert raw[6:14] not in invalid.value.detail  # the birth date stays hidden


# --------------------------------------------------------------------------- region codes


def test_all_41_yrd_cities_are_accepted(shared_regions_csv: Path):
    with shared_regions_csv.open(encoding="utf-8", newline="") as f:
        codes = [row["code"] for row in csv.DictReader(f)]

    assert len(codes) == len(set(codes)) == 41
    for code in codes:
        assert parse_region_code(code) == code


def test_the_packaged_region_list_is_identical_to_the_shared_one(shared_regions_csv: Path):
    packaged = files("tongban.data").joinpath("yrd-regions.csv").read_bytes()

    assert packaged == shared_regions_csv.read_bytes()
    assert len(yrd_regions()) == 41


@pytest.mark.parametrize("code", ["110000", "110101", "330799", "999999", "000000"])
def test_a_six_digit_code_outside_the_yrd_is_an_unknown_region(code):
    assert invalid_code(parse_region_code, code) == "UNKNOWN_REGION"
    assert invalid_code(parse_region_code, code, allow_province=True) == "UNKNOWN_REGION"


@pytest.mark.parametrize("code", ["320000", "330000", "340000"])
def test_a_province_code_is_accepted_only_when_provinces_are_allowed(code):
    assert invalid_code(parse_region_code, code) == "UNKNOWN_REGION"
    assert parse_region_code(code, allow_province=True) == code


def test_shanghai_is_both_a_city_and_a_province():
    assert parse_region_code("310000") == "310000"
    assert parse_region_code("310000", allow_province=True) == "310000"


@pytest.mark.parametrize("raw", ["33070", "3307000", "33O700", "", 330700, None])
def test_a_region_code_that_is_not_six_digits_is_invalid(raw):
    assert invalid_code(parse_region_code, raw) == "INVALID_REGION"


# --------------------------------------------------------------------------- institution codes


def test_a_well_formed_institution_code_is_accepted_and_names_its_region():
    assert parse_institution_code("H33070000012") == "H33070000012"
    assert institution_region("H33070000012") == "330700"


@pytest.mark.parametrize(
    "raw",
    [
        "H11010100012",  # Beijing, not a YRD region
        "H33079900012",  # not a region at all
        "H3307000001",  # 11 characters
        "H330700000123",  # 13 characters
        "330700000012",  # no H
        "X33070000012",  # another letter instead of H
        "H33070000O12",  # a letter among the digits
        "",
        None,
        33070000012,
    ],
    ids=[
        "wrong-region",
        "unknown-region",
        "too-short",
        "too-long",
        "missing-h",
        "other-letter",
        "letter-in-digits",
        "empty",
        "none",
        "int",
    ],
)
def test_a_malformed_institution_code_is_refused(raw):
    assert invalid_code(parse_institution_code, raw) == "INVALID_INSTITUTION_CODE"


@pytest.mark.parametrize(
    "raw",
    ["H33070000012\n", "H330700\uff10\uff10\uff10\uff11\uff12"],
    ids=["trailing-newline", "full-width-digits"],
)
def test_an_institution_code_with_stray_characters_is_refused(raw):
    assert invalid_code(parse_institution_code, raw) == "INVALID_INSTITUTION_CODE"
