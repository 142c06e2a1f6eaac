"""Home side (参保地政策): apply the home region's policy to a classified bill.

DESIGN.md §4.2, exactly. The result is a ``Split``; ``StateDelta`` is what committing it
changes in the person's yearly state, and ``reverse`` of that delta is what a cancel restores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from tongban.domain.catalogue import BillPieces
from tongban.domain.money import Fen, round_half_up
from tongban.errors import Refused


class MedType(StrEnum):
    OUTPATIENT = "outpatient"  # 门诊
    INPATIENT = "inpatient"  # 住院


class InsuType(StrEnum):
    EMPLOYEE = "310"  # 职工基本医疗保险
    RESIDENT = "390"  # 城乡居民基本医疗保险


class FilingCategory(StrEnum):
    LONG_TERM = "long_term"  # 异地长期居住/安置/工作: no reduction
    REFERRAL = "referral"  # 转诊
    EMERGENCY = "emergency"  # 急诊抢救
    OTHER = "other"  # 其他临时外出
    NONE = "none"  # 未备案: uses the ``unfiled`` reduction, or is refused


class AccountPiece(StrEnum):
    """Personal pieces the personal account (个人账户) may pay."""

    DEDUCTIBLE = "deductible"
    COPAY = "copay"
    PRESELFPAY = "preselfpay"
    OWNPAY = "ownpay"
    OVERLIMIT = "overlimit"


@dataclass(frozen=True, slots=True)
class Reduction:
    """Ratio points taken off by filing category. ``unfiled=None``: refuse without a filing."""

    referral: Decimal = Decimal(0)
    emergency: Decimal = Decimal(0)
    other: Decimal = Decimal(0)
    unfiled: Decimal | None = None

    def for_category(self, category: FilingCategory) -> Decimal | None:
        match category:
            case FilingCategory.LONG_TERM:
                return Decimal(0)
            case FilingCategory.REFERRAL:
                return self.referral
            case FilingCategory.EMERGENCY:
                return self.emergency
            case FilingCategory.OTHER:
                return self.other
            case FilingCategory.NONE:
                return self.unfiled


@dataclass(frozen=True, slots=True)
class Policy:
    insutype: str
    med_type: MedType
    deductible: Fen  # 起付线: outpatient per year, inpatient per admission
    ratio: Decimal  # 支付比例
    annual_cap: Fen  # 年度最高支付限额, on fund payments of this med_type
    reduction: Reduction = field(default_factory=Reduction)
    account_covers: frozenset[AccountPiece] = frozenset()
    deductible_subsequent: Fen | None = None  # inpatient, from the 2nd admission of the year
    level: int | None = None  # institution level 1/2/3 this row applies to


@dataclass(frozen=True, slots=True)
class PersonState:
    """A person's state for one calendar year and one med_type, plus the account balance."""

    deductible_used: Fen = 0
    fund_paid: Fen = 0
    account_balance: Fen = 0
    admissions: int = 0


@dataclass(frozen=True, slots=True)
class Split:
    """Who pays what for one bill, with the national field names (DESIGN.md §4)."""

    medfee_sumamt: Fen
    fulamt_ownpay_amt: Fen
    overlmt_selfpay: Fen
    preselfpay_amt: Fen
    inscp_scp_amt: Fen
    act_pay_dedc: Fen
    hifp_pay: Fen
    acct_pay: Fen
    psn_part_amt: Fen
    psn_cash_pay: Fen
    balc: Fen
    ratio_applied: Decimal

    @property
    def copay(self) -> Fen:
        return self.inscp_scp_amt - self.act_pay_dedc - self.hifp_pay


@dataclass(frozen=True, slots=True)
class StateDelta:
    """What committing a split adds to the person's state; a cancel subtracts exactly this."""

    deductible_used: Fen = 0
    fund_paid: Fen = 0
    admissions: int = 0
    account_debit: Fen = 0

    def reversed(self) -> StateDelta:
        return StateDelta(
            -self.deductible_used, -self.fund_paid, -self.admissions, -self.account_debit
        )


