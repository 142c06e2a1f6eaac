"""``tongban ledger check``: each book against itself and against the records it mirrors.

Σ debits = Σ credits is the first line, but a book can balance and still be wrong, so the
check also recomputes what every settlement account should hold from the settlement records,
each personal account from the persons table, and each closed period's reserve movements from
its signed statements. A difference is named, never averaged away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tongban.domain import ledger as acc
from tongban.domain.ledger import LedgerAudit
from tongban.service_layer.ports import NodeStore

SETTLEMENT_CODES = ("settle.fund", "settle.account", "cancel.fund", "cancel.account")


@dataclass
class BookCheck:
    name: str
    audit: LedgerAudit
    accounts: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return self.audit.sound and not self.differences


def check_node(name: str, store: NodeStore) -> BookCheck:
    with store.read() as tx:
        audit = tx.ledger.audit()
        everything = tx.ledger.balances()
        posted = tx.ledger.balances(SETTLEMENT_CODES)
        expected = tx.standing_by_account()
        balances = tx.account_balances()
    check = BookCheck(name, audit, accounts=len(everything))
    for account in sorted(expected.keys() | posted.keys()):
        have = posted[account].debit_balance if account in posted else 0
        want = expected.get(account, 0)
        if have != want:
            check.differences.append(
                f"{account}: settlement postings {have} fen, settlement records say {want}"
            )
    for person_id, balance in sorted(balances.items()):
        account = acc.personal_account(person_id)
        booked = everything[account].credit_balance if account in everything else 0
        if booked != balance:
            check.differences.append(
                f"{account}: ledger {booked} fen, the person's account balance is {balance}"
            )
    transit = everything.get(acc.CLEARING)
    if transit is not None and transit.debit_balance != 0:
        check.differences.append(f"clearing account holds {transit.debit_balance} fen, not 0")
    return check


def check_hub(name: str, store: Any) -> BookCheck:
    """The hub's book: reserves moved by exactly each closed period's signed nets."""
    audit = store.audit()
    balances = store.balances()
    check = BookCheck(name, audit, accounts=len(balances))
    closed = {r.period for r in store.periods() if r.status == "CLOSED"}
    for period in sorted(closed):
        transit = balances.get(acc.clearing_of(period))
        if transit is not None and transit.debit_balance != 0:
            check.differences.append(f"{transit.account} holds {transit.debit_balance} fen, not 0")
        nets = {s["region"]: int(s["net"]) for s in store.statements(period)}
        if sum(nets.values()) != 0:
            check.differences.append(f"{period}: statements net to {sum(nets.values())}, not 0")
        moved: dict[str, int] = {}
        for row in store.transfers(ref=period):
            if row["code"] != "clearing":
                continue
            # Credited to a reserve: the region received; debited: it paid.
            for account, sign in ((row["credit"], 1), (row["debit"], -1)):
                if account.startswith(acc.reserve("")):
                    region = account.removeprefix(acc.reserve(""))
                    moved[region] = moved.get(region, 0) + sign * int(row["amount"])
        for region, net in sorted(nets.items()):
            if moved.get(region, 0) != net:
                check.differences.append(
                    f"{period} {region}: reserve moved {moved.get(region, 0)} fen,"
                    f" the signed statement says {net}"
                )
    return check
