"""The fields inside national transactions' ``input``, read into tongban's terms (pure).

Each reader raises ``InvalidInput`` with a stable code and the field's name, so a hospital
sees which field of which transaction is wrong. Readings that public sources leave open are
marked [U] with the one chosen (reference/national-interface.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tongban.domain.catalogue import BillLine, ClassifiedLine, CoverageClass
from tongban.domain.money import format_ratio, parse_decimal
from tongban.domain.national import chrgitm_lv_of_coverage, fen_of_wire, wire_of_fen
from tongban.domain.policy import MedType
from tongban.errors import InvalidInput

ID_CARD_CERT = "02"  # mdtrt_cert_type 02: 居民身份证 (01 e-voucher and 03 card are not read)
ID_CARD_PSN_CERT = "01"  # psn_cert_type 01: 居民身份证
PSN_NO_LENGTH = 30  # psn_no columns in hospital systems hold 30 characters

# med_type codes [V: public HIS code]; which of them are emergencies is [U]: 13 急诊 and
# 24 急诊转住院, the readings an integrator would expect.
_MED_TYPES: dict[str, tuple[MedType, bool]] = {
    "11": (MedType.OUTPATIENT, False),  # 普通门诊
    "12": (MedType.OUTPATIENT, False),  # 门诊挂号
    "13": (MedType.OUTPATIENT, True),  # 急诊
    "14": (MedType.OUTPATIENT, False),  # 门诊慢特病
    "21": (MedType.INPATIENT, False),  # 普通住院
    "22": (MedType.INPATIENT, False),  # 外伤住院
    "23": (MedType.INPATIENT, False),  # 转外诊治住院
    "24": (MedType.INPATIENT, True),  # 急诊转住院
}
CLR_TYPE = {MedType.OUTPATIENT: "11", MedType.INPATIENT: "21"}  # clr_type 11 门诊, 21 住院
DEFAULT_MED_TYPE = {MedType.OUTPATIENT: "11", MedType.INPATIENT: "21"}
_SN = re.compile(r"[0-9A-Za-z_.-]{1,30}")
_CODE = re.compile(r"[0-9A-Za-z._-]{1,50}")
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})( [0-9]{2}:[0-9]{2}:[0-9]{2})?")


def bad(field: str, detail: str, code: str = "BAD_INPUT") -> InvalidInput:
    return InvalidInput(code, f"{field}: {detail}", field=field)


def section(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A first-level object of ``input`` (``data``, ``mdtrtinfo``, ...)."""
    value = payload.get(name)
    if not isinstance(value, Mapping):
        raise bad(f"input.{name}", "must be a JSON object")
    return value


def rows(payload: Mapping[str, Any], name: str, limit: int = 2000) -> Sequence[Mapping[str, Any]]:
    value = payload.get(name)
    if not isinstance(value, list) or not value:
        raise bad(f"input.{name}", "must be a non-empty list of objects")
    if len(value) > limit:
        raise bad(f"input.{name}", f"at most {limit} rows in one message")
    if not all(isinstance(row, Mapping) for row in value):
        raise bad(f"input.{name}", "every row must be a JSON object")
    return value


