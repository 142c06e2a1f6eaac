#!/usr/bin/env python3
"""An example HIS (hospital information system) client of tongban's national interface.

It drives one outpatient visit of a patient insured in another region through the national
envelopes, as a hospital's billing desk does, and prints every step:

    1101 who is she        2201 register         2203 visit info     2204 fee details
    2206 pre-settle        2207 settle           (2208 cancel, with --cancel)
    3201 reconcile the day's totals with the node

A 2207 whose answer does not come (an HTTP timeout, or infcode -1 SETTLEMENT_UNKNOWN because
the home region did not answer) is never simply sent again with a new msgid: the client first
reverses the original msgid with 2601 (冲正), waits until the reversal is done, and only then
settles again under a new msgid, so the patient is never charged twice.

Standalone: Python 3.11+ and httpx, nothing of tongban. Against `tongban demo` (serving on
port 8000) every option has a working default:

    .venv/bin/python examples/his_client.py                   # a visit, settled
    .venv/bin/python examples/his_client.py --cancel          # settled, then cancelled (2208)
    .venv/bin/python examples/his_client.py --help

Exit status: 0 the visit settled (and, with --cancel, was cancelled) and 3201 balanced;
1 3201 did not balance; 2 a step was refused or the node could not be reached; 3 the outcome
is still open (a reversal waits on the home region: send 2601 again later).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

BEIJING = timezone(timedelta(hours=8), "CST")  # the national platform's times are Beijing time
DEFAULT_NODE = "http://127.0.0.1:8000/nodes/310000"
DEFAULT_DATA_DIR = Path("tongban-data")
CREDENTIALS_FILE = "demo-credentials.json"  # written by `tongban demo`: institution -> API key

EXIT_OK, EXIT_UNBALANCED, EXIT_ERROR, EXIT_OPEN = 0, 1, 2, 3

# A small outpatient bill (an upper-respiratory infection) in national catalogue codes found
# in the demo's catalogues: (code, name, count, unit price in yuan).
DEFAULT_BILL = (
    ("001102000010000", "普通门诊诊查费", "1", "25.00"),
    ("002501000010000", "血常规检查", "1", "20.00"),
    ("002504000010000", "C反应蛋白测定", "1", "30.00"),
    ("XA01ABD075A002010100483", "地喹氯铵含片", "3", "12.30"),
    ("XA11GAZ923A001010102145", "维生素C片", "1", "2.80"),
)


class HisError(Exception):
    """A step that did not go through; ``status`` is the exit status to end with."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- money (yuan)


def fen(text: object, what: str = "amount") -> int:
    """Yuan text with at most two decimals ("142.51") as integer fen; never a float."""
    try:
        value = Decimal(str(text)) * 100
    except InvalidOperation:
        raise HisError(f"{what}: {text!r} is not an amount in yuan") from None
    if value != value.to_integral_value():
        raise HisError(f"{what}: {text!r} has more than two decimals")
    return int(value)


