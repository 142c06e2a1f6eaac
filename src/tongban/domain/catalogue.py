"""Visit side (就医地目录): classify each bill line by the visit region's catalogue.

DESIGN.md §4.1. Per line: amount = round_half_up(q × p); unknown or class C → fully self-paid;
a price cap splits off the over-limit part; class B takes an up-front self-pay share of the
capped amount, rounded half-up per line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tongban.domain.money import Fen, round_half_up
from tongban.errors import InvalidInput

MAX_LINE_AMOUNT = Decimal(10) ** 15  # fen (10 trillion yuan): keeps arithmetic exact


class CoverageClass(StrEnum):
    A = "A"  # 甲类: fully covered
    B = "B"  # 乙类: covered after an up-front self-pay share
    C = "C"  # 丙类: not covered


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    code: str
    name: str
    coverage: CoverageClass
    selfpay_ratio: Decimal = Decimal(0)
    price_cap: Fen | None = None  # 限价, fen per unit


@dataclass(frozen=True, slots=True)
class BillLine:
    code: str
    quantity: Decimal
    unit_price: Fen
    amount: Fen | None = None  # if the caller sent one, it must equal round_half_up(q × p)


@dataclass(frozen=True, slots=True)
class BillPieces:
    """The four pieces of a bill; their sum is ``medfee_sumamt`` by construction."""

    fulamt_ownpay_amt: Fen = 0  # 全自费
    overlmt_selfpay: Fen = 0  # 超限价自费
    preselfpay_amt: Fen = 0  # 先行自付
    inscp_scp_amt: Fen = 0  # 符合政策范围

    @property
    def medfee_sumamt(self) -> Fen:
        return (
            self.fulamt_ownpay_amt + self.overlmt_selfpay + self.preselfpay_amt + self.inscp_scp_amt
        )

    def __add__(self, other: BillPieces) -> BillPieces:
        return BillPieces(
            self.fulamt_ownpay_amt + other.fulamt_ownpay_amt,
            self.overlmt_selfpay + other.overlmt_selfpay,
            self.preselfpay_amt + other.preselfpay_amt,
            self.inscp_scp_amt + other.inscp_scp_amt,
        )


@dataclass(frozen=True, slots=True)
class ClassifiedLine:
    index: int
    code: str
    name: str | None  # None when the code is not in the catalogue
    coverage: CoverageClass | None
    quantity: Decimal
    unit_price: Fen
    amount: Fen
    pieces: BillPieces


@dataclass(frozen=True, slots=True)
class ClassifiedBill:
    lines: tuple[ClassifiedLine, ...]
    pieces: BillPieces

    @property
    def medfee_sumamt(self) -> Fen:
        return self.pieces.medfee_sumamt


def line_amount(line: BillLine, index: int) -> Fen:
    """Check one line and return its amount; the first bad line decides the error."""
    if line.quantity <= 0 or line.unit_price < 0:
        raise InvalidInput(
            "INVALID_LINE",
            f"line {index + 1} ({line.code}): quantity must be > 0 and unit price >= 0",
            line=index,
        )
    exact = line.quantity * line.unit_price
    if exact >= MAX_LINE_AMOUNT:
        raise InvalidInput(
            "INVALID_LINE",
            f"line {index + 1} ({line.code}): amount is implausibly large",
            line=index,
        )
    amount = round_half_up(exact)
    if line.amount is not None and line.amount != amount:
        raise InvalidInput(
            "AMOUNT_MISMATCH",
            f"line {index + 1} ({line.code}): amount {line.amount} != quantity × unit price "
            f"= {amount} fen",
            line=index,
        )
    return amount


def classify_line(line: BillLine, amount: Fen, item: CatalogueItem | None) -> BillPieces:
    if item is None or item.coverage is CoverageClass.C:
        return BillPieces(fulamt_ownpay_amt=amount)
    over = 0
    if item.price_cap is not None:
        over = max(0, amount - round_half_up(line.quantity * item.price_cap))
    capped = amount - over
    pre = 0
    if item.coverage is CoverageClass.B:
        pre = round_half_up(capped * item.selfpay_ratio)
    return BillPieces(overlmt_selfpay=over, preselfpay_amt=pre, inscp_scp_amt=capped - pre)


def classify(lines: Iterable[BillLine], catalogue: Mapping[str, CatalogueItem]) -> ClassifiedBill:
    """Classify a bill. All lines are checked before any is classified."""
    lines = tuple(lines)
    amounts = [line_amount(line, i) for i, line in enumerate(lines)]
    classified: list[ClassifiedLine] = []
    total = BillPieces()
    for i, (line, amount) in enumerate(zip(lines, amounts, strict=True)):
        item = catalogue.get(line.code)
        pieces = classify_line(line, amount, item)
        total = total + pieces
        classified.append(
            ClassifiedLine(
                index=i,
                code=line.code,
                name=item.name if item else None,
                coverage=item.coverage if item else None,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=amount,
                pieces=pieces,
            )
        )
    return ClassifiedBill(tuple(classified), total)
