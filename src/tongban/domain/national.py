"""The national medical-insurance interface, as pure data: envelopes, answers, yuan on the wire.

Hospital systems speak the national platform's envelope (``infno``, ``msgid``, ..., ``input``)
and expect the answer envelope (``infcode``, ``inf_refmsgid``, ..., ``output``) with amounts as
yuan strings with two decimals. Inside tongban every amount stays integer fen (DESIGN.md §3);
this module is the only place where the two meet. No I/O here: the adapter calls these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from tongban.domain.money import MAX_MAGNITUDE, Fen, parse_yuan, yuan
from tongban.errors import InvalidInput, TongbanError

# Transaction numbers tongban answers or knows (reference/national-interface.md §2.2).
KNOWN_INFNOS = frozenset(
    {"9001", "9002", "1101", "2001"}
    | {str(n) for n in range(1301, 1322)}
    | {"2501", "2502", "2503", "2504", "2505", "2506", "2101", "2102", "2103"}
    | {"2201", "2202", "2203", "2203A", "2204", "2205", "2206", "2207", "2208"}
    | {"2401", "2402", "2404", "2405", "2301", "2302", "2303", "2304", "2305", "2601"}
    | {"3201", "3202", "3203", "3204", "13203", "3260", "3261", "3262"}
    | {"4101", "4101A", "5203", "5204", "5301", "9101", "9102"}
)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # inf_time, refmsg_time, respond_time
_STAMP_FORMAT = "%Y%m%d%H%M%S"  # the 14 digits inside msgid and inf_refmsgid
_REGION = re.compile(r"[0-9]{6}")
_INSTITUTION = re.compile(r"[0-9A-Za-z]{12}")  # e.g. H41130200746
_MSGID = re.compile(r"([0-9A-Za-z]{12})([0-9]{14})([0-9]{4})")
_INF_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_OPTIONAL_TEXT = ("opter", "opter_name", "opter_type", "sign_no", "infver", "signtype")


@dataclass(frozen=True)
class Envelope:
    """A validated request envelope; ``input`` is read-only and still in wire form."""

    infno: str
    msgid: str
    mdtrtarea_admvs: str
    insuplc_admdvs: str | None
    fixmedins_code: str
    inf_time: datetime
    input: Mapping[str, Any]
    optional: Mapping[str, str]  # opter, opter_name, sign_no, ... when sent


def _bad(field: str, detail: str, code: str = "BAD_ENVELOPE") -> InvalidInput:
    return InvalidInput(code, f"{field}: {detail}", field=field)


def _text(obj: Mapping[str, Any], field: str) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, "required text is missing")
    return value.strip()


def _region(obj: Mapping[str, Any], field: str) -> str:
    value = _text(obj, field)
    if not _REGION.fullmatch(value):
        raise _bad(field, f"region codes are 6 digits, got {value!r}", "INVALID_REGION")
    return value


def parse_envelope(obj: object) -> Envelope:
    """Validate a decoded request envelope. Raises ``InvalidInput`` with a stable code:
    BAD_ENVELOPE, UNKNOWN_INFNO, INVALID_MSGID, INVALID_REGION."""
    if not isinstance(obj, Mapping):
        raise InvalidInput("BAD_ENVELOPE", "the envelope must be a JSON object")
    infno = _text(obj, "infno")
    if infno not in KNOWN_INFNOS:
        raise _bad("infno", f"unknown transaction {infno!r}", "UNKNOWN_INFNO")
    fixmedins_code = _text(obj, "fixmedins_code")
    if not _INSTITUTION.fullmatch(fixmedins_code):
        raise _bad("fixmedins_code", "institution codes are 12 letters or digits")
    msgid = _text(obj, "msgid")
    match = _MSGID.fullmatch(msgid)
    if match is None:
        raise _bad("msgid", "expected institution code 12 + yyyyMMddHHmmss + 4 digits (30 "
                   f"characters), got {msgid!r}", "INVALID_MSGID")
    if match.group(1) != fixmedins_code:
        raise _bad("msgid", "does not start with fixmedins_code", "INVALID_MSGID")
    try:
        datetime.strptime(match.group(2), _STAMP_FORMAT)
    except ValueError:
        raise _bad("msgid", "its 14-digit time is not a date", "INVALID_MSGID") from None
    mdtrtarea = _region(obj, "mdtrtarea_admvs")
    # Required only with a person (psn_no in input); sign-in and downloads come without it.
    insuplc: str | None = None
    if obj.get("insuplc_admdvs") not in (None, ""):
        insuplc = _region(obj, "insuplc_admdvs")
    raw_time = _text(obj, "inf_time")
    try:
        if not _INF_TIME.fullmatch(raw_time):
            raise ValueError(raw_time)
        inf_time = datetime.strptime(raw_time, TIME_FORMAT)
    except ValueError:
        raise _bad("inf_time", f'expected "YYYY-MM-DD HH:MM:SS", got {raw_time!r}') from None
    payload = obj.get("input")
    if not isinstance(payload, Mapping):
        raise _bad("input", "must be a JSON object")
    if insuplc is None and _has_person(payload):
        raise _bad("insuplc_admdvs", "required when the input names a person (psn_no)")
    optional = {}
    for field in _OPTIONAL_TEXT:
        value = obj.get(field)
        if value is not None and not isinstance(value, str):
            raise _bad(field, "must be text")
        if value:
            optional[field] = value
    return Envelope(
        infno=infno, msgid=msgid, mdtrtarea_admvs=mdtrtarea, insuplc_admdvs=insuplc,
        fixmedins_code=fixmedins_code, inf_time=inf_time,
        input=MappingProxyType(dict(payload)), optional=MappingProxyType(optional),
    )


def _has_person(payload: Mapping[str, Any]) -> bool:
    # The person may be at the top of input or inside its first-level objects ("data").
    if payload.get("psn_no"):
        return True
    return any(isinstance(v, Mapping) and v.get("psn_no") for v in payload.values())


def _refmsgid(receiver_region: str, now: datetime, serial: int) -> str:
    if not _REGION.fullmatch(receiver_region):
        raise ValueError(f"receiver region must be 6 digits, got {receiver_region!r}")
    if isinstance(serial, bool) or not 0 <= serial < 10**10:
        raise ValueError(f"serial must fit 10 digits, got {serial!r}")
    return f"{receiver_region}{now.strftime(_STAMP_FORMAT)}{serial:010d}"


def answer(envelope: Envelope, output: Mapping[str, Any], receiver_region: str, now: datetime,
           serial: int, received: datetime | None = None) -> dict[str, Any]:
    """The success answer: infcode 0 and inf_refmsgid = region 6 + time 14 + serial 10.

    ``received`` (refmsg_time) is when the request arrived; it defaults to ``now``."""
    del envelope  # the national answer does not echo msgid; kept for symmetry and later checks
    return {
        "infcode": 0,
        "inf_refmsgid": _refmsgid(receiver_region, now, serial),
        "refmsg_time": (received or now).strftime(TIME_FORMAT),
        "respond_time": now.strftime(TIME_FORMAT),
        "err_msg": "",
        "output": dict(output),
    }


def error_answer(error: TongbanError, receiver_region: str, now: datetime, serial: int,
                 received: datetime | None = None) -> dict[str, Any]:
    """The failure answer: infcode -1 and err_msg "<CODE>: detail" (the code is stable)."""
    detail = error.detail if error.detail != error.code else ""
    return {
        "infcode": -1,
        "inf_refmsgid": _refmsgid(receiver_region, now, serial),
        "refmsg_time": (received or now).strftime(TIME_FORMAT),
        "respond_time": now.strftime(TIME_FORMAT),
        "err_msg": f"{error.code}: {detail}" if detail else error.code,
        "output": {},
    }


# --------------------------------------------------------------------------- amounts

_MAX_YUAN = MAX_MAGNITUDE / 100  # parse_yuan's bound: below 10^15 fen


def fen_of_wire(value: object, field: str = "amount", allow_negative: bool = False) -> Fen:
    """Yuan on the wire (text "12.30", an integer, or a JSON number) as exact integer fen.

    More than two decimals is refused (INVALID_AMOUNT), never rounded; so are booleans,
    NaN/infinity and, unless ``allow_negative``, negative amounts."""
    if isinstance(value, bool):
        raise _amount(field, value)
    if isinstance(value, float):
        # Many hospital systems send amounts as JSON numbers, which decoders turn into floats.
        # repr() of a float is the shortest text that reads back as the same float, so for
        # any amount a person wrote with at most two decimals (and up to 15 digits) repr gives
        # back exactly that text; Decimal(repr) is then exact. A repr with more decimals (or
        # an exponent) means the sender did not write a two-decimal amount: refuse it.
        if not math.isfinite(value) or "e" in repr(value):
            raise _amount(field, value)
        value = repr(value)
    elif isinstance(value, int):
        if not abs(value) < _MAX_YUAN:
            raise _amount(field, "too large")
        value = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite() or not value.copy_abs() < _MAX_YUAN:
            raise _amount(field, value)
        value = format(value, "f")
    try:
        fen = parse_yuan(value, field)
    except ValueError:
        raise _amount(field, value) from None
    if fen < 0 and not allow_negative:
        raise InvalidInput("INVALID_AMOUNT", f"{field} must not be negative", field=field)
    return fen


def _amount(field: str, value: object) -> InvalidInput:
    shown = value if isinstance(value, str) and len(value) < 40 else type(value).__name__
    return InvalidInput(
        "INVALID_AMOUNT", f"{field} must be yuan with at most two decimals, got {shown!r}",
        field=field,
    )


def wire_of_fen(fen: Fen) -> str:
    """Integer fen as yuan text with two decimals: 1230 -> "12.30"."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be an int, got {fen!r}")
    return yuan(fen)


