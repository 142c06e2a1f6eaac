"""A hospital system written for the national platform settles through tongban's envelopes.

Through HTTP on the small network (SQLite and PostgreSQL): the national transactions give the
same money as tongban's own API, in yuan, and a repeated msgid never charges twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from national_helpers import BIG_BILL, Hospital, Visit, error_code, fee_rows, fen
from protocol_checks import GOLDEN_SPLIT_EMPLOYEE, snapshot

from network_fixtures import (
    COMMUNITY,
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    NANJING_ID,
    SHANGHAI,
    SmallNetwork,
    auth,
    golden_lines,
)
from tongban.entrypoints.api.embedded import create_network_app

SPLIT_FIELDS = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
                "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "acct_pay", "psn_part_amt",
                "psn_cash_pay", "balc")


@pytest.fixture
def client(net: SmallNetwork) -> Iterator[TestClient]:
    with TestClient(create_network_app(net.network), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def his(client: TestClient) -> Hospital:
    return Hospital(client)


def in_fen(setlinfo: dict[str, Any]) -> dict[str, int]:
    return {name: fen(setlinfo[name]) for name in SPLIT_FIELDS}


def test_an_outpatient_visit_through_the_envelopes_settles_the_golden_bill_to_the_fen(
    net: SmallNetwork, client: TestClient, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    assert visit.person["insuinfo"][0]["insuplc_admdvs"] == JINHUA
    assert visit.person["insuinfo"][0]["balc"] == "20.00"
    assert visit.person["baseinfo"]["certno"] != EMPLOYEE_ID  # masked, never echoed whole
    assert EMPLOYEE_ID not in visit.psn_no
    visit.register()
    classified = visit.upload(golden_lines())["result"]
    # 甲 / 乙 (capped at 12.00) / 丙 / 乙, as the visit region's catalogue classes them
    assert [r["chrgitm_lv"] for r in classified] == ["01", "02", "03", "02"]
    assert classified[1]["overlmt_amt"] == "0.90" and classified[1]["pric_uplmt_amt"] == "12.00"
    assert classified[3]["det_item_fee_sumamt"] == "22.61"  # 0.5 × 45.21 rounded half up

    preview = his.ok("2206", {"data": visit.settle_data(golden_lines())}, JINHUA)
    assert in_fen(preview["setlinfo"]) == GOLDEN_SPLIT_EMPLOYEE
    assert net.person_state(JINHUA, EMPLOYEE_ID)["account_balance"] == 2000  # nothing charged

    settled = his.send(visit.settle_envelope(golden_lines()))
    assert settled["infcode"] == 0, settled["err_msg"]
    setlinfo = settled["output"]["setlinfo"]
    assert in_fen(setlinfo) == GOLDEN_SPLIT_EMPLOYEE
    assert setlinfo["fund_pay_sumamt"] == setlinfo["hifp_pay"]
    assert setlinfo["clr_optins"] == SHANGHAI and setlinfo["clr_type"] == "11"
    assert setlinfo["insuplc_admdvs"] == JINHUA and setlinfo["mdtrt_id"] == visit.mdtrt_id
    assert settled["inf_refmsgid"].startswith(SHANGHAI) and len(settled["inf_refmsgid"]) == 30
    # tongban's own API tells the same settlement in fen, and the home region charged it
    own = client.get(f"/nodes/{SHANGHAI}/v1/settlements/{setlinfo['setl_id']}", headers=auth())
    assert own.status_code == 200 and own.json()["status"] == "SETTLED"
    assert {k: own.json()["split"][k] for k in SPLIT_FIELDS} == GOLDEN_SPLIT_EMPLOYEE
    assert net.person_state(JINHUA, EMPLOYEE_ID)["account_balance"] == 0


def test_the_pooled_fund_and_the_per_fund_detail_list_carry_what_the_fund_pays(
    net: SmallNetwork, his: Hospital
) -> None:
    # Nanjing employee, unfiled: ratio 0.85 − 0.20 = 0.65. Covered 50 × 40.00 = 2,000.00;
    # deductible 1,500.00; fund round(500.00 × 0.65) = 325.00; copay 175.00; the account pays
    # deductible + copay = 1,675.00 of its 5,000.00; nothing in cash.
    visit = Visit(his, NANJING_ID, NANJING)
    visit.register()
    visit.upload(BIG_BILL)
    setlinfo = his.ok("2207", {"data": visit.settle_data(BIG_BILL)}, NANJING)
    split = setlinfo["setlinfo"]
    assert (split["medfee_sumamt"], split["act_pay_dedc"], split["hifp_pay"],
            split["acct_pay"], split["psn_cash_pay"], split["balc"]) == (
        "2000.00", "1500.00", "325.00", "1675.00", "0.00", "3325.00")
    detail = setlinfo["setldetail"]
    assert [d["fund_pay_type"] for d in detail] == ["310100"]
    assert sum(fen(d["fund_payamt"]) for d in detail) == fen(split["fund_pay_sumamt"]) == 32500
    assert net.person_state(NANJING, NANJING_ID) == {
        "deductible_used": 150000, "fund_paid": 32500, "admissions": 0, "account_balance": 332500}


def test_the_same_msgid_again_gets_the_same_answer_and_charges_once(
    net: SmallNetwork, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    upload = his.envelope("2204", {"feedetail": fee_rows(visit.mdtrt_id, visit.psn_no,
                                                         golden_lines())}, JINHUA)
    first_upload = his.send(upload)
    settle = visit.settle_envelope(golden_lines())
    first = his.send(settle)
    after = snapshot(net)
    again_upload, again = his.send(upload), his.send(settle)
    assert again_upload["output"] == first_upload["output"]
    assert again["infcode"] == 0 and again["output"] == first["output"]
    assert snapshot(net) == after


def test_a_msgid_reused_for_other_content_is_refused_and_changes_nothing(
    net: SmallNetwork, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    visit.upload(golden_lines())
    settle = visit.settle_envelope(golden_lines())
    his.send(settle)
    before = snapshot(net)
    other = {**settle, "input": {"data": {**settle["input"]["data"], "acct_used_flag": "0"}}}
    assert error_code(his.send(other)) == "MSGID_REUSED"
    assert snapshot(net) == before


def test_a_batch_settled_once_is_not_settled_again_under_a_new_msgid(
    net: SmallNetwork, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    visit.upload(golden_lines())
    first = his.send(visit.settle_envelope(golden_lines()))
    before = snapshot(net)
    second = his.send(visit.settle_envelope(golden_lines()))
    assert error_code(second) == "BATCH_SETTLED"
    assert first["output"]["setlinfo"]["setl_id"] in second["err_msg"]
    assert snapshot(net) == before
    # fee details of a settled batch cannot be changed under it either
    changed = fee_rows(visit.mdtrt_id, visit.psn_no, [golden_lines()[0]], first_sn=9)
    assert error_code(his.call("2204", {"feedetail": changed}, JINHUA)) == "BATCH_SETTLED"


def test_a_cancel_gives_back_the_account_and_the_day_then_reconciles_to_nothing(
    net: SmallNetwork, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    visit.upload(golden_lines())
    setl = his.ok("2207", {"data": visit.settle_data(golden_lines())}, JINHUA)["setlinfo"]
    today = setl["setl_time"][:10]
    totals = {"insutype": "310", "clr_type": "11", "setl_optins": SHANGHAI,
              "stmt_begndate": today, "stmt_enddate": today}
    balanced = his.ok("3201", {"data": {**totals, "medfee_sumamt": "142.51",
                                        "fund_pay_sumamt": "0.00", "acct_pay": "20.00",
                                        "fixmedins_setl_cnt": 1}})
    assert balanced["data"]["stmt_rslt"] == "0"
    off = his.ok("3201", {"data": {**totals, "medfee_sumamt": "142.50",
                                   "fund_pay_sumamt": "0.00", "acct_pay": "20.00",
                                   "fixmedins_setl_cnt": 1}})
    assert off["data"]["stmt_rslt"] == "1" and "medfee_sumamt" in off["data"]["stmt_rslt_dscr"]

    cancel = his.ok("2208", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": visit.mdtrt_id,
                                      "psn_no": visit.psn_no}}, JINHUA)
    assert cancel["setlinfo"]["medfee_sumamt"] == "-142.51"
    assert cancel["setlinfo"]["acct_pay"] == "-20.00"
    assert net.person_state(JINHUA, EMPLOYEE_ID)["account_balance"] == 2000
    net_zero = his.ok("3201", {"data": {**totals, "medfee_sumamt": "0.00",
                                        "fund_pay_sumamt": "0.00", "acct_pay": "0.00",
                                        "fixmedins_setl_cnt": 0}})
    assert net_zero["data"]["stmt_rslt"] == "0"
    # 3202: the hospital lists the settle but forgot the refund row
    detail = his.ok("3202", {"data": {"stmt_begndate": today, "stmt_enddate": today},
                             "detail": [{"setl_id": setl["setl_id"], "insutype": "310",
                                         "medfee_sumamt": "142.51", "fund_pay_sumamt": "0.00",
                                         "acct_pay": "20.00", "refd_setl_flag": "0"}]})
    assert detail["data"]["stmt_rslt"] == "1"
    assert [(r["setl_id"], r["refd_setl_flag"], r["stmt_rslt"]) for r in detail["detail"]] == [
        (setl["setl_id"], "1", "1")]  # 中心多: the node has the refund, the hospital not


def test_an_emergency_visit_info_applies_the_emergency_ratio(his: Hospital) -> None:
    unfiled, emergency = Visit(his, NANJING_ID, NANJING), Visit(his, NANJING_ID, NANJING)
    unfiled.register("11")
    emergency.register("13")  # 2203 med_type 13 急诊
    for visit in (unfiled, emergency):
        visit.upload(BIG_BILL)
    quotes = [his.ok("2206", {"data": v.settle_data(BIG_BILL)}, NANJING)["setlinfo"]
              for v in (unfiled, emergency)]
    assert [q["ratio_applied"] for q in quotes] == ["0.65", "0.75"]  # 0.85 − 0.20 / − 0.10
    assert [q["hifp_pay"] for q in quotes] == ["325.00", "375.00"]
    assert quotes[1]["med_type"] == "13"


def test_an_inpatient_stay_needs_a_filing_unless_it_came_through_the_emergency_room(
    net: SmallNetwork, his: Hospital
) -> None:
    nights = [{"code": "003101000010000", "quantity": "50", "unit_price": 4000}]
    visit = Visit(his, NANJING_ID, NANJING)

    def admit(med_type: str) -> str:
        out = his.ok("2401", {"mdtrtinfo": {**visit.cert(), "insutype": "310",
                                            "med_type": med_type, "ipt_no": "ZY001",
                                            "begntime": "2026-12-01 08:00:00"},
                              "diseinfo": []}, NANJING)
        mdtrt_id = str(out["result"]["mdtrt_id"])
        rows = fee_rows(mdtrt_id, visit.psn_no, nights)
        his.ok("2301", {"feedetail": rows}, NANJING)
        his.ok("2402", {"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": visit.psn_no,
                                     "endtime": "2026-12-03 08:00:00"}}, NANJING)
        return mdtrt_id

    def data(mdtrt_id: str) -> dict[str, Any]:
        return {**visit.cert(), "mdtrt_id": mdtrt_id, "medfee_sumamt": "2000.00",
                "insutype": "310", "acct_used_flag": "1"}

    ordinary = admit("21")
    refused = his.call("2304", {"data": data(ordinary)}, NANJING)
    assert error_code(refused) == "FILING_REQUIRED"
    urgent = admit("24")  # 急诊转住院: counted as an emergency
    # deductible 1,200.00; fund round(800.00 × 0.80) = 640.00; copay 160.00, all from account
    setl = his.ok("2304", {"data": data(urgent)}, NANJING)["setlinfo"]
    assert (setl["act_pay_dedc"], setl["hifp_pay"], setl["acct_pay"], setl["clr_type"]) == (
        "1200.00", "640.00", "1360.00", "21")
    assert net.person_state(NANJING, NANJING_ID, "inpatient")["admissions"] == 1
    his.ok("2305", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": urgent,
                             "psn_no": visit.psn_no}}, NANJING)
    assert net.person_state(NANJING, NANJING_ID, "inpatient") == {
        "deductible_used": 0, "fund_paid": 0, "admissions": 0, "account_balance": 500000}


# --- refusals: a clear code, nothing changed --------------------------------------------------


def test_amounts_with_a_third_decimal_or_that_do_not_add_up_are_refused(
    net: SmallNetwork, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    before = snapshot(net)
    rows = fee_rows(visit.mdtrt_id, visit.psn_no, golden_lines())
    three = [{**rows[0], "pric": "25.001", "det_item_fee_sumamt": "25.001"}, *rows[1:]]
    assert error_code(his.call("2204", {"feedetail": three}, JINHUA)) == "INVALID_AMOUNT"
    wrong = [{**rows[0], "det_item_fee_sumamt": "25.01"}, *rows[1:]]
    assert error_code(his.call("2204", {"feedetail": wrong}, JINHUA)) == "AMOUNT_MISMATCH"
    negative = [{**rows[0], "cnt": "-1", "det_item_fee_sumamt": "-25.00"}, *rows[1:]]
    assert error_code(his.call("2204", {"feedetail": negative}, JINHUA)) == "INVALID_AMOUNT"
    zero = [{**rows[0], "cnt": "0", "det_item_fee_sumamt": "0.00"}, *rows[1:]]
    assert error_code(his.call("2204", {"feedetail": zero}, JINHUA)) == "INVALID_LINE"
    assert error_code(his.call("2207", {"data": visit.settle_data(golden_lines())}, JINHUA)
                      ) == "NO_FEE_DETAILS"
    assert snapshot(net) == before
    visit.upload(golden_lines())
    total = {**visit.settle_data(golden_lines()), "medfee_sumamt": "142.52"}
    assert error_code(his.call("2207", {"data": total}, JINHUA)) == "AMOUNT_MISMATCH"
    assert net.person_state(JINHUA, EMPLOYEE_ID)["account_balance"] == 2000


def test_an_envelope_for_another_institution_region_or_person_is_refused(
    net: SmallNetwork, client: TestClient, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    visit.upload(golden_lines())
    before = snapshot(net)
    data = visit.settle_data(golden_lines())
    settle = visit.settle_envelope(golden_lines())
    # another hospital's key for Ruijin's envelope; the other hospital's own envelope
    community = Hospital(client, COMMUNITY)
    assert error_code(his.send(settle, auth(COMMUNITY))) == "INSTITUTION_MISMATCH"
    assert error_code(community.call("2207", {"data": data}, JINHUA)) == "INSTITUTION_MISMATCH"
    assert error_code(his.send(settle, {})) == "UNAUTHENTICATED"
    assert error_code(his.send({**settle, "mdtrtarea_admvs": "320100"})) == "MDTRTAREA_MISMATCH"
    assert error_code(his.call("2207", {"data": data}, NANJING)) == "INSUPLC_MISMATCH"
    assert error_code(his.call("2207", {"data": data})) == "BAD_ENVELOPE"  # psn_no, no region
    other = {**data, "psn_no": "0" * 30}
    assert error_code(his.call("2207", {"data": other}, JINHUA)) == "PSN_NO_MISMATCH"
    not_her = {**data, "mdtrt_cert_no": NANJING_ID}
    assert error_code(his.call("2207", {"data": not_her}, JINHUA)) == "CERT_MISMATCH"
    no_id = {**data, "mdtrt_cert_no": "王秀英"}
    assert error_code(his.call("2207", {"data": no_id}, JINHUA)) == "INVALID_ID_NUMBER"
    changed = fee_rows(visit.mdtrt_id, visit.psn_no, [{**golden_lines()[0], "quantity": "2"}])
    assert error_code(his.call("2204", {"feedetail": changed}, JINHUA)) == "FEEDETL_SN_REUSED"
    wrong_type = {**data, "insutype": "390"}
    assert error_code(his.call("2207", {"data": wrong_type}, JINHUA)) == "INSUTYPE_MISMATCH"
    assert error_code(his.call("2207", {"data": {**data, "mdtrt_id": "nope"}}, JINHUA)
                      ) == "VISIT_NOT_FOUND"
    assert snapshot(net) == before


def test_malformed_envelopes_get_stable_codes(net: SmallNetwork, client: TestClient,
                                              his: Hospital) -> None:
    before = snapshot(net)
    good = his.envelope("1101", {"data": {"mdtrt_cert_type": "02",
                                          "mdtrt_cert_no": EMPLOYEE_ID}})
    cases = {
        "UNKNOWN_INFNO": {**good, "infno": "9999"},
        "UNSUPPORTED_INFNO": {**good, "infno": "1301"},  # a catalogue download
        "INVALID_MSGID": {**good, "msgid": "H31000000001-short"},
        "BAD_ENVELOPE": {**good, "inf_time": "yesterday"},
        "INVALID_REGION": {**good, "mdtrtarea_admvs": "31000"},
        "UNSUPPORTED_CERT_TYPE": {**good, "input": {"data": {"mdtrt_cert_type": "03",
                                                             "mdtrt_cert_no": "card"}}},
        "INVALID_ID_NUMBER": {**good, "input": {"data": {"mdtrt_cert_type": "02",
                                                         "mdtrt_cert_no": EMPLOYEE_ID[:-1] + (
                                                             "0" if EMPLOYEE_ID[-1] != "0"
                                                             else "1")}}},
    }
    for code, envelope in cases.items():
        assert error_code(his.send(envelope)) == code, code
    not_json = client.post("/nodes/310000/v1/national", content=b"{infno",
                           headers={**auth(), "content-type": "application/json"})
    assert not_json.status_code == 422 and not_json.json()["code"] == "MALFORMED_JSON"
    for odd in ([good], {**good, "infno": ["2207"]}, None, {**good, "input": "2207"}):
        answer = client.post("/nodes/310000/v1/national", json=odd, headers=auth())
        assert answer.status_code == 200 and error_code(answer.json()) == "BAD_ENVELOPE", odd
    assert snapshot(net) == before


def test_a_person_insured_nowhere_in_the_network_is_told_so(his: Hospital) -> None:
    from network_fixtures import UNINSURED_ID

    answer = his.call("1101", {"data": {"psn_cert_type": "01", "certno": UNINSURED_ID}})
    assert error_code(answer) == "PERSON_NOT_LOCATED"
    assert UNINSURED_ID not in answer["err_msg"]


def test_another_hospital_cannot_act_on_ruijins_visit(client: TestClient, his: Hospital
                                                      ) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    community = Hospital(client, COMMUNITY)
    peek = community.envelope("2203", {"mdtrtinfo": {"mdtrt_id": visit.mdtrt_id,
                                                     "psn_no": visit.psn_no, "med_type": "11"}},
                              JINHUA)
    assert error_code(community.send(peek)) == "INSTITUTION_MISMATCH"
    rows = fee_rows(visit.mdtrt_id, visit.psn_no, golden_lines())
    assert error_code(community.call("2204", {"feedetail": rows}, JINHUA)
                      ) == "INSTITUTION_MISMATCH"


def test_a_reversed_registration_takes_no_more_fees(net: SmallNetwork, his: Hospital) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    registration = his.envelope("2201", {"data": {**visit.cert(), "insutype": "310"}}, JINHUA)
    visit.mdtrt_id = his.send(registration)["output"]["data"]["mdtrt_id"]
    undo = {"data": {"psn_no": visit.psn_no, "omsgid": registration["msgid"], "oinfno": "2201"}}
    assert his.call("2601", undo, JINHUA)["infcode"] == 0
    rows = fee_rows(visit.mdtrt_id, visit.psn_no, golden_lines())
    assert error_code(his.call("2204", {"feedetail": rows}, JINHUA)) == "VISIT_REVERSED"
    wrong = {"data": {**undo["data"], "oinfno": "2207"}}
    assert error_code(his.call("2601", wrong, JINHUA)) == "OINFNO_MISMATCH"
    cancel_back = {"data": {**undo["data"], "oinfno": "2208"}}
    assert error_code(his.call("2601", cancel_back, JINHUA)) == "REVERSAL_NOT_SUPPORTED"


def test_a_reversed_upload_frees_its_details_until_a_settlement_stands_on_them(
    net: SmallNetwork, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    upload = his.envelope("2204", {"feedetail": fee_rows(visit.mdtrt_id, visit.psn_no,
                                                         golden_lines())}, JINHUA)
    his.send(upload)
    undo = {"data": {"psn_no": visit.psn_no, "omsgid": upload["msgid"], "oinfno": "2204"}}
    assert his.call("2601", undo, JINHUA)["infcode"] == 0
    assert error_code(his.call("2207", {"data": visit.settle_data(golden_lines())}, JINHUA)
                      ) == "NO_FEE_DETAILS"
    second = his.envelope("2204", {"feedetail": fee_rows(visit.mdtrt_id, visit.psn_no,
                                                         golden_lines())}, JINHUA)
    his.send(second)
    his.ok("2207", {"data": visit.settle_data(golden_lines())}, JINHUA)
    undo_second = {"data": {**undo["data"], "omsgid": second["msgid"]}}
    assert error_code(his.call("2601", undo_second, JINHUA)) == "BATCH_SETTLED"
    assert net.person_state(JINHUA, EMPLOYEE_ID)["account_balance"] == 0


def test_refusals_mask_id_numbers_and_every_answer_is_counted(
    client: TestClient, his: Hospital
) -> None:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    answer = his.call("2208", {"data": {"setl_id": EMPLOYEE_ID, "mdtrt_id": visit.mdtrt_id,
                                        "psn_no": visit.psn_no}}, JINHUA)
    assert error_code(answer) == "SETTLEMENT_NOT_FOUND"
    assert EMPLOYEE_ID not in answer["err_msg"] and EMPLOYEE_ID[-4:] in answer["err_msg"]
    metrics = client.get(f"/nodes/{SHANGHAI}/metrics").text
    assert ('tongban_national_transactions_total{code="OK",infno="2201",region="310000"} 1.0'
            in metrics)
    assert ('tongban_national_transactions_total{code="SETTLEMENT_NOT_FOUND",infno="2208",'
            'region="310000"} 1.0' in metrics)
