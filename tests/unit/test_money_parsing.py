"""External numbers enter the domain only through the money parsers (DESIGN.md §3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tongban.domain.money import format_ratio, parse_decimal, parse_fen, parse_ratio, yuan

# --------------------------------------------------------------------------- parse_fen


@pytest.mark.parametrize(
    ("raw", "fen"),
    [(0, 0), (2500, 2500), ("2500", 2500), (" 150000 ", 150000), (Decimal("300"), 300)],
)
def test_integer_fen_are_accepted(raw, fen):
    assert parse_fen(raw) == fen
    assert type(parse_fen(raw)) is int


@pytest.mark.parametrize(
    "raw",
    [1.0, 25.5, 0.0, float("nan"), True, False, Decimal("25.5"), "25.5", "", "abc", None, [1]],
)
def test_floats_booleans_and_fractions_of_a_fen_are_refused(raw):
    with pytest.raises(ValueError):
        parse_fen(raw)


def test_the_refusal_names_the_field():
    with pytest.raises(ValueError, match="unit_price"):
        parse_fen(12.5, "unit_price")


# --------------------------------------------------------------------------- parse_decimal


@pytest.mark.parametrize(
    ("raw", "value"),
    [("0.5", Decimal("0.5")), (" 1.25 ", Decimal("1.25")), (3, Decimal(3)), (Decimal("2"), 2)],
)
def test_decimal_strings_and_exact_numbers_are_accepted(raw, value):
    assert parse_decimal(raw) == value
    assert isinstance(parse_decimal(raw), Decimal)


def test_a_decimal_string_keeps_its_exact_value():
    assert parse_decimal("0.1") + parse_decimal("0.2") == Decimal("0.3")


@pytest.mark.parametrize(
    "raw",
    [
        0.5,
        1.0,
        float("inf"),
        True,
        None,
        [],
        "abc",
        "",
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ],
)
def test_floats_non_numbers_and_infinities_are_refused(raw):
    with pytest.raises(ValueError):
        parse_decimal(raw)


# --------------------------------------------------------------------------- parse_ratio


@pytest.mark.parametrize("raw", ["0", "0.00", "0.05", "0.85", "1", "1.00"])
def test_ratios_from_zero_to_one_are_accepted(raw):
    assert parse_ratio(raw) == Decimal(raw)


@pytest.mark.parametrize("raw", ["-0.01", "1.01", "2", "-1", 0.85, "NaN", "Infinity"])
def test_ratios_outside_zero_to_one_or_given_as_floats_are_refused(raw):
    with pytest.raises(ValueError):
        parse_ratio(raw)


# --------------------------------------------------------------------------- format_ratio


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        ("0.90", "0.9"),
        ("0.85", "0.85"),
        ("0.05", "0.05"),
        ("1.00", "1"),
        ("1", "1"),
        ("0", "0"),
        ("0.00", "0"),
        ("1E-2", "0.01"),  # never an exponent
        ("0.100", "0.1"),
    ],
)
def test_a_ratio_is_written_without_trailing_zeros_or_exponent(ratio, text):
    assert format_ratio(Decimal(ratio)) == text


# --------------------------------------------------------------------------- yuan


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (50, "0.50"),
        (100, "1.00"),
        (14251, "142.51"),
        (30000000, "300000.00"),
        (-5, "-0.05"),
        (-150, "-1.50"),
        (-14251, "-142.51"),
    ],
)
def test_fen_are_written_as_yuan_with_two_decimals(fen, text):
    assert yuan(fen) == text