def yuan(amount: int) -> str:
    """Integer fen as yuan text with two decimals: 14251 -> "142.51", -2000 -> "-20.00"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


@dataclass(frozen=True)
class Line:
    """One line of the bill: a catalogue code, a count and a unit price (fen)."""

    code: str
    name: str
    cnt: Decimal
    pric: int

    @property
    def amount(self) -> int:
        """det_item_fee_sumamt: count × price, rounded half up to the fen."""
        return int((self.cnt * self.pric).quantize(Decimal(1), ROUND_HALF_UP))


def read_bill(path: Path | None) -> list[Line]:
    """The built-in bill, or a JSON list of {"code", "cnt", "pric" (yuan), "name"?}."""
    if path is None:
        rows: list[Any] = [{"code": c, "name": n, "cnt": q, "pric": p} for c, n, q, p in
                           DEFAULT_BILL]
    else:
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HisError(f"--bill {path}: {exc}") from None
        if not isinstance(rows, list) or not rows:
            raise HisError(f"--bill {path}: expected a non-empty JSON list of lines")
    lines = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not {"code", "cnt", "pric"} <= row.keys():
            raise HisError(f"bill line {i + 1}: needs code, cnt and pric (yuan)")
        try:
            cnt = Decimal(str(row["cnt"]))
        except InvalidOperation:
            raise HisError(f"bill line {i + 1}: cnt {row['cnt']!r} is not a number") from None
        lines.append(Line(str(row["code"]), str(row.get("name", "")), cnt,
                          fen(row["pric"], f"bill line {i + 1} pric")))
    return lines


# --------------------------------------------------------------------------- the wire


@dataclass
class Answer:
    infno: str
    msgid: str
    infcode: int
    err_msg: str
    output: dict[str, Any]

    @property
    def code(self) -> str:
        """The stable error code at the head of err_msg ("SETTLEMENT_UNKNOWN: ...")."""
        return self.err_msg.split(":", 1)[0].strip()


class MsgIds:
    """msgid = institution code (12) + yyyyMMddHHmmss (14) + sequence (4): 30 characters.

    A real HIS takes the sequence from its database; this one starts at a random number so
    that two runs within the same second do not reuse a msgid (that would be MSGID_REUSED).
    """

    def __init__(self, institution: str) -> None:
        self.institution = institution
        self.sequence = itertools.count(random.randrange(10_000))

    def next(self) -> str:
        stamp = f"{datetime.now(BEIJING):%Y%m%d%H%M%S}"
        return f"{self.institution}{stamp}{next(self.sequence) % 10_000:04d}"


class NationalClient:
    """Envelopes to one node's ``/v1/national``, one line printed per transaction."""

    def __init__(self, node_url: str, region: str, institution: str, api_key: str,
                 timeout: float) -> None:
        self.region = region
        self.institution = institution
        self.msgids = MsgIds(institution)
        self.http = httpx.Client(
            base_url=node_url.rstrip("/"), timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    def envelope(self, infno: str, payload: Mapping[str, Any], insuplc: str,
                 msgid: str) -> dict[str, Any]:
        return {
            "infno": infno,
            "msgid": msgid,
            "mdtrtarea_admvs": self.region,  # where she is treated: this node's region
            "insuplc_admdvs": insuplc,  # where she is insured (from 1101)
            "fixmedins_code": self.institution,
            "inf_time": f"{datetime.now(BEIJING):%Y-%m-%d %H:%M:%S}",
            "opter": "0001",
            "opter_name": "门诊收费员",
            "opter_type": "1",
            "input": dict(payload),
        }

    def send(self, infno: str, payload: Mapping[str, Any], insuplc: str = "",
             msgid: str | None = None, note: str = "") -> Answer:
        """One transaction. Raises httpx.TransportError (a timeout included) when no answer
        came: the caller decides what that means for this infno."""
        msgid = msgid or self.msgids.next()
        try:
            response = self.http.post("/v1/national",
                                      json=self.envelope(infno, payload, insuplc, msgid))
        except httpx.TransportError as exc:
            print(f"{infno:>5}  {msgid}  no answer ({type(exc).__name__}){note}")
            raise
        try:
            body = response.json()
            answer = Answer(infno, msgid, int(body["infcode"]), str(body.get("err_msg") or ""),
                            dict(body.get("output") or {}))
        except (ValueError, KeyError, TypeError):
            raise HisError(f"{infno}: not a national answer envelope (HTTP "
                           f"{response.status_code}): {response.text[:300]}") from None
        shown = "" if answer.infcode == 0 else f"  {answer.err_msg}"
        print(f"{infno:>5}  {msgid}  infcode {answer.infcode:>2}{note}{shown}")
        return answer

    def ok(self, infno: str, payload: Mapping[str, Any], insuplc: str = "") -> dict[str, Any]:
        """A transaction that must succeed; a refusal or no answer ends the run."""
        try:
            answer = self.send(infno, payload, insuplc)
        except httpx.TransportError as exc:
            raise HisError(f"{infno}: the node did not answer ({exc})") from None
        if answer.infcode != 0:
            raise HisError(f"{infno} refused: {answer.err_msg}")
        return answer.output

    def close(self) -> None:
        self.http.close()


def show(label: str, figures: Mapping[str, Any], names: Sequence[str]) -> None:
    print("       " + label + "  " + "  ".join(f"{n} {figures.get(n, '-')}" for n in names))


# --------------------------------------------------------------------------- the visit


SPLIT = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")
PIECES = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")


@dataclass
class Visit:
    id_number: str
    psn_no: str = ""
    insutype: str = ""
    home: str = ""
    mdtrt_id: str = ""
    batch: str = ""
    reversed: list[str] = field(default_factory=list)  # 2207 msgids reversed with 2601

    def cert(self) -> dict[str, str]:
        return {"psn_no": self.psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": self.id_number}


@dataclass
class Books:
    """What the HIS has on its books for the day (3201): count and yuan totals in fen."""

    count: int = 0
    medfee: int = 0
    fund: int = 0
    acct: int = 0

    def add(self, setlinfo: Mapping[str, Any], sign: int = 1) -> None:
        """A settlement (+1) or, with ``sign`` -1, its cancel; 2208 answers negated amounts,
        so the cancel's figures are taken from the settlement it cancels."""
        self.count += sign
        self.medfee += sign * fen(setlinfo["medfee_sumamt"])
        self.fund += sign * fen(setlinfo["fund_pay_sumamt"])
        self.acct += sign * fen(setlinfo["acct_pay"])


def run_visit(his: NationalClient, visit: Visit, bill: Sequence[Line], args: argparse.Namespace
              ) -> int:
    now = datetime.now(BEIJING)
    begntime = f"{now:%Y-%m-%d %H:%M:%S}"

    # 1101 人员信息获取: who she is and where she is insured (insuplc_admdvs for what follows)
    person = his.ok("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": visit.id_number}})
    base, insu = person["baseinfo"], person["insuinfo"][0]
    visit.psn_no, visit.insutype = base["psn_no"], insu["insutype"]
    visit.home = insu["insuplc_admdvs"]
    print(f"       {base['psn_name']} {base['certno']} age {base['age']}: insured in "
          f"{visit.home} (insutype {visit.insutype}), account balance {insu['balc']} yuan, "
          f"filed here: {', '.join(insu.get('filed') or []) or 'no'}")
    if visit.home == his.region:
        print(f"       note: insured in {his.region} itself, not a patient from elsewhere")

    # 2201 门诊挂号 and 2203 就诊信息上传
    registered = his.ok("2201", {"data": {
        **visit.cert(), "insutype": visit.insutype, "begntime": begntime,
        "ipt_otp_no": f"MZ{now:%Y%m%d%H%M%S}", "atddr_no": "D0001", "dr_name": "医生甲",
        "dept_code": "A03", "dept_name": "呼吸内科", "caty": "A03",
    }}, visit.home)
    visit.mdtrt_id = registered["data"]["mdtrt_id"]
    print(f"       mdtrt_id {visit.mdtrt_id}")
    his.ok("2203", {
        "mdtrtinfo": {"mdtrt_id": visit.mdtrt_id, "psn_no": visit.psn_no, "med_type": "11",
                      "begntime": begntime, "main_cond_dscr": "咽痛、咳嗽三天",
                      "dise_codg": "J06.900", "dise_name": "急性上呼吸道感染"},
        "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "J06.900",
                      "diag_name": "急性上呼吸道感染", "diag_dept": "呼吸内科",
                      "dise_dor_no": "D0001", "dise_dor_name": "医生甲", "diag_time": begntime}],
    }, visit.home)

    # 2204 费用明细上传: one charge batch (chrg_bchno) with the bill's lines
    visit.batch = f"CB{now:%Y%m%d%H%M%S}"
    rows = [{
        "feedetl_sn": f"{visit.batch}-{i + 1:03d}", "mdtrt_id": visit.mdtrt_id,
        "psn_no": visit.psn_no, "chrg_bchno": visit.batch, "med_list_codg": line.code,
        "medins_list_codg": f"HIS{i + 1:05d}", "cnt": str(line.cnt), "pric": yuan(line.pric),
        "det_item_fee_sumamt": yuan(line.amount), "fee_ocur_time": begntime,
        "bilg_dept_codg": "A03", "bilg_dept_name": "呼吸内科",
    } for i, line in enumerate(bill)]
    uploaded = his.ok("2204", {"feedetail": rows}, visit.home)
    for line, result in zip(bill, uploaded["result"], strict=True):
        print(f"       {line.code:<23} {line.name[:12]:<12} {line.cnt} × {yuan(line.pric):>7} "
              f"= {result['det_item_fee_sumamt']:>7}  lv {result['chrgitm_lv']}  "
              f"covered {result['inscp_scp_amt']:>7}  self {result['fulamt_ownpay_amt']}"
              f"/{result['overlmt_amt']}/{result['preselfpay_amt']}")
    medfee = sum(line.amount for line in bill)

    # 2206 预结算: the split as it would be now, nothing charged
    settle_data = {**visit.cert(), "med_type": "11", "medfee_sumamt": yuan(medfee),
                   "psn_setlway": "01", "mdtrt_id": visit.mdtrt_id, "chrg_bchno": visit.batch,
                   "insutype": visit.insutype, "acct_used_flag": "1"}
    preview = his.ok("2206", {"data": settle_data}, visit.home)["setlinfo"]
    show("pre-settle", preview, SPLIT)

    # This HIS keeps no books of earlier settlements, so it takes the node's totals for the
    # day before this visit as its opening balance (tongban's 3201 answer carries them).
    day = f"{datetime.now(BEIJING):%Y-%m-%d}"
    books = opening_books(his, visit, day)

    # 2207 结算, reversed (2601) and settled again under a new msgid when no answer comes
    setlinfo = settle(his, visit, settle_data, args)
    show("settled   ", setlinfo, SPLIT)
    show("          ", setlinfo, (*PIECES, "act_pay_dedc", "balc"))
    books.add(setlinfo)

    cancelled: dict[str, Any] | None = None
    if args.cancel:  # 2208 结算撤销: the home region restores what it took
        cancelled = his.ok("2208", {"data": {"setl_id": setlinfo["setl_id"],
                                             "mdtrt_id": visit.mdtrt_id,
                                             "psn_no": visit.psn_no}}, visit.home)["setlinfo"]
        show("cancelled ", cancelled, ("medfee_sumamt", "fund_pay_sumamt", "acct_pay",
                                       "psn_cash_pay"))
        books.add(setlinfo, sign=-1)

    # 3201 对总账: the day's totals on the HIS's books against the node's
    rslt = reconcile(his, visit, day, books)
    balanced = rslt["stmt_rslt"] == "0"
    print(f"       {rslt['stmt_rslt_dscr']}  (HIS: {books.count} settlements, medfee "
          f"{yuan(books.medfee)}, fund {yuan(books.fund)}, account {yuan(books.acct)}; node: "
          f"{json.dumps(rslt.get('node', {}), ensure_ascii=False)})")

    print()
    print(f"Settlement {setlinfo['setl_id']} of visit {visit.mdtrt_id}"
          + (" (cancelled)" if cancelled else ""))
    if visit.reversed:
        print(f"  reversed first (2601): {', '.join(visit.reversed)}")
    for label, name in (("medical fees (medfee_sumamt)", "medfee_sumamt"),
                        ("paid by the fund (fund_pay_sumamt)", "fund_pay_sumamt"),
                        ("from her personal account (acct_pay)", "acct_pay"),
                        ("cash at the counter (psn_cash_pay)", "psn_cash_pay")):
        print(f"  {label:<38} {setlinfo[name]:>10} yuan")
    print(f"  3201 for {day}: {'balanced' if balanced else 'NOT balanced'}")
    if args.json:
        print(json.dumps({
            "setl_id": setlinfo["setl_id"], "mdtrt_id": visit.mdtrt_id,
            "psn_no": visit.psn_no, "insuplc_admdvs": visit.home,
            "split": {name: setlinfo[name] for name in (*SPLIT, *PIECES, "hifp_pay", "balc")},
            "cancelled": cancelled is not None, "reversed": visit.reversed,
            "stmt_rslt": rslt["stmt_rslt"], "day": day,
        }, ensure_ascii=False))
    return EXIT_OK if balanced else EXIT_UNBALANCED