def effective_ratio(policy: Policy, category: FilingCategory) -> Decimal:
    """ratio − reduction[category], clamped to [0, 1]; refuses unfiled visits if the policy does."""
    reduction = policy.reduction.for_category(category)
    if reduction is None:
        raise Refused(
            "FILING_REQUIRED",
            "direct settlement away from home needs a filing (备案) under this policy",
        )
    return min(max(policy.ratio - reduction, Decimal(0)), Decimal(1))


def best_category(policy: Policy, candidates: Iterable[FilingCategory]) -> FilingCategory:
    """Of the categories a visit qualifies for, the one most favourable to the patient."""

    def ratio_of(category: FilingCategory) -> Decimal:
        reduction = policy.reduction.for_category(category)
        return Decimal(-1) if reduction is None else policy.ratio - reduction

    options = list(candidates) or [FilingCategory.NONE]
    return max(options, key=ratio_of)


def compute_split(
    pieces: BillPieces,
    policy: Policy,
    state: PersonState,
    category: FilingCategory,
    use_account: bool,
) -> Split:
    """Apply the policy to a classified bill (DESIGN.md §4.2)."""
    ratio = effective_ratio(policy, category)
    inscp = pieces.inscp_scp_amt
    if policy.med_type is MedType.OUTPATIENT:
        remaining = max(0, policy.deductible - state.deductible_used)
    elif state.admissions > 0 and policy.deductible_subsequent is not None:
        remaining = policy.deductible_subsequent
    else:
        remaining = policy.deductible
    act_pay_dedc = min(inscp, remaining)
    hifp_pay = min(
        round_half_up((inscp - act_pay_dedc) * ratio),
        max(0, policy.annual_cap - state.fund_paid),
    )
    copay = inscp - act_pay_dedc - hifp_pay
    acct_pay = 0
    if use_account:
        by_piece = {
            AccountPiece.DEDUCTIBLE: act_pay_dedc,
            AccountPiece.COPAY: copay,
            AccountPiece.PRESELFPAY: pieces.preselfpay_amt,
            AccountPiece.OWNPAY: pieces.fulamt_ownpay_amt,
            AccountPiece.OVERLIMIT: pieces.overlmt_selfpay,
        }
        coverable = sum(by_piece[p] for p in policy.account_covers)
        acct_pay = max(0, min(state.account_balance, coverable))
    medfee = pieces.medfee_sumamt
    psn_part_amt = medfee - hifp_pay
    return Split(
        medfee_sumamt=medfee,
        fulamt_ownpay_amt=pieces.fulamt_ownpay_amt,
        overlmt_selfpay=pieces.overlmt_selfpay,
        preselfpay_amt=pieces.preselfpay_amt,
        inscp_scp_amt=inscp,
        act_pay_dedc=act_pay_dedc,
        hifp_pay=hifp_pay,
        acct_pay=acct_pay,
        psn_part_amt=psn_part_amt,
        psn_cash_pay=psn_part_amt - acct_pay,
        balc=state.account_balance - acct_pay,
        ratio_applied=ratio,
    )


def commit_delta(split: Split, med_type: MedType) -> StateDelta:
    """The state changes committing this split records (DESIGN.md §4.2 "On commit")."""
    outpatient = med_type is MedType.OUTPATIENT
    return StateDelta(
        deductible_used=split.act_pay_dedc if outpatient else 0,
        fund_paid=split.hifp_pay,
        admissions=0 if outpatient else 1,
        account_debit=split.acct_pay,
    )


def apply_delta(state: PersonState, delta: StateDelta) -> PersonState:
    return replace(
        state,
        deductible_used=state.deductible_used + delta.deductible_used,
        fund_paid=state.fund_paid + delta.fund_paid,
        admissions=state.admissions + delta.admissions,
        account_balance=state.account_balance - delta.account_debit,
    )
