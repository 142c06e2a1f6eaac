"""examples/his_client.py as a hospital integrator runs it: a subprocess speaking the national
envelopes over real HTTP to the small network's Shanghai node (uvicorn in a thread on a free
port of 127.0.0.1), checked against tongban's own REST API and both regions' stores.

Ruijin (Shanghai) treats the Jinhua employee with the golden bill: medfee 142.51 yuan, the
fund 0.00 (all of it under her deductible), her account 20.00, cash 122.51. When the first
commit to Jinhua is lost, or its answer is, or the answer comes after the HIS gave up, the
client reverses that msgid (2601) and settles again: one settlement stands, she is charged
once, and both regions tell the same story.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from network_fixtures import (
    EMPLOYEE_ID,
    JINHUA,
    KEYS,
    RESIDENT_ID,
    RUIJIN,
    SHANGHAI,
    SmallNetwork,
    auth,
    build_small_network,
    golden_lines,
    live_server,
)
from tongban.adapters.storage import schema
from tongban.adapters.transport import FaultyTransport, Transport
from tongban.entrypoints.api.embedded import create_network_app

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "his_client.py"
TONGBAN = Path(sys.executable).with_name("tongban")

UNTOUCHED = {"deductible_used": 0, "fund_paid": 0, "admissions": 0, "account_balance": 2000}
CHARGED = {"deductible_used": 7888, "fund_paid": 0, "admissions": 0, "account_balance": 0}
# The golden bill's split (DESIGN.md §4.2, worked in tests/integration/protocol_checks.py)
GOLDEN_FEN = {"medfee_sumamt": 14251, "hifp_pay": 0, "acct_pay": 2000, "psn_cash_pay": 12251}
GOLDEN_YUAN = {"medfee_sumamt": "142.51", "fund_pay_sumamt": "0.00", "acct_pay": "20.00",
               "psn_cash_pay": "122.51"}


def fen(text: str) -> int:
    whole, _, cents = text.lstrip("-").partition(".")
    value = int(whole) * 100 + int(cents.ljust(2, "0"))
    return -value if text.startswith("-") else value


def yuan(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


# --------------------------------------------------------------------------- faults


def _kind(payload: bytes) -> str:
    return str(json.loads(payload)["kind"])


class SlowCommit:
    """The first commit to the home region takes ``delay`` seconds, longer than the HIS waits
    (the HIS sees an HTTP timeout): on its way there (``home_committed`` False: the home
    has not committed when the HIS reverses), or on its way back (True: the home committed
    at once, and its answer reaches Shanghai after the reversal)."""

    def __init__(self, inner: Transport, delay: float, home_committed: bool) -> None:
        self.inner = inner
        self.inproc = getattr(inner, "inproc", None)
        self.delay = delay
        self.home_committed = home_committed
        self.left = 1
        self.lock = threading.Lock()
        self.done = threading.Event()  # the slow message has gone through

    def send(self, endpoint: str, payload: bytes) -> bytes:
        with self.lock:
            slow = self.left > 0 and _kind(payload) == "commit"
            self.left -= slow
        if not slow:
            return self.inner.send(endpoint, payload)
        try:
            if self.home_committed:
                answer = self.inner.send(endpoint, payload)
                time.sleep(self.delay)
                return answer
            time.sleep(self.delay)
            return self.inner.send(endpoint, payload)
        finally:
            self.done.set()


def first_commit(fault: str) -> Callable[[str, bytes], bool]:
    """A FaultyTransport predicate true for the first commit message only."""
    left = [1]

    def matches(_endpoint: str, payload: bytes) -> bool:
        if left[0] > 0 and _kind(payload) == "commit":
            left[0] -= 1
            return True
        return False

    matches.__name__ = fault
    return matches


# --------------------------------------------------------------------------- the server


@dataclass
class Served:
    net: SmallNetwork
    url: str  # the Shanghai node's base URL, as the client takes it (--node)
    work: Path

    def rest(self, path: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/v1{path}", headers=auth(), timeout=10)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def set_transport(self, make: Callable[[Transport], Transport]) -> Transport:
        runtime = self.net.network.nodes[SHANGHAI]
        runtime.exchange.transport = make(runtime.exchange.transport)
        return runtime.exchange.transport


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    net = build_small_network(tmp_path / "net")
    work = tmp_path / "his"
    work.mkdir()
    try:
        with live_server(create_network_app(net.network)) as base:
            yield Served(net, f"{base}/nodes/{SHANGHAI}", work)
    finally:
        net.close()


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.stdout.strip().splitlines()[-1])
        return body

    def msgids(self, infno: str) -> list[str]:
        """The msgids the client printed for one transaction, in order."""
        return re.findall(rf"^\s*{infno}  (\S{{30}})  ", self.stdout, re.MULTILINE)


def run_client(served: Served, *args: str, id_number: str = EMPLOYEE_ID,
               lines: list[dict[str, Any]] | None = None) -> Run:
    bill = served.work / "bill.json"
    bill.write_text(json.dumps([
        {"code": line["code"], "cnt": line["quantity"], "pric": yuan(line["unit_price"])}
        for line in (lines if lines is not None else golden_lines())
    ]))
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--node", served.url, "--institution", RUIJIN,
         "--api-key", KEYS[RUIJIN], "--id-number", id_number, "--bill", str(bill), "--json",
         *args],
        capture_output=True, text=True, timeout=60, cwd=served.work,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    return Run(done.returncode, done.stdout, done.stderr)


# --------------------------------------------------------------------------- both sides


def statuses(net: SmallNetwork) -> dict[str, tuple[str, str | None]]:
    """settlement id -> (status at the Shanghai node, status of Jinhua's record or None)."""
    visit_c, home = schema.visit_settlements.c, net.network.nodes[JINHUA].store
    with net.network.nodes[SHANGHAI].store.read() as tx:
        rows = list(tx.conn.execute(
            select(visit_c.settlement_id, visit_c.status)))
    out: dict[str, tuple[str, str | None]] = {}
    for sid, status in rows:
        with home.read() as tx:
            record = tx.home_settlement(SHANGHAI, sid)
        out[str(sid)] = (str(status), record.status.value if record else None)
    return out


AGREE: dict[str, set[str | None]] = {
    "SETTLED": {"COMMITTED"}, "CANCELLED": {"CANCELLED"}, "VOIDED": {"ABORTED", None},
}


def assert_sides_agree(net: SmallNetwork) -> dict[str, tuple[str, str | None]]:
    seen = statuses(net)
    for sid, (visit, home) in seen.items():
        assert home in AGREE.get(visit, set()), f"{sid}: Shanghai says {visit}, Jinhua {home}"
    c = schema.home_settlements.c
    with net.network.nodes[JINHUA].store.read() as tx:
        at_home = {str(s) for s, in tx.conn.execute(
            select(c.settlement_id).where(c.status.in_(["COMMITTED", "CANCELLED"])))}
    assert at_home <= set(seen), f"only Jinhua knows {at_home - set(seen)}"
    return seen


def standing(seen: dict[str, tuple[str, str | None]]) -> list[str]:
    return [sid for sid, (visit, _home) in seen.items() if visit == "SETTLED"]


def assert_settled_once(served: Served, run: Run) -> dict[str, Any]:
    """The client's answer, the REST API and the home's stored state say the same, once."""
    assert run.returncode == 0, run.stdout + run.stderr
    summary = run.summary
    assert {k: summary["split"][k] for k in GOLDEN_YUAN} == GOLDEN_YUAN
    assert summary["stmt_rslt"] == "0"  # 3201: the day balances
    rest = served.rest(f"/settlements/{summary['setl_id']}")
    assert rest["status"] == "SETTLED"
    assert rest["visit_id"] == summary["mdtrt_id"]
    assert {k: rest["split"][k] for k in GOLDEN_FEN} == GOLDEN_FEN
    assert {k: fen(summary["split"][k]) for k in GOLDEN_YUAN} == {
        "medfee_sumamt": rest["split"]["medfee_sumamt"],
        "fund_pay_sumamt": rest["split"]["hifp_pay"],
        "acct_pay": rest["split"]["acct_pay"],
        "psn_cash_pay": rest["split"]["psn_cash_pay"],
    }
    assert served.net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    seen = assert_sides_agree(served.net)
    assert standing(seen) == [summary["setl_id"]]
    for label, amount in (("medical fees", "142.51"), ("paid by the fund", "0.00"),
                          ("personal account", "20.00"), ("cash at the counter", "122.51")):
        assert re.search(rf"{label}.*\b{re.escape(amount)} yuan", run.stdout), label
    return summary


# --------------------------------------------------------------------------- the tests


def test_the_example_settles_the_golden_bill_to_the_fen_and_the_day_balances(
    served: Served,
) -> None:
    run = run_client(served)
    summary = assert_settled_once(served, run)
    assert summary["reversed"] == [] and summary["cancelled"] is False
    assert summary["insuplc_admdvs"] == JINHUA
    # every step printed with its msgid and infcode, in the national order
    steps = re.findall(r"^\s*(\d{4})  \S{30}  infcode  0", run.stdout, re.MULTILINE)
    assert steps == ["1101", "2201", "2203", "2204", "2206", "3201", "2207", "3201"]
    assert summary["setl_id"] == run.msgids("2207")[0]  # setl_id is the 2207's msgid
    # the four pieces of the visit side (DESIGN.md §4.1)
    assert {k: summary["split"][k] for k in ("fulamt_ownpay_amt", "overlmt_selfpay",
                                             "preselfpay_amt", "inscp_scp_amt")} == {
        "fulamt_ownpay_amt": "58.00", "overlmt_selfpay": "0.90", "preselfpay_amt": "4.73",
        "inscp_scp_amt": "78.88"}


def test_a_second_visit_on_the_same_day_balances_on_top_of_the_first(served: Served) -> None:
    first = run_client(served)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_client(served, lines=[{"code": "001102000010000", "quantity": "1",
                                        "unit_price": 2500}])
    assert second.returncode == 0, second.stdout + second.stderr
    assert "opening books for" in second.stdout and "1 settlements, medfee 142.51" in second.stdout
    assert second.summary["stmt_rslt"] == "0"
    assert len(standing(assert_sides_agree(served.net))) == 2


def test_a_commit_the_home_never_received_is_reversed_voided_and_settled_again(
    served: Served,
) -> None:
    faulty = served.set_transport(lambda inner: FaultyTransport(
        inner, drop_request=first_commit("lose the first commit")))
    run = run_client(served)
    summary = assert_settled_once(served, run)
    assert "SETTLEMENT_UNKNOWN" in run.stdout
    assert isinstance(faulty, FaultyTransport) and faulty.dropped_requests == 1
    first, again = run.msgids("2207")
    assert summary["reversed"] == [first] and summary["setl_id"] == again
    assert len(run.msgids("2601")) >= 1
    seen = statuses(served.net)
    assert seen[first] == ("VOIDED", "ABORTED")  # the home will refuse it if it ever arrives
    assert seen[again] == ("SETTLED", "COMMITTED")


def test_a_commit_whose_answer_was_lost_is_reversed_by_a_cancel_and_charged_once(
    served: Served,
) -> None:
    faulty = served.set_transport(lambda inner: FaultyTransport(
        inner, drop_answer=first_commit("lose the first commit's answer")))
    run = run_client(served)
    summary = assert_settled_once(served, run)
    assert isinstance(faulty, FaultyTransport) and faulty.dropped_answers == 1
    first, again = run.msgids("2207")
    assert summary["reversed"] == [first]
    seen = statuses(served.net)
    assert seen[first] == ("CANCELLED", "CANCELLED")  # Jinhua had committed it: given back
    assert seen[again] == ("SETTLED", "COMMITTED")


class HomeAway:
    """A FaultyTransport predicate: Jinhua stops answering Shanghai at the first commit, for
    ``seconds`` (None: until the test takes the predicate away)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.since: float | None = None
        self.lock = threading.Lock()

    def __call__(self, endpoint: str, payload: bytes) -> bool:
        if endpoint != f"inproc://{JINHUA}":
            return False
        with self.lock:
            if self.since is None and _kind(payload) == "commit":
                self.since = time.monotonic()
            if self.since is None:
                return False
            return self.seconds is None or time.monotonic() - self.since < self.seconds


def test_a_reversal_pending_while_the_home_is_away_is_sent_again_until_done(
    served: Served,
) -> None:
    served.set_transport(lambda inner: FaultyTransport(inner, drop_request=HomeAway(1.0)))
    run = run_client(served)
    summary = assert_settled_once(served, run)
    assert "SETTLEMENT_UNKNOWN" in run.stdout and "REVERSAL_PENDING" in run.stdout
    first, again = run.msgids("2207")
    reversals = run.msgids("2601")
    assert len(reversals) >= 2 and len(set(reversals)) == 1  # the same 2601, sent again
    assert summary["reversed"] == [first] and summary["setl_id"] == again
    assert statuses(served.net)[first] == ("VOIDED", "ABORTED")


def test_a_reversal_still_pending_ends_the_run_open_and_recovery_finishes_it(
    served: Served,
) -> None:
    away = HomeAway(None)
    faulty = served.set_transport(lambda inner: FaultyTransport(inner, drop_request=away))
    run = run_client(served, "--reversal-wait", "0.5")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "is not done yet" in run.stderr and "send the 2601" in run.stderr
    assert served.net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    (first,) = run.msgids("2207")  # never settled again while the first may stand
    assert statuses(served.net) == {first: ("UNKNOWN", None)}
    assert isinstance(faulty, FaultyTransport)
    faulty.drop_request = None  # Jinhua is back; the node's recovery completes the reversal
    served.net.network.recover_all()
    assert statuses(served.net) == {first: ("VOIDED", "ABORTED")}
    assert served.net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED


def timed_out_then_settled(served: Served, home_committed: bool
                           ) -> dict[str, tuple[str, str | None]]:
    slow = served.set_transport(lambda inner: SlowCommit(inner, 2.0, home_committed))
    run = run_client(served, "--timeout", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no answer (ReadTimeout)" in run.stdout
    first, again = run.msgids("2207")
    assert run.summary["reversed"] == [first] and run.summary["setl_id"] == again
    # the first 2207 is still being worked on at the node: let it finish, then look
    assert isinstance(slow, SlowCommit) and slow.done.wait(10)
    deadline = time.monotonic() + 5
    while statuses(served.net)[first][0] in ("PENDING", "UNKNOWN", "CANCELLING"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # and whatever it writes after the answer
    seen = assert_sides_agree(served.net)
    assert standing(seen) == [again]
    assert served.net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert served.rest(f"/settlements/{first}")["status"] in ("VOIDED", "CANCELLED")
    return seen


def test_an_http_timeout_of_2207_before_the_home_committed_is_reversed_and_settled_again(
    served: Served,
) -> None:
    seen = timed_out_then_settled(served, home_committed=False)
    assert sorted(status for status, _home in seen.values()) == ["SETTLED", "VOIDED"]


def test_an_http_timeout_of_2207_after_the_home_committed_is_reversed_and_settled_again(
    served: Served,
) -> None:
    seen = timed_out_then_settled(served, home_committed=True)
    assert sorted(status for status, _home in seen.values()) == ["CANCELLED", "SETTLED"]


def test_cancel_gives_back_exactly_what_the_settlement_took(served: Served) -> None:
    before = served.net.person_state(JINHUA, EMPLOYEE_ID)
    assert before == UNTOUCHED
    run = run_client(served, "--cancel")
    assert run.returncode == 0, run.stdout + run.stderr
    summary = run.summary
    assert summary["cancelled"] is True and summary["stmt_rslt"] == "0"
    assert re.search(r"^\s*2208  \S{30}  infcode  0", run.stdout, re.MULTILINE)
    assert "acct_pay -20.00" in run.stdout  # 2208 answers the amounts negated
    assert served.rest(f"/settlements/{summary['setl_id']}")["status"] == "CANCELLED"
    assert served.net.person_state(JINHUA, EMPLOYEE_ID) == before
    assert statuses(served.net) == {summary["setl_id"]: ("CANCELLED", "CANCELLED")}


def test_a_refused_settlement_ends_with_a_clear_message_and_charges_nothing(
    served: Served,
) -> None:
    # A resident (390) of Jinhua without a filing: her policy settles nothing unfiled.
    before = served.net.person_state(JINHUA, RESIDENT_ID)
    run = run_client(served, id_number=RESIDENT_ID)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "refused: FILING_REQUIRED" in run.stderr
    assert served.net.person_state(JINHUA, RESIDENT_ID) == before
    assert standing(assert_sides_agree(served.net)) == []


def test_a_bill_with_three_decimals_is_refused_before_anything_is_sent(served: Served) -> None:
    bill = served.work / "odd.json"
    bill.write_text(json.dumps([{"code": "001102000010000", "cnt": "1", "pric": "25.005"}]))
    done = subprocess.run([sys.executable, str(EXAMPLE), "--node", served.url, "--institution",
                           RUIJIN, "--api-key", KEYS[RUIJIN], "--id-number", EMPLOYEE_ID,
                           "--bill", str(bill)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "more than two decimals" in done.stderr
    assert statuses(served.net) == {}


# --------------------------------------------------------------------------- tongban demo


class Demo:
    """`tongban demo` serving a small sample network on a free port (drained output)."""

    def __init__(self, data_dir: Path) -> None:
        self.lines: list[str] = []
        self.url: str | None = None
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [str(TONGBAN), "demo", "--scale", "0.02", "--seed", "7", "--data-dir",
             str(data_dir), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            found = re.search(r"Serving the network at (http://\S+?)/?$", line.strip())
            if found:
                self.url = found.group(1)
            if "Ctrl-C stops" in line:
                self.ready.set()
        self.ready.set()

    def wait_until_serving(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if httpx.get(f"{self.url}/nodes/{SHANGHAI}/v1/health", timeout=2).is_success:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, "".join(self.lines[-20:])
            assert time.monotonic() < deadline, "tongban demo did not answer"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def test_the_defaults_work_against_tongban_demo(tmp_path: Path) -> None:
    """No --institution, --api-key or --id-number: the client finds a Shanghai hospital's key
    in demo-credentials.json and a Jinhua employee among the demo's samples."""
    demo = Demo(tmp_path / "tongban-data")
    try:
        assert demo.ready.wait(120) and demo.url, "".join(demo.lines[-20:])
        demo.wait_until_serving()
        for args in ([], ["--cancel"]):
            done = subprocess.run(
                [sys.executable, str(EXAMPLE), "--node", f"{demo.url}/nodes/{SHANGHAI}",
                 "--json", *args],
                capture_output=True, text=True, timeout=60, cwd=tmp_path,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert "hospital H31000000001" in done.stdout
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            assert summary["insuplc_admdvs"] == JINHUA and summary["stmt_rslt"] == "0"
            split = {k: fen(v) for k, v in summary["split"].items()}
            assert split["medfee_sumamt"] == 11470  # the built-in bill: 114.70 yuan
            assert split["fund_pay_sumamt"] + split["acct_pay"] + split["psn_cash_pay"] == 11470
    finally:
        demo.stop()

