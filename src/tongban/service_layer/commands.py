"""Commands: what a caller asks a node to do, as small immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tongban.domain.catalogue import BillLine


@dataclass(frozen=True, slots=True)
class RegisterVisit:  # 门诊挂号 / 入院登记
    institution_code: str
    id_number: str
    med_type: str
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class PreviewBill:  # 预结算
    visit_id: str
    lines: tuple[BillLine, ...]
    use_account: bool = True


@dataclass(frozen=True, slots=True)
class SettleBill:  # 结算
    settlement_id: str
    visit_id: str
    lines: tuple[BillLine, ...]
    use_account: bool = True


@dataclass(frozen=True, slots=True)
class CancelSettlement:  # 结算撤销
    settlement_id: str


@dataclass(frozen=True, slots=True)
class FileRecord:  # 异地就医备案
    id_number: str
    kind: str
    target_region: str
    start_date: date | None = None
    months: int | None = None
    commitment: bool = False  # the resident's personal commitment (承诺制)


@dataclass(frozen=True, slots=True)
class RevokeFiling:
    id_number: str
    filing_id: str
