"""What the crash scenario checks once the storm is over (see crash_scenario.py).

Read straight from both sides' SQLite databases (read-only) and held against what each HIS was
told: every acknowledged SETTLED id is SETTLED (or CANCELLED, when a cancel was acknowledged) at
the visit node and COMMITTED (CANCELLED) at home, with the same hifp_pay, acct_pay and medfee,
and its money posted once on each side's ledger; every acknowledged cancel is cancelled on both
sides; a VOIDED or refused id moved no money anywhere. Beyond the acknowledgements: no id is
left unresolved, the two sides agree on every id either of them holds, each person's account
equals the opening balance minus the personal-account pay of the settlements still standing,
and `tongban ledger check` passes. Each failure is a sentence in the returned list.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

_E2E = str(Path(__file__).resolve().parents[1] / "tests" / "e2e")
if _E2E not in sys.path:
    sys.path.append(_E2E)
from process_network import SHANGHAI, TONGBAN, Processes, read_rows  # noqa: E402

if TYPE_CHECKING:
    from crash_scenario import HisSettlement

UNRESOLVED = ("PENDING", "UNKNOWN", "CANCELLING")
# What the home may hold for an id, given the visit node's final state (None: nothing).
HOME_STATES: Mapping[str, set[str | None]] = {
    "SETTLED": {"COMMITTED"},
    "CANCELLED": {"CANCELLED"},
    "VOIDED": {None, "ABORTED"},
    "REFUSED": {None, "REFUSED", "ABORTED"},
}


class Side(NamedTuple):
    status: str
    region: str  # the other side's region as this side recorded it
    hifp_pay: int | None
    acct_pay: int | None
    medfee_sumamt: int | None
    person_id: int | None = None


def balances(network: Processes, home: str) -> dict[int, int]:
    rows = read_rows(network.db(home), "SELECT person_id, account_balance FROM persons")
    return {int(person): int(balance) for person, balance in rows}


def _posted(network: Processes, region: str) -> Counter[tuple[str, str]]:
    """(settlement id, settle|cancel) -> fen posted for it in this node's ledger."""
    rows = read_rows(network.db(region), "SELECT ref, code, SUM(amount) FROM ledger_transfers"
                     " WHERE code LIKE 'settle.%' OR code LIKE 'cancel.%' GROUP BY ref, code")
    posted: Counter[tuple[str, str]] = Counter()
    for ref, code, amount in rows:
        posted[(ref, code.partition(".")[0])] += int(amount)
    return posted


