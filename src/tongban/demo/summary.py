"""The day's summary per route (home → visit), computed from the stored settlements.

Nothing here counts in memory while the simulation runs: every figure is a query over the
visit nodes' settlement records, so it can be reproduced at any time (``tongban summary``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from tongban.bootstrap import EmbeddedNetwork
from tongban.service_layer.records import VisitStatus


@dataclass
class RouteSummary:
    home: str
    visit: str
    settled: int = 0  # settlements that stand (SETTLED)
    cancelled: int = 0
    refused: int = 0
    unresolved: int = 0  # PENDING / UNKNOWN / CANCELLING: recovery will finish them
    medfee: int = 0  # fen, over standing settlements
    fund: int = 0
    account: int = 0
    cash: int = 0


def day_summary(network: EmbeddedNetwork, day: date | None) -> list[RouteSummary]:
    routes: dict[tuple[str, str], RouteSummary] = {}
    for visit_code, runtime in network.nodes.items():
        with runtime.store.read() as tx:
            totals = tx.visit_totals(day)
        for row in totals:
            key = (row.other_region, visit_code)
            summary = routes.setdefault(key, RouteSummary(*key))
            status = VisitStatus(row.status)
            if status is VisitStatus.SETTLED:
                summary.settled += row.count
                summary.medfee += row.medfee_sumamt
                summary.fund += row.hifp_pay
                summary.account += row.acct_pay
                summary.cash += row.psn_cash_pay
            elif status is VisitStatus.CANCELLED:
                summary.cancelled += row.count
            elif status in (VisitStatus.REFUSED, VisitStatus.VOIDED):
                summary.refused += row.count
            else:
                summary.unresolved += row.count
    return sorted(routes.values(), key=lambda r: (-r.settled, r.home, r.visit))


def home_view(
    network: EmbeddedNetwork, day: date | None
) -> dict[tuple[str, str], tuple[int, int, int]]:
    """The same routes as the home nodes recorded them: (committed count, fund, account)."""
    out: dict[tuple[str, str], tuple[int, int, int]] = defaultdict(lambda: (0, 0, 0))
    for home_code, runtime in network.nodes.items():
        with runtime.store.read() as tx:
            for row in tx.home_totals(day):
                if row.status == "COMMITTED":
                    out[(home_code, row.other_region)] = (row.count, row.hifp_pay, row.acct_pay)
    return dict(out)