def text(obj: Mapping[str, Any], field: str, *, required: bool = True, max_length: int = 100,
         where: str = "") -> str | None:
    value = obj.get(field)
    name = f"{where}{field}"
    if value is None or value == "":
        if required:
            raise bad(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise bad(name, "must be text")
    value = str(value).strip()
    if not value or len(value) > max_length:
        raise bad(name, f"must be 1-{max_length} characters")
    return value


def required_text(obj: Mapping[str, Any], field: str, max_length: int = 100,
                  where: str = "") -> str:
    value = text(obj, field, max_length=max_length, where=where)
    assert value is not None
    return value


def serial(obj: Mapping[str, Any], field: str, where: str = "") -> str:
    """An identifier the hospital chose (feedetl_sn, chrg_bchno): letters, digits, . _ -"""
    value = required_text(obj, field, max_length=30, where=where)
    if not _SN.fullmatch(value):
        raise bad(f"{where}{field}", "takes 1-30 ASCII letters, digits, '.', '_' or '-'")
    return value


def flag(obj: Mapping[str, Any], field: str, default: bool) -> bool:
    """A national 0/1 flag (acct_used_flag, refd_setl_flag, ...)."""
    value = obj.get(field)
    if value is None or value == "":
        return default
    # True == 1 and 1.0 == 1 in Python: only the text or the integer is a national flag
    if type(value) in (str, int) and value in ("1", "0", 1, 0):
        return value in ("1", 1)
    raise bad(field, f"is a flag, 0 or 1, got {value!r}")


def med_type(obj: Mapping[str, Any], field: str = "med_type", where: str = ""
             ) -> tuple[MedType, bool, str] | None:
    """A national med_type code as (outpatient/inpatient, emergency, the code); None if absent."""
    code = text(obj, field, required=False, max_length=8, where=where)
    if code is None:
        return None
    if code not in _MED_TYPES:
        known = ", ".join(sorted(_MED_TYPES))
        raise bad(f"{where}{field}", f"tongban settles med_type {known}; got {code!r}",
                  "UNSUPPORTED_MED_TYPE")
    kind, emergency = _MED_TYPES[code]
    return kind, emergency, code


def certificate(obj: Mapping[str, Any], where: str = "") -> str | None:
    """The ID number a message carries: mdtrt_cert_no with mdtrt_cert_type 02, or certno with
    psn_cert_type 01. None when it names no certificate at all."""
    kind = text(obj, "mdtrt_cert_type", required=False, max_length=4, where=where)
    if kind is not None:
        if kind != ID_CARD_CERT:
            raise bad(f"{where}mdtrt_cert_type", "tongban identifies people by resident ID card "
                      f"(02); got {kind!r}", "UNSUPPORTED_CERT_TYPE")
        return required_text(obj, "mdtrt_cert_no", max_length=32, where=where)
    psn_kind = text(obj, "psn_cert_type", required=False, max_length=4, where=where)
    if psn_kind is not None and psn_kind != ID_CARD_PSN_CERT:
        raise bad(f"{where}psn_cert_type", f"tongban reads resident ID cards (01); got "
                  f"{psn_kind!r}", "UNSUPPORTED_CERT_TYPE")
    return text(obj, "certno", required=False, max_length=32, where=where)


def psn_no_of(pseudonym: str) -> str:
    """The person number (人员编号) tongban hands hospitals: her keyed pseudonym, cut to fit.

    Not her ID number, so a hospital's logs of psn_no reveal nothing; [U] the national one is
    assigned by the home platform, which tongban's nodes do not share."""
    return pseudonym[:PSN_NO_LENGTH]


def national_date(obj: Mapping[str, Any], field: str) -> date:
    value = required_text(obj, field, max_length=19)
    match = _DATE.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise bad(field, f'expected "YYYY-MM-DD", got {value!r}') from None


def national_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def quantity_of_wire(value: object, field: str = "cnt") -> Decimal:
    """A quantity as text or a JSON number, exactly: a float is read back from its shortest
    text (as ``fen_of_wire`` does for amounts), never through binary arithmetic."""
    if isinstance(value, float):
        if not math.isfinite(value) or "e" in repr(value):
            raise bad(field, f"is not a plain decimal quantity: {value!r}", "INVALID_LINE")
        value = repr(value)
    try:
        return parse_decimal(value, field)
    except ValueError as exc:
        raise bad(field, str(exc), "INVALID_LINE") from None


def count_of_wire(value: object, field: str) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**9:
        raise bad(field, f"must be a whole number of settlements, got {value!r}")
    return value


# --------------------------------------------------------------------------- fee details


@dataclass(frozen=True, slots=True)
class FeeDetail:  # one row of 2204/2301 feedetail, in fen
    feedetl_sn: str
    mdtrt_id: str
    chrg_bchno: str
    code: str
    quantity: Decimal
    unit_price: int
    amount: int

    def bill_line(self) -> BillLine:
        return BillLine(self.code, self.quantity, self.unit_price, self.amount)


def fee_detail(row: Mapping[str, Any], index: int, batch_required: bool) -> FeeDetail:
    """Read one feedetail row: med_list_codg, cnt, pric (yuan), det_item_fee_sumamt (yuan)."""
    where = f"feedetail[{index}]."
    code = required_text(row, "med_list_codg", max_length=50, where=where)
    if not _CODE.fullmatch(code):
        raise bad(f"{where}med_list_codg", "is a national catalogue code (ASCII letters and "
                  "digits)", "INVALID_LINE")
    if "cnt" not in row:
        raise bad(f"{where}cnt", "is required", "INVALID_LINE")
    quantity = quantity_of_wire(row.get("cnt"), f"{where}cnt")
    unit_price = fen_of_wire(row.get("pric"), f"{where}pric")
    amount = fen_of_wire(row.get("det_item_fee_sumamt"), f"{where}det_item_fee_sumamt")
    batch = serial(row, "chrg_bchno", where) if batch_required or row.get("chrg_bchno") else ""
    return FeeDetail(
        feedetl_sn=serial(row, "feedetl_sn", where),
        mdtrt_id=required_text(row, "mdtrt_id", max_length=40, where=where),
        chrg_bchno=batch,
        code=code,
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
    )


def fee_result(sn: str, line: ClassifiedLine, selfpay_ratio: Decimal | None,
               price_cap: int | None) -> dict[str, Any]:
    """A 2204/2301 result row: how the visit region's catalogue classed the line (yuan)."""
    coverage = line.coverage or CoverageClass.C  # not in the catalogue: self-paid like 丙类
    return {
        "feedetl_sn": sn,
        "det_item_fee_sumamt": wire_of_fen(line.amount),
        "cnt": str(line.quantity),
        "pric": wire_of_fen(line.unit_price),
        "pric_uplmt_amt": wire_of_fen(price_cap) if price_cap is not None else "",
        "selfpay_prop": format_ratio(selfpay_ratio or Decimal(0)),
        "fulamt_ownpay_amt": wire_of_fen(line.pieces.fulamt_ownpay_amt),
        "overlmt_amt": wire_of_fen(line.pieces.overlmt_selfpay),
        "preselfpay_amt": wire_of_fen(line.pieces.preselfpay_amt),
        "inscp_scp_amt": wire_of_fen(line.pieces.inscp_scp_amt),
        "chrgitm_lv": chrgitm_lv_of_coverage(coverage.value),
        "memo": "" if line.coverage else "不在就医地目录内 (not in the visit region's catalogue)",
    }


# --------------------------------------------------------------------------- reconciliation

# 3201 stmt_rslt: [U] "0" 平 (balanced) and "1" 不平, as hospital systems display them; the
# reference notes "000000" from one secondary source, which reads like an infcode.
BALANCED, UNBALANCED = "0", "1"
# 3202 row results [V: a public UI]: 1 中心多, 2 医药机构多, 3 数据不一致; 4 is tongban's own.
DETAIL_RESULTS = {
    "MISSING_AT_HOSPITAL": ("1", "中心多 (the node has it, the hospital does not)"),
    "MISSING_AT_NODE": ("2", "医药机构多 (the hospital has it, the node does not)"),
    "DIFFERS": ("3", "数据不一致 (amounts or insutype differ)"),
    "UNRESOLVED_AT_NODE": ("4", "待参保地确认 (the home region has not answered yet)"),
}
