"""Closing periods from the command line, with a record lost on one side.

Three months, counted back from today so the test keeps working: the demo settles two days of
the oldest month (and closes it after the first); the second day's events fall into the next
period. A home node then loses one settlement record. `tongban clear` holds it out as an
exception, an operator resolves it, and the following period carries it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from tongban.domain.calendar import SHANGHAI
from tongban.domain.clearing import Period

TONGBAN = str(Path(sys.executable).with_name("tongban"))
SHANGHAI_CODE, JINHUA = "310000", "330700"

CURRENT = Period.of(datetime.now(SHANGHAI))
LAST, OLDEST = CURRENT.previous(), CURRENT.previous().previous()
DAY_A = date(OLDEST.year, OLDEST.month, 10)
DAY_B = date(OLDEST.year, OLDEST.month, 20)


def tongban(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TONGBAN, *args], capture_output=True, text=True, timeout=300)


def demo(data_dir: Path, day: date) -> None:
    done = tongban(
        "demo",
        "--no-serve",
        "--data-dir",
        str(data_dir),
        "--seed",
        "11",
        "--date",
        day.isoformat(),
        "--scale",
        "0.03",
    )
    assert done.returncode == 0, done.stdout + done.stderr


def statement(data_dir: Path, period: Period, region: str) -> dict:
    done = tongban(
        "clearing",
        "statement",
        "--data-dir",
        str(data_dir),
        "--period",
        str(period),
        "--region",
        region,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data_dir = tmp_path_factory.mktemp("clearing")
    demo(data_dir, DAY_A)  # closes OLDEST at the simulated moment of day A
    demo(data_dir, DAY_B)  # these events come after that cut-off: they belong to LAST
    visit_db = sqlite3.connect(data_dir / "nodes" / SHANGHAI_CODE / "node.db")
    sid, hifp, acct = visit_db.execute(
        "SELECT settlement_id, hifp_pay, acct_pay FROM visit_settlements WHERE home_region = ?"
        " AND status = 'SETTLED' AND settled_on = ? AND hifp_pay + acct_pay > 0 LIMIT 1",
        (JINHUA, DAY_B.isoformat()),
    ).fetchone()
    visit_db.close()
    # The home node loses its record of that settlement (a restore from an old backup, say).
    home_db = sqlite3.connect(data_dir / "nodes" / JINHUA / "node.db")
    with home_db:
        home_db.execute("DELETE FROM home_settlements WHERE settlement_id = ?", (sid,))
    home_db.close()
    return {"dir": data_dir, "sid": sid, "amount": hifp + acct}


def test_the_lost_record_is_held_out_of_the_period_as_an_exception(network: dict) -> None:
    data_dir, sid = network["dir"], network["sid"]
    done = tongban("clear", "--data-dir", str(data_dir), "--period", str(LAST))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 exceptions held out" in done.stdout
    assert "period CLOSED" in done.stdout
    listed = tongban("clearing", "exceptions", "--data-dir", str(data_dir))
    assert sid in listed.stdout and "VISIT_ONLY" in listed.stdout
    signed = statement(data_dir, LAST, SHANGHAI_CODE)["statement"]
    held = [x for x in signed["exceptions"] if x["settlement_id"] == sid]
    assert held and held[0]["kind"] == "VISIT_ONLY"
    # Both sides' statements agree on what Jinhua owes Shanghai, without the lost settlement.
    owed_sh = {x["home_region"]: x["amount"] for x in signed["as_visit"]}[JINHUA]
    owes_jh = {
        x["visit_region"]: x["amount"]
        for x in statement(data_dir, LAST, JINHUA)["statement"]["as_home"]
    }[SHANGHAI_CODE]
    assert owed_sh == owes_jh


def test_a_closed_period_cannot_be_cleared_again(network: dict) -> None:
    done = tongban("clear", "--data-dir", str(network["dir"]), "--period", str(LAST))
    assert done.returncode == 2
    assert "PERIOD_CLOSED" in done.stderr


def test_the_resolved_exception_is_carried_into_the_next_period(network: dict) -> None:
    data_dir, sid = network["dir"], network["sid"]
    resolved = tongban(
        "clearing",
        "resolve",
        "--data-dir",
        str(data_dir),
        SHANGHAI_CODE,
        sid,
        "settle",
        "--accept",
        "visit",
        "--note",
        "hospital treated her; paid",
    )
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    done = tongban("clear", "--data-dir", str(data_dir), "--period", str(CURRENT))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 resolved exceptions carried in" in done.stdout
    carried = statement(data_dir, CURRENT, SHANGHAI_CODE)["statement"]["carried"]
    assert [(c["settlement_id"], c["amount"]) for c in carried] == [(sid, network["amount"])]
    on_jinhua = statement(data_dir, CURRENT, JINHUA)["statement"]
    assert [c["settlement_id"] for c in on_jinhua["carried"]] == [sid]
    listed = tongban("clearing", "exceptions", "--data-dir", str(data_dir), "--all")
    assert "ACCEPT_VISIT" in listed.stdout and str(CURRENT) in listed.stdout


def test_the_statement_reads_as_a_page_and_as_csv(network: dict, tmp_path: Path) -> None:
    page = tmp_path / "statement.html"
    done = tongban(
        "clearing",
        "statement",
        "--data-dir",
        str(network["dir"]),
        "--period",
        str(LAST),
        "--region",
        JINHUA,
        "--format",
        "html",
        "-o",
        str(page),
    )
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert "清算单" in html and "Net position" in html and "CONFIRMED" in html
    csv_text = tongban(
        "clearing",
        "statement",
        "--data-dir",
        str(network["dir"]),
        "--period",
        str(LAST),
        "--region",
        JINHUA,
        "--format",
        "csv",
    ).stdout
    rows = csv_text.strip().splitlines()
    assert rows[0].startswith("section,counterpart")
    net_row = [r for r in rows if r.startswith("net,")]
    net = statement(network["dir"], LAST, JINHUA)["statement"]["net"]
    assert net_row and f",{net}," in net_row[0]


def test_the_ledger_check_names_the_node_that_lost_a_record(network: dict) -> None:
    done = tongban("ledger", "check", "--data-dir", str(network["dir"]))
    assert done.returncode == 1
    problems = [line for line in done.stdout.splitlines() if line.startswith(JINHUA + ":")]
    assert problems, done.stdout
    assert any(f"due_to_visit:{SHANGHAI_CODE}" in line for line in problems)


def test_a_reserve_below_the_configured_months_of_payments_raises_an_alert(network: dict) -> None:
    data_dir = str(network["dir"])
    quiet = tongban("clearing", "reserves", "--data-dir", data_dir)
    assert quiet.returncode == 0 and "reserve alert" not in quiet.stdout
    # Jinhua paid in every closed period; no reserve covers a thousand months of that.
    loud = tongban("clearing", "reserves", "--data-dir", data_dir, "--alert-months", "1000")
    assert "alert below 1000 months" in loud.stdout
    alerts = [line for line in loud.stdout.splitlines() if line.startswith("reserve alert")]
    assert any(JINHUA in line for line in alerts)
    assert not any(SHANGHAI_CODE in line for line in alerts)  # a net receiver pays nothing
    tongban("clearing", "reserves", "--data-dir", data_dir, "--alert-months", "2")
