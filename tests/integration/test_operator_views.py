"""What a region's operators read through HTTP with an operator key: the node's flows, its
settlements (searched, paged, ID numbers masked) and one settlement's detail.

On each store, the world of console_world.py: bills settled over two days through the
hospitals' API; every expected figure is worked out from what the hospitals were answered.
Reference data and the network view: test_console_network.py; residents' own settlements:
test_resident_settlements.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from console_world import (
    MONEY,
    NODE,
    PEOPLE,
    Outcome,
    World,
    build_world,
    close_world,
    masked,
)
from pg_schemas import pg_schema_urls
from protocol_checks import assert_problem

from network_fixtures import (
    COMMUNITY,
    EMPLOYEE_ID,
    JINHUA,
    NANJING,
    RUIJIN,
    SHANGHAI,
    auth,
    resident_auth,
)
from tongban.service_layer.operators import new_operator_key


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    db_url_for = None
    if request.param == "postgresql":
        db_url_for = pg_schema_urls(request.getfixturevalue("pg_server_url"))
    w = build_world(tmp_path_factory.mktemp("views"), db_url_for)
    yield w
    close_world(w)


# --------------------------------------------------------------------------- operator keys
OPERATOR_PATHS = [
    "/operator/flows?from_date={d}&to_date={d}",
    "/operator/settlements",
    "/operator/settlements/y-employee",
]


def operator_paths(w: World) -> list[str]:
    return [NODE + p.format(d=w.today.isoformat()) for p in OPERATOR_PATHS]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer "}], ids=["none", "empty"])
def test_operator_routes_ask_for_an_operator_key_when_none_is_sent(
    world: World, headers: dict[str, str]
) -> None:
    for path in operator_paths(world):
        problem = assert_problem(
            world.client.get(path, headers=headers), 401, "OPERATOR_KEY_REQUIRED"
        )
        assert "items" not in problem and "rows" not in problem


def test_operator_routes_refuse_keys_that_are_not_this_nodes_operator_keys(world: World) -> None:
    resident_token = resident_auth(world.net, world.client.post, EMPLOYEE_ID)
    credentials = {
        "an unknown operator key": {"Authorization": f"Bearer {new_operator_key()}"},
        "a hospital's API key": auth(),
        "a resident's session token": resident_token,
        "the hub's operator key": {"Authorization": f"Bearer {world.hub_key}"},
    }
    for name, headers in credentials.items():
        for path in operator_paths(world):
            response = world.client.get(path, headers=headers)
            assert response.status_code == 401, (name, path)
            assert_problem(response, 401, "UNAUTHENTICATED")
    # Nor is the resident's token an operator key at her own home node.
    home = f"/nodes/{JINHUA}/v1/operator/settlements"
    assert_problem(world.client.get(home, headers=resident_token), 401, "UNAUTHENTICATED")


def test_a_key_added_at_one_node_opens_another_only_once_added_there(world: World) -> None:
    key = new_operator_key()
    world.net.network.nodes[NANJING].operators.add(key)
    assert world.get(f"/nodes/{NANJING}/v1/operator/settlements", key).status_code == 200
    assert_problem(world.get(f"{NODE}/operator/settlements", key), 401, "UNAUTHENTICATED")
    assert_problem(
        world.get("/console/api/network", key, from_date=world.today, to_date=world.today),
        401,
        "UNAUTHENTICATED",
    )
    world.net.network.nodes[SHANGHAI].operators.add(key)  # while the network runs
    assert world.get(f"{NODE}/operator/settlements", key).status_code == 200


# --------------------------------------------------------------------------- flows
def expected_flows(outcomes: list[Outcome], day: date) -> dict[tuple[Any, ...], dict[str, int]]:
    rows: dict[tuple[Any, ...], dict[str, int]] = {}
    for o in outcomes:
        if o.day == day:
            row = rows.setdefault(
                (o.home_region, o.status, o.error_code), {"count": 0, **dict.fromkeys(MONEY, 0)}
            )
            row["count"] += 1
            for name, amount in o.money().items():
                row[name] += amount
    return rows


def flows(w: World, day: date) -> dict[tuple[Any, ...], dict[str, int]]:
    answer = w.get(f"{NODE}/operator/flows", w.region_key, from_date=day, to_date=day)
    assert answer.status_code == 200, answer.text
    assert answer.json()["region"] == SHANGHAI
    out = {}
    for row in answer.json()["rows"]:
        assert row["day"] == day.isoformat()
        key = (row["home_region"], row["status"], row["error_code"])
        assert key not in out, f"two rows for {key}"
        out[key] = {k: row[k] for k in ("count", *MONEY)}
    return out


def test_a_days_flows_count_and_add_up_what_the_hospitals_settled_there(world: World) -> None:
    for day in (world.yesterday, world.today):
        actual = flows(world, day)
        expected = expected_flows(world.at(SHANGHAI), day)
        assert set(actual) == set(expected), day
        for key, row in actual.items():
            if key[1] == "REFUSED":  # nothing was paid; the refused bill's total is no one's
                assert row["count"] == expected[key]["count"]
                assert (row["fund"], row["account"], row["cash"]) == (0, 0, 0)
            else:
                assert row == expected[key], key
    assert ("330700", "REFUSED", "FILING_REQUIRED") in flows(world, world.yesterday)
    # Nanjing's own settlement of a Jinhua insured is Nanjing's flow, not Shanghai's.
    assert all(o.settlement_id != "n-employee" for o in world.at(SHANGHAI))


def test_a_flow_range_covers_both_days_and_no_more(world: World) -> None:
    answer = world.get(
        f"{NODE}/operator/flows", world.region_key, from_date=world.yesterday, to_date=world.today
    ).json()
    counted = sum(r["count"] for r in answer["rows"])
    assert counted == len(world.at(SHANGHAI))
    assert {r["day"] for r in answer["rows"]} == {
        world.yesterday.isoformat(),
        world.today.isoformat(),
    }
    before = world.get(
        f"{NODE}/operator/flows",
        world.region_key,
        from_date=world.yesterday - timedelta(days=30),
        to_date=world.yesterday - timedelta(days=1),
    ).json()
    assert before["rows"] == []


@pytest.mark.parametrize("path", [f"{NODE}/operator/flows", "/console/api/network"])
def test_a_backwards_or_longer_than_366_day_range_is_refused(world: World, path: str) -> None:
    key = world.hub_key if path.startswith("/console") else world.region_key
    d = world.today
    backwards = world.get(path, key, from_date=d, to_date=d - timedelta(days=1))
    assert_problem(backwards, 422, "BAD_DATE_RANGE")
    too_long = world.get(path, key, from_date=d - timedelta(days=366), to_date=d)
    assert_problem(too_long, 422, "BAD_DATE_RANGE")
    a_leap_year = world.get(path, key, from_date=d - timedelta(days=365), to_date=d)
    assert a_leap_year.status_code == 200, a_leap_year.text
    assert_problem(world.get(path, key, from_date="yesterday", to_date=d), 422, "INVALID_REQUEST")


# --------------------------------------------------------------------------- settlements
def search(w: World, **params: Any) -> dict[str, Any]:
    answer = w.get(f"{NODE}/operator/settlements", w.region_key, **params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["settlement_id"] for item in answer["items"]]


def newest_first(outcomes: list[Outcome]) -> list[str]:
    return [o.settlement_id for o in reversed(outcomes)]


def test_the_settlement_list_shows_every_settlement_here_newest_first_masked(
    world: World,
) -> None:
    answer = search(world)
    here = world.at(SHANGHAI)
    assert answer["total"] == len(here)
    assert ids(answer) == newest_first(here)
    by_id = {o.settlement_id: o for o in here}
    for item in answer["items"]:
        o = by_id[item["settlement_id"]]
        assert item["masked_id"] == masked(o.id_number)
        assert item["masked_name"] != PEOPLE[o.id_number] and "*" in item["masked_name"]
        assert (item["status"], item["error_code"]) == (o.status, o.error_code)
        assert (item["institution_code"], item["home_region"]) == (o.institution, o.home_region)
        assert item["settled_on"] == o.day.isoformat()
        if o.split is not None:
            assert {k: item[k] for k in MONEY} == o.money()


def test_settlements_are_found_by_id_institution_date_and_status(world: World) -> None:
    here = world.at(SHANGHAI)
    assert ids(search(world, settlement_id="t-big")) == ["t-big"]
    assert search(world, settlement_id="n-employee") == {"total": 0, "items": []}  # Nanjing's
    assert ids(search(world, institution=COMMUNITY)) == ["t-big"]
    assert ids(search(world, institution=RUIJIN)) == newest_first(
        [o for o in here if o.institution == RUIJIN]
    )
    assert ids(search(world, date=world.yesterday)) == ["y-unfiled", "y-employee"]
    assert ids(search(world, date=world.today)) == newest_first(
        [o for o in here if o.day == world.today]
    )
    assert ids(search(world, status="CANCELLED")) == ["t-cancelled"]
    refused = search(world, status="REFUSED")
    assert ids(refused) == ["y-unfiled"] and refused["items"][0]["error_code"] == "FILING_REQUIRED"
    both = search(world, institution=RUIJIN, date=world.today, status="SETTLED")
    assert ids(both) == ["t-filed", "t-employee"]


def test_settlement_pages_follow_limit_and_offset_and_keep_the_total(world: World) -> None:
    everything = ids(search(world))
    pages = [search(world, limit=2, offset=offset) for offset in range(0, len(everything) + 2, 2)]
    assert all(page["total"] == len(everything) for page in pages)
    assert [sid for page in pages for sid in ids(page)] == everything
    assert ids(pages[-1]) == []
    assert ids(search(world, limit=1, offset=1)) == everything[1:2]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": -1},
        {"offset": -1},
        {"limit": "ten"},
        {"status": "PAID"},
    ],
)
def test_a_bad_page_or_status_is_refused(world: World, params: dict[str, Any]) -> None:
    answer = world.get(f"{NODE}/operator/settlements", world.region_key, **params)
    assert_problem(answer, 422, "INVALID_REQUEST")


def test_a_settlements_detail_shows_the_lines_and_split_the_hospital_was_answered(
    world: World,
) -> None:
    for o in world.at(SHANGHAI):
        answer = world.get(f"{NODE}/operator/settlements/{o.settlement_id}", world.region_key)
        assert answer.status_code == 200, answer.text
        detail = answer.json()
        assert (detail["settlement_id"], detail["status"]) == (o.settlement_id, o.status)
        assert detail["masked_id"] == masked(o.id_number)
        if o.split is None:
            assert detail["split"] is None and detail["error_code"] == o.error_code
            continue
        assert detail["split"] == o.split
        assert detail["lines"] == o.lines
        assert detail["settled_at"] is not None
        assert (detail["cancelled_at"] is not None) == (o.status == "CANCELLED")


def test_an_unknown_settlement_or_another_nodes_is_not_found(world: World) -> None:
    for sid in ("no-such-settlement", "n-employee"):
        answer = world.get(f"{NODE}/operator/settlements/{sid}", world.region_key)
        assert_problem(answer, 404, "SETTLEMENT_NOT_FOUND")


def test_no_operator_answer_shows_a_full_id_number_or_name(world: World) -> None:
    d = {"from_date": world.yesterday, "to_date": world.today}
    answers = [
        world.get(f"{NODE}/operator/flows", world.region_key, **d),
        world.get(f"{NODE}/operator/settlements", world.region_key, limit=200),
        world.get("/console/api/network", world.hub_key, **d),
        # An ID number typed where a settlement id belongs is not echoed either.
        world.get(f"{NODE}/operator/settlements/{EMPLOYEE_ID}", world.region_key),
        world.get(f"{NODE}/operator/settlements", world.region_key, settlement_id=EMPLOYEE_ID),
    ]
    answers += [
        world.get(f"{NODE}/operator/settlements/{o.settlement_id}", world.region_key)
        for o in world.at(SHANGHAI)
    ]
    for answer in answers:
        assert answer.status_code in (200, 404), answer.text
        for id_number, name in PEOPLE.items():
            assert id_number not in answer.text and name not in answer.text
            assert id_number.lower() not in answer.text.lower()