# --------------------------------------------------------------------------- codes

_CLASS_OF_LV = {"01": "A", "02": "B", "03": "C"}  # 甲类 / 乙类 / 丙类 (自费)
_LV_OF_CLASS = {v: k for k, v in _CLASS_OF_LV.items()}


def coverage_of_chrgitm_lv(lv: object) -> str:
    """National charge-item level 01/02/03 -> catalogue class A/B/C."""
    if not isinstance(lv, str) or lv.strip() not in _CLASS_OF_LV:
        raise InvalidInput("INVALID_CHRGITM_LV", f"chrgitm_lv must be 01, 02 or 03, got {lv!r}")
    return _CLASS_OF_LV[lv.strip()]


def chrgitm_lv_of_coverage(coverage: str) -> str:
    """Catalogue class A/B/C -> national charge-item level 01/02/03."""
    if coverage not in _LV_OF_CLASS:
        raise ValueError(f"coverage class must be A, B or C, got {coverage!r}")
    return _LV_OF_CLASS[coverage]


# --------------------------------------------------------------------------- settlement

SPLIT_AMOUNTS = (
    "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
    "act_pay_dedc", "hifp_pay", "acct_pay", "psn_part_amt", "psn_cash_pay", "balc",
)
# The pooled fund (统筹基金) of each insurance type: the only fund tongban settles.
POOLED_FUND_NAMES = {"310": "职工基本医疗保险统筹基金", "390": "城乡居民基本医疗保险基金"}


