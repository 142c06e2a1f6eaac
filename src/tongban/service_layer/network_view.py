"""The whole network's flows for a period: every visit node's flow rows added up.

Only cross-region routes count (home ≠ visit): a node's own insured treated at home are not
this platform's business. Refusals are counted by their stable code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from tongban.service_layer.records import VisitStatus
from tongban.service_layer.region_view import FlowRow, check_range

SETTLED, CANCELLED = VisitStatus.SETTLED.value, VisitStatus.CANCELLED.value
REFUSED = {VisitStatus.REFUSED.value, VisitStatus.VOIDED.value}


@dataclass
class Tally:
    settled: int = 0
    cancelled: int = 0
    refused: int = 0
    unresolved: int = 0  # PENDING / UNKNOWN / CANCELLING: recovery finishes them
    medfee: int = 0  # fen, over settlements that stand
    fund: int = 0
    account: int = 0
    cash: int = 0

    def add(self, row: FlowRow) -> None:
        if row.status == SETTLED:
            self.settled += row.count
            self.medfee += row.medfee
            self.fund += row.fund
            self.account += row.account
            self.cash += row.cash
        elif row.status == CANCELLED:
            self.cancelled += row.count
        elif row.status in REFUSED:
            self.refused += row.count
        else:
            self.unresolved += row.count


def network_flows(
    rows_by_visit_region: Mapping[str, Iterable[FlowRow]], from_date: date, to_date: date
) -> dict[str, Any]:
    check_range(from_date, to_date)
    routes: dict[tuple[str, str], Tally] = {}
    days: dict[date, Tally] = {}
    refusals: Counter[str] = Counter()
    totals = Tally()
    for visit_region, rows in rows_by_visit_region.items():
        for row in rows:
            if row.home_region == visit_region:
                continue
            routes.setdefault((row.home_region, visit_region), Tally()).add(row)
            days.setdefault(row.day, Tally()).add(row)
            totals.add(row)
            if row.status in REFUSED:
                refusals[row.error_code or "UNKNOWN_REASON"] += row.count
    return {
        "from_date": from_date,
        "to_date": to_date,
        "routes": [
            {"home_region": home, "visit_region": visit, **asdict(t)}
            for (home, visit), t in sorted(
                routes.items(), key=lambda kv: (-kv[1].settled, -kv[1].fund, kv[0])
            )
        ],
        "days": [{"day": day, **asdict(t)} for day, t in sorted(days.items())],
        "refusals": [{"code": c, "count": n} for c, n in refusals.most_common()],
        "totals": asdict(totals),
    }
