"""A hospital system speaking the national envelopes to the small network's Shanghai node.

Written from the hospital's side: it builds msgids as the national platform defines them
(institution code + time + sequence), sends yuan strings, and reads ``infcode``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from network_fixtures import KEYS, RUIJIN, SHANGHAI

NATIONAL = f"/nodes/{SHANGHAI}/v1/national"

# A bill the pooled fund pays part of: 50 units of a class-A item capped at 40.00 yuan.
BIG_BILL = [{"code": "003101000010000", "quantity": "50", "unit_price": 4000}]


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def fen(text: str) -> int:
    """Yuan text as fen, read by hand (the hospital's own books)."""
    value = Decimal(text) * 100
    assert value == value.to_integral_value(), text
    return int(value)


def line_amount(line: dict[str, Any]) -> int:
    return int((Decimal(line["quantity"]) * line["unit_price"]).quantize(Decimal(1), ROUND_HALF_UP))


def fee_rows(mdtrt_id: str, psn_no: str, lines: Iterable[dict[str, Any]], batch: str = "B1",
             first_sn: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "feedetl_sn": f"{batch}-{first_sn + i}",
            "mdtrt_id": mdtrt_id,
            "psn_no": psn_no,
            "chrg_bchno": batch,
            "med_list_codg": line["code"],
            "medins_list_codg": f"HIS-{line['code'][:8]}",
            "cnt": line["quantity"],
            "pric": yuan(line["unit_price"]),
            "det_item_fee_sumamt": yuan(line_amount(line)),
            "fee_ocur_time": "2026-12-03 09:30:00",
        }
        for i, line in enumerate(lines)
    ]


class Hospital:
    """One institution's HIS: numbered envelopes to its node, over a TestClient or httpx."""

    _sequence = itertools.count(1)

    def __init__(self, client: Any, institution: str = RUIJIN, path: str = NATIONAL,
                 key: str | None = None) -> None:
        self.client = client
        self.institution = institution
        self.path = path
        self.key = key if key is not None else KEYS[institution]

    def msgid(self) -> str:
        n = next(self._sequence) % 10_000
        return f"{self.institution}{datetime.now():%Y%m%d%H%M%S}{n:04d}"

    def envelope(self, infno: str, payload: dict[str, Any], insuplc: str = "",
                 msgid: str | None = None) -> dict[str, Any]:
        return {
            "infno": infno,
            "msgid": msgid or self.msgid(),
            "mdtrtarea_admvs": SHANGHAI,
            "insuplc_admdvs": insuplc,
            "fixmedins_code": self.institution,
            "inf_time": f"{datetime.now():%Y-%m-%d %H:%M:%S}",
            "opter": "001",
            "opter_name": "收费员",
            "opter_type": "1",
            "input": payload,
        }

    def send(self, envelope: dict[str, Any], headers: dict[str, str] | None = None
             ) -> dict[str, Any]:
        response = self.client.post(
            self.path, json=envelope,
            headers=headers if headers is not None else {"Authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert set(answer) == {"infcode", "inf_refmsgid", "refmsg_time", "respond_time",
                               "err_msg", "output"}, answer
        return answer

    def call(self, infno: str, payload: dict[str, Any], insuplc: str = "") -> dict[str, Any]:
        return self.send(self.envelope(infno, payload, insuplc))

    def ok(self, infno: str, payload: dict[str, Any], insuplc: str = "") -> dict[str, Any]:
        answer = self.call(infno, payload, insuplc)
        assert answer["infcode"] == 0, answer["err_msg"]
        output: dict[str, Any] = answer["output"]
        return output


def error_code(answer: dict[str, Any]) -> str:
    assert answer["infcode"] == -1, answer
    assert answer["output"] == {}
    return str(answer["err_msg"]).split(":")[0]


class Visit:
    """One patient's outpatient visit as a HIS drives it: 1101, 2201, 2203, 2204, 2206, 2207."""

    def __init__(self, his: Hospital, id_number: str, home: str) -> None:
        self.his = his
        self.id_number = id_number
        self.home = home
        person = his.ok("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": id_number}})
        self.person = person
        self.psn_no = str(person["baseinfo"]["psn_no"])
        self.insutype = str(person["insuinfo"][0]["insutype"])
        self.mdtrt_id = ""

    def cert(self) -> dict[str, str]:
        return {"psn_no": self.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": self.id_number}

    def register(self, med_type: str = "11") -> str:
        out = self.his.ok("2201", {"data": {**self.cert(), "insutype": self.insutype,
                                            "begntime": "2026-12-03 09:00:00",
                                            "ipt_otp_no": "MZ0001", "dept_code": "A01",
                                            "dept_name": "内科"}}, self.home)
        self.mdtrt_id = str(out["data"]["mdtrt_id"])
        self.his.ok("2203", {"mdtrtinfo": {"mdtrt_id": self.mdtrt_id, "psn_no": self.psn_no,
                                           "med_type": med_type,
                                           "begntime": "2026-12-03 09:00:00",
                                           "dise_codg": "J06.900", "dise_name": "急性上呼吸道感染"},
                             "diseinfo": []}, self.home)
        return self.mdtrt_id

    def upload(self, lines: list[dict[str, Any]], batch: str = "B1") -> dict[str, Any]:
        return self.his.ok("2204", {"feedetail": fee_rows(self.mdtrt_id, self.psn_no, lines,
                                                          batch)}, self.home)

    def settle_data(self, lines: list[dict[str, Any]], batch: str = "B1",
                    use_account: bool = True) -> dict[str, Any]:
        return {**self.cert(), "med_type": "11",
                "medfee_sumamt": yuan(sum(line_amount(line) for line in lines)),
                "psn_setlway": "01", "mdtrt_id": self.mdtrt_id, "chrg_bchno": batch,
                "insutype": self.insutype, "acct_used_flag": "1" if use_account else "0"}

    def settle_envelope(self, lines: list[dict[str, Any]], batch: str = "B1") -> dict[str, Any]:
        return self.his.envelope("2207", {"data": self.settle_data(lines, batch)}, self.home)
