"""Request and response bodies of the node API. Money is integer fen; quantities are strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from tongban.domain.catalogue import BillLine
from tongban.domain.money import parse_decimal
from tongban.domain.reconciliation import check_listing_size, parse_line, parse_totals
from tongban.errors import InvalidInput
from tongban.service_layer.reconciliation import ReconcileDetail, ReconcileTotals

# ASCII digits only: "\d" would also let full-width (３) and Arabic-Indic (٣) digits through.
DecimalString = Annotated[
    str, Field(pattern=r"^-?[0-9]{1,9}(\.[0-9]{1,6})?$", examples=["1", "0.5"])
]
SettlementId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
# A catalogue code (national item codes are ASCII letters and digits): a look-alike code, e.g.
# with full-width digits, would otherwise be classified as an item not in the catalogue.
ItemCode = Annotated[
    str,
    Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$", examples=["001102000010000"]),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """RFC 9457 problem details, as every refusal is answered: match on `code`, not `title`."""

    model_config = ConfigDict(extra="allow")  # e.g. `errors` (schema), `line` (a bill line)

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(examples=["FILING_REQUIRED", "INVALID_ID_NUMBER"])
    instance: str


class BillLineIn(Strict):
    code: ItemCode
    quantity: DecimalString
    unit_price: StrictInt = Field(description="fen per unit")
    amount: StrictInt | None = Field(default=None, description="fen; must equal quantity × price")

    def to_domain(self, index: int) -> BillLine:
        try:
            quantity = parse_decimal(self.quantity, "quantity")
        except ValueError as exc:
            raise InvalidInput("INVALID_LINE", f"line {index + 1}: {exc}") from None
        return BillLine(self.code, quantity, self.unit_price, self.amount)


Lines = Annotated[list[BillLineIn], Field(min_length=1, max_length=500)]


def lines_to_domain(lines: list[BillLineIn]) -> tuple[BillLine, ...]:
    return tuple(line.to_domain(i) for i, line in enumerate(lines))


class RegisterVisitIn(Strict):
    institution_code: Annotated[str, Field(examples=["H31000000001"], max_length=32)]
    id_number: Annotated[
        str, Field(description="resident ID number (18 characters)", max_length=32)
    ]
    med_type: Literal["outpatient", "inpatient"] = "outpatient"
    emergency: StrictBool = False


class VisitOut(BaseModel):
    visit_id: str
    institution_code: str
    home_region: str
    insutype: str
    med_type: str
    emergency: bool
    visit_date: date
    masked_id: str
    masked_name: str
    filed: list[str]


class PreviewIn(Strict):
    lines: Lines
    use_account: StrictBool = True


class Split(BaseModel):
    medfee_sumamt: int
    fulamt_ownpay_amt: int
    overlmt_selfpay: int
    preselfpay_amt: int
    inscp_scp_amt: int
    act_pay_dedc: int
    hifp_pay: int
    acct_pay: int
    psn_part_amt: int
    psn_cash_pay: int
    balc: int
    ratio_applied: str


class ClassifiedLineOut(BaseModel):
    code: str
    name: str | None
    class_: str | None = Field(alias="class")
    quantity: str
    unit_price: int
    amount: int
    fulamt_ownpay_amt: int
    overlmt_selfpay: int
    preselfpay_amt: int
    inscp_scp_amt: int


class PreviewOut(BaseModel):
    visit_id: str
    filing: str
    split: Split
    lines: list[dict[str, Any]]


class SettleIn(Strict):
    settlement_id: SettlementId
    visit_id: Annotated[str, Field(min_length=1, max_length=40)]
    lines: Lines
    use_account: StrictBool = True


class SettlementOut(BaseModel):
    settlement_id: str
    status: str
    visit_id: str
    institution_code: str
    home_region: str
    settled_on: date
    split: Split | None
    lines: list[dict[str, Any]]
    error_code: str | None = None
    error_detail: str | None = None
    settled_at: datetime | None = None
    cancelled_at: datetime | None = None


class FilingOut(BaseModel):
    filing_id: str
    kind: str
    target_region: str
    start_date: date
    end_date: date | None
    revoked_on: date | None
    commitment: str


# --- daily reconciliation (对账, like national 3201 / 3202) ---------------------------------
# Amounts and counts stay raw here so that the domain parsers refuse a float or a negative
# count with a stable code (INVALID_AMOUNT, INVALID_COUNT) instead of a generic schema error.
FenIn = Annotated[Any, Field(description="integer fen (a float is refused)", examples=[14251])]
CountIn = Annotated[Any, Field(description="a whole number, not negative", examples=[3])]
InsutypeIn = Annotated[str, Field(max_length=8, description="310 employees, 390 residents")]


class ReconTotalsLineIn(Strict):
    """One insutype's totals as the hospital counted them: amounts signed (cancels −)."""

    insutype: InsutypeIn
    settle_count: CountIn
    cancel_count: CountIn
    medfee_sumamt: FenIn
    fund_pay: FenIn
    acct_pay: FenIn