def settle(his: NationalClient, visit: Visit, data: Mapping[str, Any],
           args: argparse.Namespace) -> dict[str, Any]:
    """2207 until one settlement stands; an unanswered one is reversed before the next."""
    for attempt in range(1, args.attempts + 1):
        msgid = his.msgids.next()
        note = f"  (attempt {attempt})" if attempt > 1 else ""
        try:
            answer = his.send("2207", {"data": dict(data)}, visit.home, msgid, note)
        except httpx.TransportError:
            answer = None  # timed out: it may have settled, or not; only 2601 makes it sure
        if answer is not None and answer.infcode == 0:
            setlinfo: dict[str, Any] = answer.output["setlinfo"]
            return setlinfo
        if answer is not None and answer.code != "SETTLEMENT_UNKNOWN":
            raise HisError(f"2207 refused: {answer.err_msg}")
        print(f"       the outcome of {msgid} is unknown: reversing it (2601) before settling "
              "again")
        reverse(his, visit, msgid, args)
        visit.reversed.append(msgid)
    raise HisError(f"no settlement after {args.attempts} attempts, each reversed: nothing is "
                   "charged; try again later")


def reverse(his: NationalClient, visit: Visit, omsgid: str, args: argparse.Namespace) -> None:
    """2601 冲正 of a 2207 by its msgid, sent again (same msgid) until it is done."""
    msgid = his.msgids.next()
    payload = {"data": {"psn_no": visit.psn_no, "omsgid": omsgid, "oinfno": "2207"}}
    deadline = time.monotonic() + args.reversal_wait
    pause = 0.2
    while True:
        try:
            answer = his.send("2601", payload, visit.home, msgid)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.infcode == 0:
            return
        if answer is not None and answer.code not in ("REVERSAL_PENDING",):
            raise HisError(f"2601 of {omsgid} refused: {answer.err_msg}")
        if time.monotonic() >= deadline:
            raise HisError(
                f"the reversal of {omsgid} is not done yet (the home region {visit.home} does "
                f"not answer). Do not settle visit {visit.mdtrt_id} again before it is: send "
                f"the 2601 (msgid {msgid}) again later; the node completes it when the home "
                "region is back", EXIT_OPEN)
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


