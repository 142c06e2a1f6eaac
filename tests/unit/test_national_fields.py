"""The fields inside national transactions, read exactly (domain/national_fields.py)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.domain import national_fields as f
from tongban.domain.case import parse_catalogue
from tongban.domain.catalogue import classify
from tongban.domain.national import fen_of_wire, wire_of_fen
from tongban.domain.policy import MedType
from tongban.errors import InvalidInput

CATALOGUE = parse_catalogue({
    "001102000010000": {"name": "普通门诊诊查费", "class": "A"},
    "XA01ABD075A002010100483": {"name": "地喹氯铵含片", "class": "B", "selfpay_ratio": "0.10",
                                "price_cap": 1200},
    "ZC01AAA0001000000000001": {"name": "示例丙类中成药", "class": "C"},
})
CODES = [*CATALOGUE, "XX99ZZZ0000000000000000"]  # the last is in no catalogue

quantities = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999"), places=4)
prices = st.integers(min_value=0, max_value=10**9)


@given(quantities)
def test_a_quantity_is_read_exactly_as_text_or_as_a_json_number(q: Decimal) -> None:
    text = str(q.normalize()) if "E" not in str(q.normalize()) else format(q, "f")
    assert f.quantity_of_wire(text) == q
    # a JSON decoder hands a number as a float: its shortest text is what the sender wrote
    assert f.quantity_of_wire(float(text)) == q


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e-20, True, "1/2", "", None])
def test_a_quantity_that_is_not_a_plain_decimal_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        f.quantity_of_wire(bad)
    assert refused.value.code == "INVALID_LINE"


@given(st.sampled_from(CODES), quantities, prices)
def test_a_fee_row_in_yuan_is_classified_into_pieces_that_add_up_to_its_amount(
    code: str, q: Decimal, price: int
) -> None:
    amount = int((q * price).quantize(Decimal(1), ROUND_HALF_UP))
    row = {"feedetl_sn": "1", "mdtrt_id": "v1", "chrg_bchno": "B1", "med_list_codg": code,
           "cnt": format(q, "f"), "pric": wire_of_fen(price),
           "det_item_fee_sumamt": wire_of_fen(amount)}
    detail = f.fee_detail(row, 0, batch_required=True)
    assert (detail.unit_price, detail.amount, detail.quantity) == (price, amount, q)
    line = classify([detail.bill_line()], CATALOGUE).lines[0]
    item = CATALOGUE.get(code)
    out = f.fee_result("1", line, item.selfpay_ratio if item else None,
                       item.price_cap if item else None)
    pieces = ("fulamt_ownpay_amt", "overlmt_amt", "preselfpay_amt", "inscp_scp_amt")
    assert sum(fen_of_wire(out[p]) for p in pieces) == fen_of_wire(out["det_item_fee_sumamt"])
    assert out["chrgitm_lv"] == {"A": "01", "B": "02", "C": "03", None: "03"}[
        item.coverage.value if item else None]


def test_med_type_codes_say_outpatient_or_inpatient_and_which_are_emergencies() -> None:
    read = {code: f.med_type({"med_type": code}) for code in ("11", "13", "21", "24")}
    assert read == {
        "11": (MedType.OUTPATIENT, False, "11"), "13": (MedType.OUTPATIENT, True, "13"),
        "21": (MedType.INPATIENT, False, "21"), "24": (MedType.INPATIENT, True, "24"),
    }
    assert f.med_type({}) is None
    with pytest.raises(InvalidInput) as refused:
        f.med_type({"med_type": "41"})  # 定点药店购药: a pharmacy, not settled here
    assert refused.value.code == "UNSUPPORTED_MED_TYPE"


@pytest.mark.parametrize(("value", "read"), [("1", True), (1, True), ("0", False), (0, False),
                                             (None, True), ("", True)])
def test_flags_are_zero_or_one_with_a_default_when_absent(value: object, read: bool) -> None:
    assert f.flag({"acct_used_flag": value}, "acct_used_flag", default=True) is read


@pytest.mark.parametrize("value", ["2", "Y", True, 1.0])
def test_anything_else_is_no_flag(value: object) -> None:
    with pytest.raises(InvalidInput):
        f.flag({"acct_used_flag": value}, "acct_used_flag", default=True)


def test_a_person_is_identified_by_a_resident_id_card_only() -> None:
    assert f.certificate({"mdtrt_cert_type": "02", "mdtrt_cert_no": "X1"}) == "X1"
    assert f.certificate({"psn_cert_type": "01", "certno": "X2"}) == "X2"
    assert f.certificate({}) is None
    for other in ({"mdtrt_cert_type": "03", "mdtrt_cert_no": "card"},
                  {"psn_cert_type": "06", "certno": "passport"}):
        with pytest.raises(InvalidInput) as refused:
            f.certificate(other)
        assert refused.value.code == "UNSUPPORTED_CERT_TYPE"


def test_a_psn_no_is_the_pseudonym_cut_to_thirty_characters() -> None:
    pseudonym = "ab" * 32
    assert f.psn_no_of(pseudonym) == pseudonym[:30] and len(f.psn_no_of(pseudonym)) == 30