def settlement_output(split: Mapping[str, Any], *, clr_optins: str, insutype: str = "310",
                      clr_type: str = "11", extra: Mapping[str, Any] | None = None,
                      ) -> dict[str, Any]:
    """Tongban's split (fen, DESIGN.md §4.2 names) as the national settlement output (yuan).

    Reading chosen for hospital integrators: ``fund_pay_sumamt`` is the sum of all fund
    payments and only the pooled fund exists here, so it equals ``hifp_pay``; the personal
    account is not a fund, so ``acct_pay`` stays its own field and is not a ``setldetail`` row.
    ``setldetail`` always carries the pooled-fund row (even at 0.00) so that its
    ``fund_payamt`` sum equals ``fund_pay_sumamt``, which is what integrators reconcile on.
    ``extra`` (setl_id, mdtrt_id, psn_no, ...) is copied in first; amounts cannot be overridden.
    """
    if not re.fullmatch(r"[0-9]{3}", insutype):
        raise ValueError(f"insutype must be 3 digits, got {insutype!r}")
    fen = {name: _split_fen(split, name) for name in SPLIT_AMOUNTS}
    if fen["hifp_pay"] + fen["acct_pay"] + fen["psn_cash_pay"] != fen["medfee_sumamt"]:
        raise ValueError("split does not balance: hifp_pay + acct_pay + psn_cash_pay != medfee")
    out: dict[str, Any] = dict(extra or {})
    out.update({name: wire_of_fen(amount) for name, amount in fen.items()})
    out["fund_pay_sumamt"] = wire_of_fen(fen["hifp_pay"])
    out["insutype"] = insutype
    out["clr_optins"] = clr_optins
    out["clr_type"] = clr_type
    ratio = split.get("ratio_applied")
    if ratio is not None:
        out["ratio_applied"] = str(ratio)  # tongban's own field, harmless to integrators
    pooled = f"{insutype}100"
    out["setldetail"] = [{
        "fund_pay_type": pooled,
        "fund_pay_type_name": POOLED_FUND_NAMES.get(insutype, "统筹基金"),
        "inscp_scp_amt": wire_of_fen(fen["inscp_scp_amt"]),
        "fund_payamt": wire_of_fen(fen["hifp_pay"]),
    }]
    return out


def _split_fen(split: Mapping[str, Any], name: str) -> Fen:
    value = split.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"split field {name} must be non-negative integer fen, got {value!r}")
    return value