def _reconcile_data(visit: Visit, his: NationalClient, day: str, books: Books
                    ) -> dict[str, Any]:
    return {"data": {"insutype": visit.insutype, "clr_type": "11", "setl_optins": his.region,
                     "stmt_begndate": day, "stmt_enddate": day,
                     "medfee_sumamt": yuan(books.medfee), "fund_pay_sumamt": yuan(books.fund),
                     "acct_pay": yuan(books.acct), "fixmedins_setl_cnt": books.count}}


def opening_books(his: NationalClient, visit: Visit, day: str) -> Books:
    """The node's totals for the day before this visit (3201 with empty books)."""
    out = his.ok("3201", _reconcile_data(visit, his, day, Books()))["data"]
    node = out.get("node")
    if not isinstance(node, Mapping):
        print("       (the node gives no totals: the HIS's books start empty)")
        return Books()
    opening = Books(int(node["fixmedins_setl_cnt"]), fen(node["medfee_sumamt"]),
                    fen(node["fund_pay_sumamt"]), fen(node["acct_pay"]))
    print(f"       opening books for {day}: {opening.count} settlements, medfee "
          f"{yuan(opening.medfee)}, fund {yuan(opening.fund)}, account {yuan(opening.acct)}")
    return opening


def reconcile(his: NationalClient, visit: Visit, day: str, books: Books) -> dict[str, Any]:
    out: dict[str, Any] = his.ok("3201", _reconcile_data(visit, his, day, books))["data"]
    return out