def verify(
    network: Processes,
    homes: Sequence[str],
    settlements: Sequence[HisSettlement],
    opening: Mapping[str, Mapping[int, int]],
) -> tuple[list[str], int]:
    """The violations found, and how many acknowledged SETTLED ids are whole on both sides."""
    problems: list[str] = []
    visit = {
        sid: Side(*rest)
        for sid, *rest in read_rows(
            network.db(SHANGHAI), "SELECT settlement_id, status, home_region, hifp_pay,"
            " acct_pay, medfee_sumamt FROM visit_settlements")
    }
    home: dict[str, Side] = {}
    spent: Counter[tuple[str, int]] = Counter()  # (home, person id): acct_pay still standing
    for region in homes:
        for sid, *rest in read_rows(
            network.db(region), "SELECT settlement_id, status, visit_region, hifp_pay, acct_pay,"
            " medfee_sumamt, person_id FROM home_settlements"
        ):
            if sid in home:
                problems.append(f"{sid} is recorded by two home regions")
            home[sid] = Side(*rest)
            person = home[sid].person_id
            if home[sid].status == "COMMITTED" and person is not None:
                spent[(region, person)] += home[sid].acct_pay or 0
            if sid not in visit and home[sid].status in ("COMMITTED", "CANCELLED"):
                problems.append(f"{sid} is {home[sid].status} at {region}, unknown at the visit"
                                " node")
            elif sid in visit and visit[sid].region != region:
                problems.append(f"{sid} is at home {region}, the visit node says "
                                f"{visit[sid].region}")
    posted = {region: _posted(network, region) for region in (SHANGHAI, *homes)}
    broken = set()  # ids whose two sides disagree in state, amounts or money
    for sid, side in visit.items():
        found = _pair_problems(sid, side, home.get(sid), posted)
        problems += found
        if found:
            broken.add(sid)
    whole = 0
    for s in settlements:
        at_visit, at_home = visit.get(s.settlement_id), home.get(s.settlement_id)
        states = (at_visit.status if at_visit else None, at_home.status if at_home else None)
        if s.outcome == "SETTLED":
            allowed = {("SETTLED", "COMMITTED"), ("CANCELLED", "CANCELLED")}
            if s.cancel == "CANCELLED":
                allowed = {("CANCELLED", "CANCELLED")}
            elif not s.cancel:
                allowed = {("SETTLED", "COMMITTED")}
            told = s.split or {}
            if states not in allowed:
                problems.append(f"{s.settlement_id}: HIS acknowledged SETTLED"
                                f" (cancel {s.cancel or 'not asked'}), sides hold {states}")
            elif any(getattr(side, name) != told.get(name) for side in (at_visit, at_home)
                     for name in ("hifp_pay", "acct_pay", "medfee_sumamt")):
                problems.append(f"{s.settlement_id}: HIS was told {told},"
                                f" sides hold {at_visit}, {at_home}")
            elif s.settlement_id not in broken:
                whole += 1
        elif (s.outcome == "VOIDED" and states[0] != "VOIDED") or (
            s.outcome == "REFUSED" and states[0] not in (None, "REFUSED")
        ):  # the home side of these is held to the visit side's above
            problems.append(f"{s.settlement_id}: HIS acknowledged {s.outcome} ({s.code}),"
                            f" sides hold {states}")
    problems += _accounts(network, spent, opening)
    checked = subprocess.run(
        [str(TONGBAN), "ledger", "check", "--data-dir", str(network.data_dir)],
        capture_output=True, text=True, timeout=120,
    )
    if checked.returncode != 0:
        problems.append(f"tongban ledger check exited {checked.returncode}:\n{checked.stdout}"
                        f"{checked.stderr}")
    return problems, whole


def _pair_problems(
    sid: str, v: Side, h: Side | None, posted: Mapping[str, Counter[tuple[str, str]]]
) -> list[str]:
    """How the two sides' records of one id disagree (state, amounts, money posted)."""
    if v.status in UNRESOLVED:
        return [f"{sid} is still {v.status} at the visit node"]
    home_status = h.status if h else None
    if home_status not in HOME_STATES.get(v.status, set()):
        return [f"{sid}: visit node {v.status}, home {home_status}"]
    problems = []
    if h is not None and v.status in ("SETTLED", "CANCELLED"):
        for name in ("hifp_pay", "acct_pay", "medfee_sumamt"):
            if getattr(v, name) != getattr(h, name):
                problems.append(f"{sid}: {name} {getattr(v, name)} at the visit node,"
                                f" {getattr(h, name)} at home")
    moved = (v.hifp_pay or 0) + (v.acct_pay or 0) if v.status in ("SETTLED", "CANCELLED") else 0
    for region, event, want in (
        (SHANGHAI, "settle", moved),
        (v.region, "settle", moved),
        (SHANGHAI, "cancel", moved if v.status == "CANCELLED" else 0),
        (v.region, "cancel", moved if v.status == "CANCELLED" else 0),
    ):
        have = posted.get(region, Counter())[(sid, event)]
        if have != want:
            problems.append(f"{sid} ({v.status}): {event} posted {have} fen at {region},"
                            f" {want} expected")
    return problems


def _accounts(
    network: Processes,
    spent: Counter[tuple[str, int]],
    opening: Mapping[str, Mapping[int, int]],
) -> list[str]:
    """Each account = opening balance - Σ acct_pay of that person's standing settlements."""
    problems = []
    for region, persons in opening.items():
        final = balances(network, region)
        for person, balance in persons.items():
            want = balance - spent[(region, person)]
            if final.get(person) != want:
                problems.append(f"{region} person {person}: account {final.get(person)} fen,"
                                f" opening {balance} - standing acct_pay = {want}")
    return problems
