"""A hospital that times out reverses by msgid (2601 冲正): whatever was lost, nothing is charged
twice or lost, and both regions agree on every settlement (DESIGN.md §4.5 Failure).

The Shanghai node's outbound transport loses chosen messages or their answers; the HIS side
loses answers by simply not reading them, as a hospital whose connection timed out.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fault_helpers import Faults
from national_helpers import Hospital, Visit, error_code
from protocol_checks import assert_sides_agree, snapshot

from network_fixtures import EMPLOYEE_ID, JINHUA, SHANGHAI, SmallNetwork, golden_lines
from tongban.entrypoints.api.embedded import create_network_app

UNTOUCHED = {"deductible_used": 0, "fund_paid": 0, "admissions": 0, "account_balance": 2000}
CHARGED = {"deductible_used": 7888, "fund_paid": 0, "admissions": 0, "account_balance": 0}


@pytest.fixture
def faults(net: SmallNetwork) -> Faults:
    return Faults(net)


@pytest.fixture
def his(net: SmallNetwork, faults: Faults) -> Iterator[Hospital]:
    with TestClient(create_network_app(net.network), raise_server_exceptions=False) as client:
        yield Hospital(client)


def ready_visit(his: Hospital) -> Visit:
    visit = Visit(his, EMPLOYEE_ID, JINHUA)
    visit.register()
    visit.upload(golden_lines())
    return visit


def reverse(his: Hospital, visit: Visit, omsgid: str) -> dict[str, Any]:
    return his.call("2601", {"data": {"psn_no": visit.psn_no, "omsgid": omsgid,
                                      "oinfno": "2207"}}, JINHUA)


def standing(his: Hospital, visit: Visit) -> Any:
    """Settle the batch again under a new msgid, as the HIS does after a reversal."""
    return his.send(visit.settle_envelope(golden_lines()))


def test_home_away_settle_is_unknown_and_its_reversal_completes_when_the_home_returns(
    net: SmallNetwork, faults: Faults, his: Hospital
) -> None:
    visit = ready_visit(his)
    faults.home_down()
    timed_out = visit.settle_envelope(golden_lines())
    assert error_code(his.send(timed_out)) == "SETTLEMENT_UNKNOWN"
    # the batch is not settled again under a new msgid while the first may still stand
    assert error_code(standing(his, visit)) == "BATCH_UNRESOLVED"
    assert error_code(reverse(his, visit, timed_out["msgid"])) == "REVERSAL_PENDING"
    faults.heal()
    net.network.recover_all()  # start-up / scheduled recovery, then the pending reversals
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert_sides_agree(net)
    assert reverse(his, visit, timed_out["msgid"])["infcode"] == 0  # reversed: said again
    assert error_code(his.send(timed_out)) == "MSGID_REVERSED"  # never settles late
    again = standing(his, visit)
    assert again["infcode"] == 0, again["err_msg"]
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)


def test_a_lost_commit_answer_is_reversed_by_cancelling_what_the_home_committed(
    net: SmallNetwork, faults: Faults, his: Hospital
) -> None:
    visit = ready_visit(his)
    faults.lose_answer("commit")  # the home commits; its answer never reaches Shanghai
    timed_out = visit.settle_envelope(golden_lines())
    assert error_code(his.send(timed_out)) == "SETTLEMENT_UNKNOWN"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert reverse(his, visit, timed_out["msgid"])["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert_sides_agree(net)
    assert standing(his, visit)["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED


def test_a_settlement_whose_answer_the_hospital_never_read_is_reversed_and_settled_once(
    net: SmallNetwork, his: Hospital
) -> None:
    visit = ready_visit(his)
    unread = visit.settle_envelope(golden_lines())
    his.send(unread)  # settled, but the HIS timed out before the answer came
    assert reverse(his, visit, unread["msgid"])["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert_sides_agree(net)
    again = standing(his, visit)
    assert again["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED


def test_a_reversal_that_overtakes_its_settle_leaves_a_tombstone_the_late_settle_meets(
    net: SmallNetwork, his: Hospital
) -> None:
    visit = ready_visit(his)
    delayed = visit.settle_envelope(golden_lines())
    before = snapshot(net)
    assert reverse(his, visit, delayed["msgid"])["infcode"] == 0  # the settle is still on its way
    assert error_code(his.send(delayed)) == "MSGID_REVERSED"
    assert snapshot(net) == before
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED


def test_the_same_msgid_after_the_home_returns_learns_the_outcome_without_a_second_charge(
    net: SmallNetwork, faults: Faults, his: Hospital
) -> None:
    visit = ready_visit(his)
    faults.lose_answer("commit")
    timed_out = visit.settle_envelope(golden_lines())
    assert error_code(his.send(timed_out)) == "SETTLEMENT_UNKNOWN"
    retried = his.send(timed_out)
    assert retried["infcode"] == 0
    assert retried["output"]["setlinfo"]["setl_id"] == timed_out["msgid"]
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)


class Crash(BaseException):
    """The node process dies: no handler may swallow it."""


def test_a_crash_after_the_settle_was_written_down_leaves_it_reversible_or_retryable(
    net: SmallNetwork, his: Hospital, monkeypatch: pytest.MonkeyPatch
) -> None:
    national = net.network.nodes[SHANGHAI].national
    visit = ready_visit(his)
    crashing, settle = visit.settle_envelope(golden_lines()), national.visit.settle

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(national.visit, "settle", crash)
    with pytest.raises(Crash):
        national.handle(crashing, his.institution)
    monkeypatch.setattr(national.visit, "settle", settle)
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    # retried with the same msgid, it settles exactly once
    assert his.send(crashing)["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED

    other = ready_visit(his)
    second = other.settle_envelope(golden_lines())
    monkeypatch.setattr(national.visit, "settle", crash)
    with pytest.raises(Crash):
        national.handle(second, his.institution)
    monkeypatch.setattr(national.visit, "settle", settle)
    assert reverse(his, other, second["msgid"])["infcode"] == 0  # or reversed: never settles
    assert error_code(his.send(second)) == "MSGID_REVERSED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED


ROUNDS = int(os.environ.get("TONGBAN_RACE_ROUNDS", "6"))


def at_once(send: Callable[[Any], dict[str, Any]], items: list[Any]) -> list[dict[str, Any]]:
    """Send each item from its own thread, all released together."""
    barrier = threading.Barrier(len(items))
    answers: list[dict[str, Any]] = []

    def one(item: Any) -> None:
        barrier.wait()
        answers.append(send(item))

    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_two_2207s_racing_for_one_batch_settle_it_once(net: SmallNetwork, his: Hospital) -> None:
    national = net.network.nodes[SHANGHAI].national
    for _ in range(ROUNDS):
        visit = ready_visit(his)
        envelopes = [visit.settle_envelope(golden_lines()) for _ in range(2)]
        answers = at_once(lambda e: national.handle(e, his.institution), envelopes)
        codes = sorted("OK" if a["infcode"] == 0 else error_code(a) for a in answers)
        assert codes[1] == "OK" and codes[0] in ("BATCH_SETTLED", "BATCH_UNRESOLVED"), codes
        # give the account back for the next round: cancel what settled
        setl = next(a for a in answers if a["infcode"] == 0)["output"]["setlinfo"]
        his.ok("2208", {"data": {"setl_id": setl["setl_id"], "mdtrt_id": visit.mdtrt_id,
                                 "psn_no": visit.psn_no}}, JINHUA)
        assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert_sides_agree(net)


def test_a_reversal_landing_just_before_its_settle_is_written_stops_that_settle(
    net: SmallNetwork, his: Hospital, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 2601 arrives after the 2207 was written down, before its settlement row exists."""
    national = net.network.nodes[SHANGHAI].national
    visit = ready_visit(his)
    late = visit.settle_envelope(golden_lines())
    settle, answers = national.visit.settle, []

    def reversal_first(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(national.visit, "settle", settle)
        answers.append(national.handle(reverse_envelope(his, visit, late), his.institution))
        return settle(*args, **kwargs)

    monkeypatch.setattr(national.visit, "settle", reversal_first)
    assert error_code(his.send(late)) == "MSGID_REVERSED"
    assert answers[0]["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert standing(his, visit)["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)


def test_a_reversal_landing_before_its_settle_is_written_down_stops_that_settle(
    net: SmallNetwork, his: Hospital, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 2601 arrives after the 2207 was checked as new, before it was written down."""
    national = net.network.nodes[SHANGHAI].national
    visit = ready_visit(his)
    late = visit.settle_envelope(golden_lines())
    repeat, answers = national._repeat, []

    def reversal_between(*args: Any) -> Any:
        monkeypatch.setattr(national, "_repeat", repeat)
        seen = repeat(*args)
        answers.append(national.handle(reverse_envelope(his, visit, late), his.institution))
        return seen

    monkeypatch.setattr(national, "_repeat", reversal_between)
    assert error_code(his.send(late)) == "MSGID_REVERSED"
    assert answers[0]["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert standing(his, visit)["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED


def test_a_commit_answered_after_its_reversal_cancelled_it_does_not_settle_it_again(
    net: SmallNetwork, his: Hospital, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The home commits; before its answer reaches the 2207, a 2601 resolves and cancels it."""
    national = net.network.nodes[SHANGHAI].national
    visit = ready_visit(his)
    late = visit.settle_envelope(golden_lines())
    apply, answers = national.visit._apply_home_state, []

    def reversal_first(*args: Any) -> Any:
        monkeypatch.setattr(national.visit, "_apply_home_state", apply)
        answers.append(national.handle(reverse_envelope(his, visit, late), his.institution))
        return apply(*args)

    monkeypatch.setattr(national.visit, "_apply_home_state", reversal_first)
    assert error_code(his.send(late)) == "MSGID_REVERSED"
    assert answers[0]["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert_sides_agree(net)  # CANCELLED on both sides, not SETTLED at Shanghai
    assert standing(his, visit)["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED


def reverse_envelope(his: Hospital, visit: Visit, original: dict[str, Any]) -> dict[str, Any]:
    return his.envelope("2601", {"data": {"psn_no": visit.psn_no, "omsgid": original["msgid"],
                                          "oinfno": "2207"}}, JINHUA)


def test_a_settle_slipping_in_while_its_reversal_leaves_a_tombstone_is_still_reversed(
    net: SmallNetwork, his: Hospital, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 2601 finds no such msgid; the 2207 settles before its tombstone is written."""
    national = net.network.nodes[SHANGHAI].national
    visit = ready_visit(his)
    late = visit.settle_envelope(golden_lines())
    tombstone, answers = national._tombstone, []

    def settle_first(*args: Any) -> Any:
        monkeypatch.setattr(national, "_tombstone", tombstone)
        answers.append(national.handle(late, his.institution))
        return tombstone(*args)

    monkeypatch.setattr(national, "_tombstone", settle_first)
    assert reverse(his, visit, late["msgid"])["infcode"] == 0
    assert answers[0]["infcode"] == 0  # it did settle, a moment before it was reversed
    assert net.person_state(JINHUA, EMPLOYEE_ID) == UNTOUCHED
    assert error_code(his.send(late)) == "MSGID_REVERSED"
    assert standing(his, visit)["infcode"] == 0
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)


def test_a_second_2207_while_the_first_is_on_its_way_neither_voids_it_nor_settles_twice(
    net: SmallNetwork, faults: Faults, his: Hospital
) -> None:
    national = net.network.nodes[SHANGHAI].national
    visit = ready_visit(his)
    first, second = (visit.settle_envelope(golden_lines()) for _ in range(2))
    answers: list[dict[str, Any]] = []

    def meanwhile(_endpoint: str, payload: bytes) -> bool:
        if json.loads(payload)["kind"] == "commit" and not answers:  # the first commit's
            answers.append(national.handle(second, his.institution))
        return False  # nothing is lost: the first commit goes on to the home region

    faults.transport.drop_request = meanwhile
    settled = his.send(first)
    assert settled["infcode"] == 0, settled["err_msg"]
    assert error_code(answers[0]) == "BATCH_UNRESOLVED"
    assert net.person_state(JINHUA, EMPLOYEE_ID) == CHARGED
    assert_sides_agree(net)