# --------------------------------------------------------------------------- defaults


def node_region(http: httpx.Client) -> str:
    """The node's region, from its health page (GET /v1/health)."""
    response = http.get("/v1/health")
    if response.status_code != 200:
        raise HisError(f"GET /v1/health: HTTP {response.status_code} {response.text[:200]}")
    return str(response.json()["region"])


def demo_samples(node_url: str, timeout: float) -> dict[str, Any] | None:
    """`tongban demo`'s sample people and hospitals (/console/api/demo), when it serves them."""
    root, sep, _region = node_url.rstrip("/").rpartition("/nodes/")
    if not sep:
        return None
    try:
        response = httpx.get(f"{root}/console/api/demo", timeout=timeout)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    samples: dict[str, Any] = response.json()
    return samples


def credentials(args: argparse.Namespace, region: str,
                samples: Mapping[str, Any] | None) -> tuple[str, str]:
    """(institution, API key): the options, else the demo's credentials file, else the demo's
    console samples; an institution of the node's own region."""
    if args.api_key and args.institution:
        return args.institution, args.api_key
    keys: dict[str, str] = {}
    path = args.data_dir / CREDENTIALS_FILE
    if path.is_file():
        keys = json.loads(path.read_text(encoding="utf-8"))
    for sample in (samples or {}).get("institutions", []):
        keys.setdefault(sample["code"], sample["api_key"])
    if args.institution:
        if args.institution not in keys:
            raise HisError(f"no API key for {args.institution}: pass --api-key")
        return args.institution, keys[args.institution]
    ours = sorted(code for code in keys if code[1:7] == region)
    if not ours:
        raise HisError(f"no hospital of {region} found in {path} or the demo's samples: pass "
                       "--institution and --api-key")
    return ours[0], keys[ours[0]]


