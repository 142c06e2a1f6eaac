"""Money on the FHIR wire (entrypoints/api/fhir_wire.py): integer fen inside, yuan with two
decimals in Money.value, exactly, both ways, for any amount a bill can hold."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.entrypoints.api.fhir_wire import dumps, fen_of_money, money, read_json
from tongban.errors import InvalidInput

amounts = st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1)


@given(amounts)
def test_any_amount_in_fen_goes_out_as_yuan_with_two_decimals_and_comes_back_the_same(
    fen: int,
) -> None:
    text = dumps(money(fen)).decode()
    whole, cents = divmod(abs(fen), 100)
    assert text == f'{{"value":{"-" if fen < 0 else ""}{whole}.{cents:02d},"currency":"CNY"}}'
    back = read_json(text.encode())
    assert fen_of_money(SimpleNamespace(**back), "amount", allow_negative=True) == fen


def test_a_third_decimal_another_currency_or_no_value_is_refused_never_rounded() -> None:
    def parsed(body: str) -> SimpleNamespace:
        return SimpleNamespace(**{"currency": None, **json.loads(body, parse_float=Decimal)})

    assert fen_of_money(parsed('{"value": 12.30}'), "unitPrice") == 1230
    assert fen_of_money(parsed('{"value": 12}'), "unitPrice") == 1200
    assert fen_of_money(parsed('{"value": 1.5e1}'), "unitPrice") == 1500  # exact, as written
    for body, code in (
        ('{"value": 12.305}', "INVALID_AMOUNT"),
        ('{"value": -1.00}', "INVALID_AMOUNT"),
        ('{"value": 12.30, "currency": "USD"}', "UNSUPPORTED_FHIR_CONTENT"),
        ('{"value": null}', "UNSUPPORTED_FHIR_CONTENT"),
    ):
        with pytest.raises(InvalidInput) as refused:
            fen_of_money(parsed(body), "unitPrice")
        assert refused.value.code == code, body


def test_no_float_can_reach_fhir_output() -> None:
    with pytest.raises(TypeError):
        dumps({"value": 12.3})
