"""What anyone may read (a node's published reference data, the region list) and what the
network's operator reads at the console (every node's flows added up, with the hub's operator
key), through HTTP, in the world of console_world.py; and the console's demo samples and page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from console_world import MONEY, NODE, Outcome, World, build_world, close_world
from fastapi.testclient import TestClient
from protocol_checks import assert_problem

from network_fixtures import (
    COMMUNITY,
    DISABLED,
    GOLDEN_CATALOGUE,
    JINHUA,
    NANJING,
    RUIJIN,
    SHANGHAI,
    auth,
    policies,
)
from tongban.domain.policy import MedType
from tongban.entrypoints.api.embedded import create_network_app
from tongban.entrypoints.web.console import STATIC
from tongban.service_layer.region_view import FlowRow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # The sums here are added up in Python from each node's flows, which
    # test_operator_views.py checks on both stores: SQLite is enough.
    w = build_world(tmp_path_factory.mktemp("network"), None)
    yield w
    close_world(w)


# --------------------------------------------------------------------------- reference data
def test_a_nodes_policies_are_published_without_a_key(world: World) -> None:
    answer = world.client.get(f"{NODE}/reference/policies")
    assert answer.status_code == 200, answer.text
    published = {(p["insutype"], p["med_type"], p["level"]): p for p in answer.json()}
    loaded = {(p.insutype, p.med_type.value, p.level): p for p in policies()}
    assert set(published) == set(loaded)
    for key, p in loaded.items():
        row = published[key]
        assert (row["deductible"], row["annual_cap"]) == (p.deductible, p.annual_cap)
        assert row["deductible_subsequent"] == p.deductible_subsequent
        assert Decimal(row["ratio"]) == p.ratio and isinstance(row["ratio"], str)
        assert Decimal(row["reduction"]["other"]) == p.reduction.other
        unfiled = row["reduction"]["unfiled"]
        assert (None if unfiled is None else Decimal(unfiled)) == p.reduction.unfiled
        assert set(row["account_covers"]) == {c.value for c in p.account_covers}
    inpatient = published[("310", MedType.INPATIENT.value, 3)]
    assert (inpatient["deductible"], inpatient["deductible_subsequent"]) == (120000, 60000)


def catalogue(w: World, **params: Any) -> dict[str, Any]:
    answer = w.client.get(f"{NODE}/reference/catalogue", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_catalogue_is_searched_by_code_or_chinese_name(world: World) -> None:
    exact = catalogue(world, q="XA01ABD075A002010100483")
    assert exact["total"] == 1
    item = exact["items"][0]
    assert (item["code"], item["name"], item["class"]) == (
        "XA01ABD075A002010100483",
        "地喹氯铵含片",
        "B",
    )
    assert Decimal(item["selfpay_ratio"]) == Decimal("0.10") and item["price_cap"] == 1200
    assert [i["code"] for i in catalogue(world, q="xa01abd")["items"]] == [item["code"]]
    samples = catalogue(world, q="示例")
    expected = sorted(c for c, v in GOLDEN_CATALOGUE.items() if "示例" in v["name"])
    assert samples["total"] == 3 and sorted(i["code"] for i in samples["items"]) == expected
    bed = catalogue(world, q="床位")["items"]
    assert [(i["code"], i["class"], i["price_cap"]) for i in bed] == [
        ("003101000010000", "A", 4000)
    ]
    assert catalogue(world, q="没有这种药") == {"total": 0, "items": []}
    class_c = catalogue(world, q="ZC01")["items"][0]
    assert class_c["class"] == "C" and class_c["price_cap"] is None


def test_catalogue_pages_cover_every_item_once(world: World) -> None:
    whole = catalogue(world)
    assert whole["total"] == len(GOLDEN_CATALOGUE)
    pages = [catalogue(world, limit=4, offset=o) for o in (0, 4, 8)]
    assert [p["total"] for p in pages] == [len(GOLDEN_CATALOGUE)] * 3
    codes = [i["code"] for p in pages for i in p["items"]]
    assert sorted(codes) == sorted(GOLDEN_CATALOGUE) and len(codes) == len(set(codes))
    assert [len(p["items"]) for p in pages] == [4, 2, 0]
    searched = catalogue(world, q="示例", limit=2, offset=2)
    assert searched["total"] == 3 and len(searched["items"]) == 1
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        answer = world.client.get(f"{NODE}/reference/catalogue", params=bad)
        assert_problem(answer, 422, "INVALID_REQUEST")


def institutions(w: World, **params: Any) -> list[tuple[str, str, int, bool]]:
    answer = w.client.get(f"{NODE}/reference/institutions", params=params)
    assert answer.status_code == 200, answer.text
    return [(i["code"], i["name"], i["level"], i["enabled"]) for i in answer.json()]


def test_institutions_are_filtered_by_enabled_and_by_name_or_code(world: World) -> None:
    ruijin = (RUIJIN, "瑞金医院", 3, True)
    community = (COMMUNITY, "枫林街道社区卫生服务中心", 1, True)
    clinic = (DISABLED, "未开通异地结算的诊所", 1, False)
    assert sorted(institutions(world)) == sorted([ruijin, community, clinic])
    assert sorted(institutions(world, enabled="true")) == sorted([ruijin, community])
    assert institutions(world, enabled="false") == [clinic]
    assert institutions(world, q="瑞金") == [ruijin]
    assert institutions(world, q=COMMUNITY.lower()) == [community]
    assert institutions(world, q="诊所", enabled="true") == []
    assert institutions(world, q="医院") == [ruijin]


# --------------------------------------------------------------------------- the network view
def network(w: World, key: str | None = None, **params: Any) -> Any:
    params = params or {"from_date": w.yesterday, "to_date": w.today}
    return w.get("/console/api/network", key, **params)


def test_the_network_view_needs_the_hubs_operator_key(world: World) -> None:
    assert_problem(network(world), 401, "OPERATOR_KEY_REQUIRED")
    for key in (world.region_key, "key-ruijin", "tbo_not-a-key-of-anyone-here"):
        assert_problem(network(world, key), 401, "UNAUTHENTICATED")
    assert_problem(
        world.client.get(
            "/console/api/network",
            headers=auth(),
            params={"from_date": world.today, "to_date": world.today},
        ),
        401,
        "UNAUTHENTICATED",
    )
    assert network(world, world.hub_key).status_code == 200


def expected_routes(outcomes: list[Outcome]) -> dict[tuple[str, str], dict[str, int]]:
    routes: dict[tuple[str, str], dict[str, int]] = {}
    for o in outcomes:
        tally = routes.setdefault(
            (o.home_region, o.visit_region),
            {
                "settled": 0,
                "cancelled": 0,
                "refused": 0,
                "unresolved": 0,
                **dict.fromkeys(MONEY, 0),
            },
        )
        tally[o.status.lower()] += 1
        if o.status == "SETTLED":  # only settlements that stand are money that moved
            for name, amount in o.money().items():
                tally[name] += amount
    return routes


def test_the_network_view_adds_up_every_nodes_settlements_by_route(world: World) -> None:
    answer = network(world, world.hub_key).json()
    assert (answer["from_date"], answer["to_date"]) == (
        world.yesterday.isoformat(),
        world.today.isoformat(),
    )
    routes = {
        (r["home_region"], r["visit_region"]): {
            k: v for k, v in r.items() if not k.endswith("_region")
        }
        for r in answer["routes"]
    }
    assert routes == expected_routes(world.outcomes)
    assert set(routes) == {(JINHUA, SHANGHAI), (NANJING, SHANGHAI), (JINHUA, NANJING)}
    assert answer["refusals"] == [{"code": "FILING_REQUIRED", "count": 1}]


def test_the_network_totals_equal_the_sum_over_routes_and_over_days(world: World) -> None:
    answer = network(world, world.hub_key).json()
    totals = answer["totals"]
    for name, total in totals.items():
        assert type(total) is int, name  # fund ÷ medfee is worked out from exact integers
        assert sum(r[name] for r in answer["routes"]) == total, name
    assert [d["day"] for d in answer["days"]] == [
        world.yesterday.isoformat(),
        world.today.isoformat(),
    ]
    for name in ("settled", "cancelled", "refused", "medfee", "fund"):
        assert sum(d[name] for d in answer["days"]) == totals[name], name
    settled = [o for o in world.outcomes if o.status == "SETTLED"]
    assert totals["fund"] == sum(o.money()["fund"] for o in settled) > 0
    assert totals["medfee"] == sum(o.money()["medfee"] for o in settled) > totals["fund"]
    yesterday = answer["days"][0]
    assert (yesterday["settled"], yesterday["refused"]) == (1, 1)


def test_the_network_view_of_one_day_counts_only_that_day(world: World) -> None:
    answer = network(world, world.hub_key, from_date=world.today, to_date=world.today).json()
    today = [o for o in world.outcomes if o.day == world.today]
    assert sum(r["settled"] + r["cancelled"] + r["refused"] for r in answer["routes"]) == len(today)
    assert answer["refusals"] == []
    empty = network(
        world,
        world.hub_key,
        from_date=world.today + timedelta(days=1),
        to_date=world.today + timedelta(days=2),
    ).json()
    assert empty["routes"] == empty["days"] == empty["refusals"] == []
    assert set(empty["totals"].values()) == {0}


def test_a_regions_own_insured_treated_at_home_are_not_a_cross_region_flow(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hospital API refuses such a visit (NOT_CROSS_REGION), so a node's flows hold none
    # today; a row of one must still never count as a flow of the network.
    before = network(world, world.hub_key).json()
    view = world.net.network.nodes[SHANGHAI].view
    own_flows = view.flows

    def with_local_care(from_date: Any, to_date: Any) -> list[FlowRow]:
        local = FlowRow(world.today, SHANGHAI, "SETTLED", None, 7, 700000, 500000, 0, 200000)
        return [*own_flows(from_date, to_date), local]

    monkeypatch.setattr(view, "flows", with_local_care)
    after = network(world, world.hub_key).json()
    assert after == before
    assert all(r["home_region"] != r["visit_region"] for r in after["routes"])


# --------------------------------------------------------------------------- console helpers
def test_the_region_list_has_the_41_cities_with_their_seats(world: World) -> None:
    answer = world.client.get("/console/api/regions")
    assert answer.status_code == 200
    regions = answer.json()
    assert len(regions) == 41 and len({r["code"] for r in regions}) == 41
    for r in regions:
        assert isinstance(r["lon"], str) and isinstance(r["lat"], str)
        # The Yangtze River Delta: Anhui's west to Shanghai's coast, Zhejiang's south to Xuzhou.
        assert Decimal("114") < Decimal(r["lon"]) < Decimal("123"), r
        assert Decimal("27") < Decimal(r["lat"]) < Decimal("35.5"), r
        assert r["name_zh"] and r["name_en"] and r["province"]
    shanghai = next(r for r in regions if r["code"] == SHANGHAI)
    assert (shanghai["name_zh"], shanghai["name_en"]) == ("上海市", "Shanghai")
    assert {r["province"] for r in regions} == {"Shanghai", "Jiangsu", "Zhejiang", "Anhui"}


def test_demo_samples_exist_only_when_the_app_was_made_with_them(world: World) -> None:
    assert_problem(world.client.get("/console/api/demo"), 404, "NOT_A_DEMO")
    samples = {
        "operator_key": world.hub_key,
        "date": world.today.isoformat(),
        "institutions": [
            {
                "region": SHANGHAI,
                "code": RUIJIN,
                "name": "瑞金医院",
                "level": 3,
                "api_key": "key-ruijin",
            }
        ],
        "residents": [],
    }
    with TestClient(create_network_app(world.net.network, demo=samples)) as demo:
        answer = demo.get("/console/api/demo")
        assert answer.status_code == 200 and answer.json() == samples


def test_the_console_page_is_served_at_console(world: World) -> None:
    page = STATIC / "index.html"
    if not page.is_file():
        pytest.skip("static/index.html is not written yet (the page is built concurrently)")
    answer = world.client.get("/console/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.content == page.read_bytes()
