"""What must hold once recovery has finished, whatever faults were injected.

1. Nothing is left unresolved at any visit node.
2. Every settlement id is in the same final state at visit and home, with the same money, and
   a home record that holds money has exactly one visit record that says so.
3. No person was charged twice or missed: each account balance is its opening balance less
   the account payments of the standing settlements, and each accumulator is the sum of their
   deltas.
4. Once the faults stop, a hospital retrying an id gets a final answer; and what a hospital
   was told stays true: settled stays settled (or cancelled, if it asked),
   with the amounts it was told; cancelled, refused and voided stay so.
5. Every ledger balances and agrees with the records.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from tongban.adapters.storage import schema as t
from tongban.faultsim.workload import Workload
from tongban.faultsim.world import REGIONS, SimWorld
from tongban.service_layer import wire
from tongban.service_layer.ledger_check import check_node
from tongban.service_layer.records import UNRESOLVED, HomeStatus, VisitStatus

HOLDS_MONEY = {HomeStatus.COMMITTED.value, HomeStatus.CANCELLED.value}
SAME_STATE = {VisitStatus.SETTLED.value: "COMMITTED", VisitStatus.CANCELLED.value: "CANCELLED"}
Row = dict[str, Any]


def _rows(world: SimWorld, region: str, table: Any) -> list[Row]:
    with world.runtime(region).store.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table)).all()]


def check_invariants(world: SimWorld, workload: Workload) -> list[str]:
    visit = {
        r: {x["settlement_id"]: x for x in _rows(world, r, t.visit_settlements)} for r in REGIONS
    }
    home = {
        r: {x["settlement_id"]: x for x in _rows(world, r, t.home_settlements)} for r in REGIONS
    }
    problems: list[str] = []
    problems += _both_sides_agree(visit, home)
    problems += _people_charged_once(world, home, workload)
    problems += _hospitals_told_the_truth(visit, home, workload)
    for region in REGIONS:
        book = check_node(region, world.runtime(region).store)
        if not book.sound:
            problems.append(f"ledger {region}: {book.audit} {book.differences}")
    return problems


def _both_sides_agree(
    visit: dict[str, dict[str, Row]], home: dict[str, dict[str, Row]]
) -> list[str]:
    problems = []
    for region, records in visit.items():
        for sid, v in records.items():
            if v["status"] in {s.value for s in UNRESOLVED}:
                problems.append(f"{sid}: still {v['status']} at visit {region}")
                continue
            h = home[v["home_region"]].get(sid)
            want = SAME_STATE.get(v["status"])
            if want is None:  # refused or voided: the home must hold no money for it
                if h is not None and h["status"] in HOLDS_MONEY:
                    problems.append(f"{sid}: {v['status']} at visit, {h['status']} at home")
            elif h is None or h["status"] != want or h["visit_region"] != region:
                problems.append(f"{sid}: {v['status']} at visit, {h and h['status']} at home")
            elif (v["hifp_pay"], v["acct_pay"]) != (h["hifp_pay"], h["acct_pay"]):
                problems.append(f"{sid}: visit and home disagree on the money")
    for region, records in home.items():
        for sid, h in records.items():
            if h["status"] not in HOLDS_MONEY:
                continue
            seen = visit[h["visit_region"]].get(sid)
            if seen is None or SAME_STATE.get(seen["status"]) != h["status"]:
                problems.append(
                    f"{sid}: {h['status']} at home {region}, {seen and seen['status']} at visit"
                )
    return problems


def _people_charged_once(
    world: SimWorld, home: dict[str, dict[str, Row]], workload: Workload
) -> list[str]:
    problems = []
    opening = {p.id_number: p.opening_balance for p in workload.cast.people}
    for region in REGIONS:
        persons = {p["person_id"]: p for p in _rows(world, region, t.persons)}
        debits: dict[int, int] = defaultdict(int)
        deltas: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for h in home[region].values():
            if h["status"] != HomeStatus.COMMITTED.value:
                continue  # refused and aborted never moved money; cancelled gave it back
            debits[h["person_id"]] += h["acct_pay"]
            delta = wire.delta_from_json(h["delta"])
            total = deltas[(h["person_id"], h["year"], h["med_type"])]
            total[0] += delta.deductible_used
            total[1] += delta.fund_paid
            total[2] += delta.admissions
        for person_id, person in persons.items():
            expected = opening[person["id_number"]] - debits[person_id]
            if person["account_balance"] != expected:
                problems.append(
                    f"person {person_id}@{region}: account "
                    f"{person['account_balance']}, expected {expected}"
                )
        for a in _rows(world, region, t.accumulators):
            have = [a["deductible_used"], a["fund_paid"], a["admissions"]]
            want = deltas.pop((a["person_id"], a["year"], a["med_type"]), [0, 0, 0])
            if have != want:
                problems.append(
                    f"person {a['person_id']}@{region} {a['med_type']}: "
                    f"accumulated {have}, settlements say {want}"
                )
        problems += [
            f"person {k[0]}@{region}: settlements with no accumulator"
            for k, v in deltas.items()
            if v != [0, 0, 0]
        ]
    return problems


def _hospitals_told_the_truth(
    visit: dict[str, dict[str, Row]], home: dict[str, dict[str, Row]], workload: Workload
) -> list[str]:
    problems = []
    for bill in workload.bills:
        sid = bill.settlement_id
        if bill.told is None:
            problems.append(f"{sid}: no final answer for the hospital once the faults stopped")
            continue
        v = visit[bill.visit.region].get(sid)
        final = v["status"] if v else None
        told = bill.told.value
        if bill.told is VisitStatus.SETTLED:
            allowed = {told, VisitStatus.CANCELLED.value} if bill.cancel_asked else {told}
            if final not in allowed:
                problems.append(f"{sid}: the hospital was told SETTLED, it ended {final}")
            elif v and (v["hifp_pay"], v["acct_pay"], v["psn_cash_pay"]) != bill.told_amounts:
                problems.append(f"{sid}: the hospital was told other amounts than stored")
        elif bill.told is VisitStatus.REFUSED:
            h = home[bill.visit.person.home_region].get(sid)
            if final not in (None, told) or (h is not None and h["status"] in HOLDS_MONEY):
                problems.append(f"{sid}: refused ({bill.told_code}), yet it ended {final}")
        elif final != told:
            problems.append(f"{sid}: the hospital was told {told}, it ended {final}")
    return problems
