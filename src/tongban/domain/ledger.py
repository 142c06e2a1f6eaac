"""The double-entry ledger (复式记账): accounts, immutable transfers, and what each event posts.

A transfer moves an integer number of fen from one account's debit side to another's credit
side, so every transfer balances by construction; what the ledger check verifies is that the
stored account totals, the stored transfers and the settlement records all tell the same story.
Transfers are never changed or deleted: a correction is a new transfer the other way.

Account names are ``kind`` or ``kind:qualifier`` (a region code, an institution code, a
person number), so a reader can tell what an account is from its name alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from tongban.errors import InvalidInput

_ACCOUNT = re.compile(r"[a-z_]{1,32}(:[A-Za-z0-9_.-]{1,64})?")
_TRANSFER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class EventKind(StrEnum):
    """What happened to a settlement: it was settled (+) or cancelled (−)."""

    SETTLE = "settle"
    CANCEL = "cancel"

    @property
    def sign(self) -> int:
        return 1 if self is EventKind.SETTLE else -1


# --- accounts -------------------------------------------------------------------------------
# Visit node (就医地): it advances the fund's share to its hospitals and is owed it by the home.
def due_from_home(home_region: str) -> str:
    return f"due_from_home:{home_region}"  # 应收参保地 (asset)


def due_to_hospital(institution_code: str) -> str:
    return f"due_to_hospital:{institution_code}"  # 应付定点机构 (liability)


# Home node (参保地): the pooled fund and the personal accounts pay; the visit region is owed.
FUND_EXPENSE = "fund_expense"  # 统筹基金支出
ACCOUNT_FUNDING = "account_funding"  # where personal-account money comes from (opening balances)


def due_to_visit(visit_region: str) -> str:
    return f"due_to_visit:{visit_region}"  # 应付就医地 (liability)


def personal_account(person_id: int) -> str:
    return f"personal_account:{person_id}"  # 个人账户 (liability to the insured)


# Both nodes and the hub: the monthly clearing (清算) through the reserves (预付金).
CLEARING = "clearing"  # transit account of the clearing: back to zero after every period
RESERVE_AT_HUB = "reserve_at_hub"  # a node's reserve as the node books it (asset)
HUB_BANK = "hub_bank"  # the hub's bank account holding all reserves (asset)


def reserve(region: str) -> str:
    return f"reserve:{region}"  # the hub's book of a region's reserve (liability to the region)


def clearing_of(period: str) -> str:
    return f"clearing:{period}"


# --- transfers ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Transfer:
    """``amount`` fen from ``debit`` to ``credit``; ``transfer_id`` is chosen by the caller."""

    transfer_id: str
    debit: str
    credit: str
    amount: int
    code: str  # what moved: settle.fund, cancel.account, clearing, deposit, correction ...
    ref: str = ""  # the settlement id, period or note the transfer belongs to

    def content_hash(self) -> str:
        """Same id with the same content is a no-op; with other content it is refused."""
        text = "\x1f".join((self.debit, self.credit, str(self.amount), self.code, self.ref))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def reversed(self, transfer_id: str, code: str) -> Transfer:
        return Transfer(transfer_id, self.credit, self.debit, self.amount, code, self.ref)


def validate(transfers: Sequence[Transfer]) -> None:
    """Refuse a batch (a linked group: all or none) that could not be posted as a whole."""
    seen: set[str] = set()
    for t in transfers:
        if not _TRANSFER_ID.fullmatch(t.transfer_id):
            raise InvalidInput("INVALID_TRANSFER", f"bad transfer id {t.transfer_id!r}")
        if t.transfer_id in seen:
            raise InvalidInput("INVALID_TRANSFER", f"{t.transfer_id} twice in one group")
        seen.add(t.transfer_id)
        for account in (t.debit, t.credit):
            if not _ACCOUNT.fullmatch(account):
                raise InvalidInput("INVALID_ACCOUNT", f"bad account name {account!r}")
        if t.debit == t.credit:
            raise InvalidInput(
                "INVALID_TRANSFER", f"{t.transfer_id} debits and credits one account"
            )
        if isinstance(t.amount, bool) or not isinstance(t.amount, int) or t.amount <= 0:
            raise InvalidInput("INVALID_AMOUNT", f"{t.transfer_id}: amount must be fen > 0")


def _pair(
    prefix: str, event: EventKind, debit: str, credit: str, fund: int, account: int, ref: str
) -> list[Transfer]:
    """The fund and personal-account legs of one event; a cancel runs them the other way."""
    if event is EventKind.CANCEL:
        debit, credit = credit, debit
    legs = [
        Transfer(f"{prefix}:{event.value}:fund", debit, credit, fund, f"{event.value}.fund", ref),
        Transfer(
            f"{prefix}:{event.value}:account", debit, credit, account, f"{event.value}.account", ref
        ),
    ]
    return [leg for leg in legs if leg.amount > 0]


def visit_postings(
    settlement_id: str,
    event: EventKind,
    home_region: str,
    institution_code: str,
    hifp_pay: int,
    acct_pay: int,
) -> list[Transfer]:
    """At the visit node: owed by the home region, owed to the hospital."""
    return _pair(
        f"v:{settlement_id}",
        event,
        due_from_home(home_region),
        due_to_hospital(institution_code),
        hifp_pay,
        acct_pay,
        settlement_id,
    )


def home_postings(
    settlement_id: str,
    event: EventKind,
    visit_region: str,
    person_id: int,
    hifp_pay: int,
    acct_pay: int,
) -> list[Transfer]:
    """At the home node: the fund's and the personal account's share, owed to the visit region."""
    owed = due_to_visit(visit_region)
    prefix = f"h:{visit_region}:{settlement_id}"  # ids are unique within a visit region only
    fund = _pair(prefix, event, FUND_EXPENSE, owed, hifp_pay, 0, settlement_id)
    account = _pair(prefix, event, personal_account(person_id), owed, 0, acct_pay, settlement_id)
    return fund + account


def opening_balance(person_id: int, amount: int) -> list[Transfer]:
    """A personal account's balance when the person was loaded (from outside the ledger)."""
    if amount <= 0:
        return []
    return [
        Transfer(
            f"open:{person_id}",
            ACCOUNT_FUNDING,
            personal_account(person_id),
            amount,
            "opening",
            str(person_id),
        )
    ]


# --- balances -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Balance:
    account: str
    debits: int
    credits: int

    @property
    def debit_balance(self) -> int:
        return self.debits - self.credits

    @property
    def credit_balance(self) -> int:
        return self.credits - self.debits


def trial_balance(balances: Iterable[Balance]) -> tuple[int, int]:
    """(Σ debits, Σ credits) over all accounts: equal in a sound ledger (试算平衡)."""
    debits = credits = 0
    for b in balances:
        debits += b.debits
        credits += b.credits
    return debits, credits


@dataclass
class LedgerAudit:
    """What the ledger check found in one book; sound when every list is empty."""

    transfers: int = 0
    debits: int = 0
    credits: int = 0
    unopened_accounts: list[str] = field(default_factory=list)
    bad_transfers: list[str] = field(default_factory=list)  # amount ≤ 0, self-transfer, tampered

    @property
    def balanced(self) -> bool:
        return self.debits == self.credits

    @property
    def sound(self) -> bool:
        return self.balanced and not self.unopened_accounts and not self.bad_transfers