def patient(args: argparse.Namespace, region: str, samples: Mapping[str, Any] | None) -> str:
    """--id-number, else an insured person of another region from the demo's samples: an
    employee (310, settles without a filing) or anyone whose filing covers this region."""
    if args.id_number:
        return str(args.id_number)
    people = [p for p in (samples or {}).get("residents", []) if p["home_region"] != region]

    def fits(p: Mapping[str, Any]) -> bool:
        covered = any(t in (region, region[:2] + "0000") for t in p.get("filed", []))
        return p["insutype"] == "310" or covered

    people.sort(key=lambda p: (p["home_region"] != "330700", not fits(p)))  # Jinhua first
    if not people or not fits(people[0]):
        raise HisError("no insured person of another region found (the demo's samples are "
                       "served only by `tongban demo`): pass --id-number")
    chosen = people[0]
    print(f"patient: {chosen['name']}, insured in {chosen['home_region']} (demo sample)")
    return str(chosen["id_number"])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="An example HIS: one outpatient visit of a patient from another region "
        "through tongban's national interface (1101 2201 2203 2204 2206 2207 3201).")
    parser.add_argument("--node", default=DEFAULT_NODE,
                        help=f"the node's base URL (default {DEFAULT_NODE}; a `tongban node` "
                        "process: http://HOST:PORT)")
    parser.add_argument("--institution", help="fixmedins_code, 12 characters (default: the "
                        "first of the node's region in the demo's credentials)")
    parser.add_argument("--api-key", help="the hospital's API key (default: from "
                        "DATA_DIR/demo-credentials.json)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="`tongban demo`'s data directory (default ./tongban-data)")
    parser.add_argument("--id-number", help="the patient's ID number (default: an insured "
                        "person of another region from `tongban demo`'s samples)")
    parser.add_argument("--bill", type=Path, help='a JSON list of lines {"code", "cnt", '
                        '"pric" (yuan), "name"} (default: a small built-in bill)')
    parser.add_argument("--cancel", action="store_true",
                        help="cancel the settlement afterwards (2208)")
    parser.add_argument("--timeout", type=float, default=15.0,
                        help="seconds to wait for an answer (default 15)")
    parser.add_argument("--attempts", type=int, default=3,
                        help="settle attempts, each unanswered one reversed (default 3)")
    parser.add_argument("--reversal-wait", type=float, default=30.0,
                        help="seconds to keep sending a pending 2601 (default 30)")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary as the last line")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    node_url = args.node.rstrip("/")
    his: NationalClient | None = None
    try:
        bill = read_bill(args.bill)
        with httpx.Client(base_url=node_url, timeout=args.timeout) as http:
            region = node_region(http)
        samples = demo_samples(node_url, args.timeout)
        institution, key = credentials(args, region, samples)
        id_number = patient(args, region, samples)
        print(f"node {node_url} (region {region}), hospital {institution}\n")
        his = NationalClient(node_url, region, institution, key, args.timeout)
        return run_visit(his, Visit(id_number), bill, args)
    except HisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except httpx.TransportError as exc:
        print(f"error: cannot reach {node_url}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if his is not None:
            his.close()


if __name__ == "__main__":
    sys.exit(main())