class ReconcileTotalsIn(Strict):
    institution_code: Annotated[str | None, Field(max_length=32)] = None
    from_date: date
    to_date: date
    totals: Annotated[list[ReconTotalsLineIn], Field(max_length=10)]

    def to_command(self) -> ReconcileTotals:
        rows = tuple(parse_totals(row.model_dump(), i) for i, row in enumerate(self.totals, 1))
        return ReconcileTotals(self.from_date, self.to_date, rows, self.institution_code)


class ReconLineIn(Strict):
    """One settle or cancel event: the settlement's amounts, positive; `event` gives the sign."""

    settlement_id: Annotated[str, Field(max_length=64)]
    event: Annotated[str, Field(max_length=8, examples=["settle", "cancel"])]
    insutype: InsutypeIn
    medfee_sumamt: FenIn
    fund_pay: FenIn
    acct_pay: FenIn


class ReconcileDetailIn(Strict):
    institution_code: Annotated[str | None, Field(max_length=32)] = None
    from_date: date
    to_date: date
    lines: list[ReconLineIn] = Field(description="at most 100,000; each (id, event) once")

    def to_command(self) -> ReconcileDetail:
        check_listing_size(len(self.lines))
        lines = tuple(parse_line(line.model_dump(), i) for i, line in enumerate(self.lines, 1))
        return ReconcileDetail(self.from_date, self.to_date, lines, self.institution_code)


class ReconTotalsOut(BaseModel):
    count: int
    settle_count: int
    cancel_count: int
    medfee_sumamt: int
    fund_pay: int
    acct_pay: int


class ReconInsutypeOut(BaseModel):
    insutype: str
    balanced: bool
    node: ReconTotalsOut
    hospital: ReconTotalsOut


class ReconUnresolvedOut(BaseModel):
    settlement_id: str
    event: str
    insutype: str
    medfee_sumamt: int


class ReconcileTotalsOut(BaseModel):
    institution_code: str
    from_date: date
    to_date: date
    as_of: datetime
    balanced: bool
    node: ReconTotalsOut
    hospital: ReconTotalsOut
    insutypes: list[ReconInsutypeOut]
    unresolved: list[ReconUnresolvedOut]


class ReconLineOut(BaseModel):
    insutype: str
    medfee_sumamt: int
    fund_pay: int
    acct_pay: int


class ReconDifferenceOut(BaseModel):
    settlement_id: str
    event: str
    kind: Literal["MISSING_AT_NODE", "MISSING_AT_HOSPITAL", "DIFFERS", "UNRESOLVED_AT_NODE"]
    fields: list[str]
    node: ReconLineOut | None
    hospital: ReconLineOut | None


class ReconcileDetailOut(BaseModel):
    institution_code: str
    from_date: date
    to_date: date
    as_of: datetime
    balanced: bool
    node_lines: int
    hospital_lines: int
    matched: int
    differences: list[ReconDifferenceOut]
    unresolved: list[ReconUnresolvedOut]
