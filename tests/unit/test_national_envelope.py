"""The national interface as pure data: envelopes, answers and yuan on the wire."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.domain.national import (
    answer,
    chrgitm_lv_of_coverage,
    coverage_of_chrgitm_lv,
    error_answer,
    fen_of_wire,
    parse_envelope,
    settlement_output,
    wire_of_fen,
)
from tongban.errors import InvalidInput

INSTITUTION = "H41130200746"


def envelope(**changes):
    obj = {
        "infno": "2207",
        "msgid": f"{INSTITUTION}202611212030150001",
        "mdtrtarea_admvs": "411302",
        "insuplc_admdvs": "310000",
        "fixmedins_code": INSTITUTION,
        "inf_time": "2026-11-21 20:30:15",
        "opter": "001",
        "input": {"data": {"psn_no": "P1", "medfee_sumamt": "142.51"}},
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


def code_of(obj):
    with pytest.raises(InvalidInput) as raised:
        parse_envelope(obj)
    return raised.value.code


# --------------------------------------------------------------------------- envelope


def test_a_well_formed_envelope_is_read_with_its_fields():
    env = parse_envelope(envelope())
    assert env.infno == "2207"
    assert env.fixmedins_code == INSTITUTION
    assert env.insuplc_admdvs == "310000"
    assert env.inf_time == datetime(2026, 11, 21, 20, 30, 15)
    assert env.input["data"]["psn_no"] == "P1"
    assert env.optional == {"opter": "001"}


def test_an_unknown_transaction_is_refused_as_unknown_infno():
    assert code_of(envelope(infno="9999")) == "UNKNOWN_INFNO"


@pytest.mark.parametrize(
    "msgid",
    [
        "",
        f"{INSTITUTION}20261121203015001",  # 29 characters
        f"{INSTITUTION}2026112120301500011",  # 31 characters
        f"{INSTITUTION}20261321203015" + "0001",  # month 13
        f"{INSTITUTION}2026112120301a0001",
        "H41130200747" + "202611212030150001",  # another institution
    ],
)
def test_a_msgid_that_is_not_institution_time_and_sequence_is_refused(msgid):
    assert code_of(envelope(msgid=msgid)) in {"INVALID_MSGID", "BAD_ENVELOPE"}
    if msgid:
        assert code_of(envelope(msgid=msgid)) == "INVALID_MSGID"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
       st.integers(0, 9999))
def test_every_msgid_of_institution_time_and_four_digits_is_accepted(when, seq):
    msgid = f"{INSTITUTION}{when:%Y%m%d%H%M%S}{seq:04d}"
    assert len(msgid) == 30
    assert parse_envelope(envelope(msgid=msgid)).msgid == msgid


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"mdtrtarea_admvs": "41130"}, "INVALID_REGION"),
        ({"insuplc_admdvs": "31000A"}, "INVALID_REGION"),
        ({"insuplc_admdvs": None}, "BAD_ENVELOPE"),  # a person without an insured place
        ({"fixmedins_code": "H4113020074"}, "BAD_ENVELOPE"),
        ({"inf_time": "2026-11-21T20:30:15"}, "BAD_ENVELOPE"),
        ({"inf_time": "2026-02-30 20:30:15"}, "BAD_ENVELOPE"),
        ({"input": [1]}, "BAD_ENVELOPE"),
        ({"input": None}, "BAD_ENVELOPE"),
        ({"opter": 5}, "BAD_ENVELOPE"),
    ],
)
def test_a_malformed_field_is_refused_with_a_stable_code(changes, code):
    assert code_of(envelope(**changes)) == code


def test_a_sign_in_needs_no_insured_place():
    env = parse_envelope(envelope(infno="9001", insuplc_admdvs=None, input={"signIn": {}}))
    assert env.insuplc_admdvs is None


def test_something_other_than_an_object_is_a_bad_envelope():
    assert code_of([1, 2]) == "BAD_ENVELOPE"


# --------------------------------------------------------------------------- answers

NOW = datetime(2026, 11, 21, 20, 30, 16)


def test_an_answer_carries_infcode_0_and_a_30_digit_refmsgid():
    out = answer(parse_envelope(envelope()), {"setl_id": "S1"}, "310000", NOW, 42,
                 received=datetime(2026, 11, 21, 20, 30, 15))
    assert out["infcode"] == 0
    assert out["inf_refmsgid"] == "310000" + "20261121203016" + "0000000042"
    assert out["refmsg_time"] == "2026-11-21 20:30:15"
    assert out["respond_time"] == "2026-11-21 20:30:16"
    assert out["output"] == {"setl_id": "S1"}


def test_an_error_answer_carries_infcode_minus_1_and_the_stable_code():
    out = error_answer(InvalidInput("INVALID_MSGID", "msgid: bad"), "310000", NOW, 1)
    assert out["infcode"] == -1
    assert out["err_msg"].startswith("INVALID_MSGID")
    assert len(out["inf_refmsgid"]) == 30


@pytest.mark.parametrize(("region", "serial"), [("31000", 1), ("310000", -1), ("310000", 10**10)])
def test_a_refmsgid_that_would_not_be_30_digits_is_never_made(region, serial):
    with pytest.raises(ValueError):
        error_answer(InvalidInput("X"), region, NOW, serial)


# --------------------------------------------------------------------------- amounts


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_fen_to_wire_and_back_is_the_identity(fen):
    assert fen_of_wire(wire_of_fen(fen)) == fen


@given(st.integers(0, 10**12), st.integers(0, 99))
def test_a_json_number_with_two_decimals_converts_exactly(whole, cents):
    text = f"{whole}.{cents:02d}"
    assert fen_of_wire(float(text)) == whole * 100 + cents


@given(st.integers(0, 10**10), st.integers(1, 9), st.integers(0, 99))
def test_more_than_two_decimals_is_refused(whole, third, cents):
    text = f"{whole}.{cents:02d}{third}"
    for raw in (text, Decimal(text), float(text)):
        with pytest.raises(InvalidInput) as raised:
            fen_of_wire(raw)
        assert raised.value.code == "INVALID_AMOUNT"


@pytest.mark.parametrize(
    ("raw", "fen"),
    [("12.30", 1230), ("12.3", 1230), ("12", 1200), (12, 1200), (12.3, 1230), (0.1, 10),
     (Decimal("142.51"), 14251), (" 0.05 ", 5)],
)
def test_yuan_on_the_wire_become_exact_fen(raw, fen):
    assert fen_of_wire(raw) == fen


@pytest.mark.parametrize(
    "raw",
    [True, False, float("nan"), float("inf"), Decimal("NaN"), "-1.00", -1, -0.5, "1e3", 1e20,
     0.1 + 0.2, "", None, [1], "12.", ".5"],
)
def test_booleans_nan_negatives_and_nonsense_are_refused(raw):
    with pytest.raises(InvalidInput):
        fen_of_wire(raw)


def test_a_negative_amount_passes_only_where_allowed():
    assert fen_of_wire("-1.50", allow_negative=True) == -150


def test_wire_text_always_has_two_decimals():
    assert wire_of_fen(1230) == "12.30"
    assert wire_of_fen(5) == "0.05"
    assert wire_of_fen(0) == "0.00"


# --------------------------------------------------------------------------- chrgitm_lv


@pytest.mark.parametrize(("lv", "cls"), [("01", "A"), ("02", "B"), ("03", "C")])
def test_chrgitm_lv_and_coverage_class_translate_both_ways(lv, cls):
    assert coverage_of_chrgitm_lv(lv) == cls
    assert chrgitm_lv_of_coverage(cls) == lv


@given(st.sampled_from(["01", "02", "03"]))
def test_chrgitm_lv_round_trips(lv):
    assert chrgitm_lv_of_coverage(coverage_of_chrgitm_lv(lv)) == lv


@pytest.mark.parametrize("lv", ["1", "04", "", None, 1, "A"])
def test_an_unknown_chrgitm_lv_is_refused(lv):
    with pytest.raises(InvalidInput):
        coverage_of_chrgitm_lv(lv)


# --------------------------------------------------------------------------- settlement

GOLDEN_SPLIT = {
    "medfee_sumamt": 14251, "fulamt_ownpay_amt": 5800, "overlmt_selfpay": 90,
    "preselfpay_amt": 473, "inscp_scp_amt": 7888, "act_pay_dedc": 1000, "hifp_pay": 4477,
    "acct_pay": 2000, "psn_part_amt": 9774, "psn_cash_pay": 7774, "balc": 0,
    "ratio_applied": "0.65",
}


def test_a_split_is_written_with_national_names_in_yuan():
    out = settlement_output(GOLDEN_SPLIT, clr_optins="310000", extra={"setl_id": "S1"})
    assert out["medfee_sumamt"] == "142.51"
    assert out["hifp_pay"] == out["fund_pay_sumamt"] == "44.77"
    assert out["psn_cash_pay"] == "77.74"
    assert out["setl_id"] == "S1"
    assert out["clr_optins"] == "310000"
    assert out["setldetail"] == [{
        "fund_pay_type": "310100", "fund_pay_type_name": "职工基本医疗保险统筹基金",
        "inscp_scp_amt": "78.88", "fund_payamt": "44.77",
    }]


@st.composite
def splits(draw):
    cash = draw(st.integers(0, 10**10))
    acct = draw(st.integers(0, 10**10))
    hifp = draw(st.integers(0, 10**10))
    medfee = cash + acct + hifp
    return {
        "medfee_sumamt": medfee, "fulamt_ownpay_amt": draw(st.integers(0, medfee)),
        "overlmt_selfpay": 0, "preselfpay_amt": 0, "inscp_scp_amt": hifp,
        "act_pay_dedc": 0, "hifp_pay": hifp, "acct_pay": acct,
        "psn_part_amt": medfee - hifp, "psn_cash_pay": cash,
        "balc": draw(st.integers(0, 10**10)),
    }


@given(splits())
def test_settlement_amounts_read_back_to_the_splits_fen_and_balance(split):
    out = settlement_output(split, clr_optins="310000")
    for name, fen in split.items():
        assert fen_of_wire(out[name]) == fen
    back = {name: fen_of_wire(out[name]) for name in ("hifp_pay", "acct_pay", "psn_cash_pay")}
    assert sum(back.values()) == fen_of_wire(out["medfee_sumamt"])
    assert sum(fen_of_wire(d["fund_payamt"]) for d in out["setldetail"]) == back["hifp_pay"]


def test_a_split_that_does_not_balance_is_never_written():
    with pytest.raises(ValueError):
        settlement_output({**GOLDEN_SPLIT, "acct_pay": 2001}, clr_optins="310000")


def test_extra_fields_cannot_override_amounts():
    out = settlement_output(GOLDEN_SPLIT, clr_optins="310000", extra={"hifp_pay": "999.99"})
    assert out["hifp_pay"] == "44.77"
