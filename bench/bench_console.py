"""What the console's views cost: each read route against the bare SQL it stands on.

Opens a demo network (``tongban demo --no-serve`` builds one; default ./tongban-data) and times,
through the real FastAPI app in-process (``TestClient``: routing, auth, JSON, no sockets):

- the network view for one day and for the day's month (every node's flows added up),
  beside one plain ``GROUP BY`` per node database through ``sqlite3`` (the floor);
- a page of Shanghai's settlements (search, newest first) beside its plain ``SELECT``;
- a resident's explained settlement (the home node asks the visit node for the lines over the
  signed exchange) beside the resident's list of settlements (no exchange).

    .venv/bin/python bench/bench_console.py [--data-dir tongban-data] [--repeat 50]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from tongban.bootstrap import DataLayout, EmbeddedNetwork
from tongban.demo.console_samples import demo_operator_key
from tongban.entrypoints.api.embedded import create_network_app


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("tongban-data"))
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    layout = DataLayout(args.data_dir)
    if not layout.database_path("hub").exists():
        raise SystemExit(f"no network in {args.data_dir}: run `tongban demo --no-serve` first")
    network = EmbeddedNetwork(args.data_dir).open()
    key = demo_operator_key(network)
    client = TestClient(create_network_app(network))
    auth = {"Authorization": f"Bearer {key}"}
    paths = {code: layout.database_path(code) for code in network.nodes}
    with sqlite3.connect(paths["310000"]) as db:
        day = date.fromisoformat(db.execute("select max(settled_on) from visit_settlements")
                                 .fetchone()[0])
        settled = db.execute("select count(*) from visit_settlements").fetchone()[0]
    month = (day.replace(day=1), day)
    rows: list[tuple[str, float, float]] = []

    def network_view(first: date, last: date) -> Callable[[], object]:
        params = {"from_date": first.isoformat(), "to_date": last.isoformat()}
        return lambda: client.get("/console/api/network", params=params, headers=auth).json()

    def bare_flows(first: date, last: date) -> Callable[[], object]:
        sql = (
            "select settled_on, home_region, status, error_code, count(*), sum(medfee_sumamt),"
            " sum(hifp_pay), sum(acct_pay), sum(psn_cash_pay) from visit_settlements"
            " where settled_on between ? and ? group by 1, 2, 3, 4"
        )
        connections = [sqlite3.connect(p) for p in paths.values()]
        return lambda: [c.execute(sql, (first.isoformat(), last.isoformat())).fetchall()
                        for c in connections]

    rows.append(("network view, 1 day (41 nodes)", *timed(network_view(day, day), args.repeat)))
    rows.append(("  bare GROUP BY ×41, sqlite3", *timed(bare_flows(day, day), args.repeat)))
    rows.append(("network view, month to date", *timed(network_view(*month), args.repeat)))
    rows.append(("  bare GROUP BY ×41, sqlite3", *timed(bare_flows(*month), args.repeat)))

    page = "/nodes/310000/v1/operator/settlements"
    rows.append(("Shanghai settlements, page of 50",
                 *timed(lambda: client.get(page, headers=auth).json(), args.repeat)))
    shanghai = sqlite3.connect(paths["310000"])
    bare_page = (
        "select s.*, v.masked_id, v.masked_name from visit_settlements s join visits v"
        " using (visit_id) order by s.created_at desc limit 50"
    )
    rows.append(("  bare SELECT … LIMIT 50, sqlite3",
                 *timed(lambda: shanghai.execute(bare_page).fetchall(), args.repeat)))

    jinhua = network.nodes["330700"]
    with jinhua.store.read() as tx:
        found = tx.conn.exec_driver_sql(
            "select p.id_number, h.visit_region, h.settlement_id from home_settlements h"
            " join persons p using (person_id) where h.status = 'COMMITTED' limit 1"
        ).first()
    if found is not None:
        base = "/nodes/330700/v1/residents"
        challenge = client.post(f"{base}/sign-in", json={"id_number": found[0]}).json()
        code = jinhua.code_sender.last_code(challenge["challenge_id"])  # type: ignore[attr-defined]
        token = client.post(f"{base}/session",
                            json={"challenge_id": challenge["challenge_id"], "code": code}).json()
        me = {"Authorization": f"Bearer {token['token']}"}
        detail = f"{base}/me/settlements/{found[1]}/{found[2]}"
        rows.append(("resident: explained settlement",
                     *timed(lambda: client.get(detail, headers=me).json(), args.repeat)))
        rows.append(("  resident: list (no exchange)",
                     *timed(lambda: client.get(f"{base}/me/settlements", headers=me).json(),
                            args.repeat)))
    print(f"data: {args.data_dir} — Shanghai holds {settled:,} settlements; day {day}")
    print(f"{'route':40} {'p50 ms':>9} {'p99 ms':>9}")
    for name, p50, p99 in rows:
        print(f"{name:40} {p50:9.2f} {p99:9.2f}")
    network.close()


if __name__ == "__main__":
    main()
