"""The console's operator pages, its languages, a phone-sized screen and its error box, in
headless chromium against `tongban demo` (fixtures in conftest.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tongban.entrypoints.statement_render import CSV_COLUMNS

from .helpers import SHANGHAI, Shoot, expect, fen_of, institution, resident, tid

PAGES = ("network", "clearing", f"region/{SHANGHAI}", "desk", "me")


def test_the_clearing_view_shows_the_heat_map_net_positions_summing_to_zero_and_a_csv_statement(
    page: Any, console_url: str, shoot: Shoot, tmp_path: Path
) -> None:
    page.goto(f"{console_url}#/clearing")
    expect(tid(page, "clearing-period")).not_to_have_value("")
    # ECharts draws into a canvas inside the chart div.
    expect(tid(page, "clearing-heatmap").locator("canvas").first).to_be_visible()
    rows = tid(page, "clearing-positions").locator("tbody tr[data-region]")
    expect(rows).to_have_count(41)
    cells = tid(page, "clearing-positions").locator("tbody tr[data-region] [data-col=position]")
    positions = [fen_of(text) for text in cells.all_inner_texts()]
    assert sum(positions) == 0, positions
    assert any(p != 0 for p in positions)
    expect(tid(page, "clearing-reserves").locator("tbody tr[data-region]")).to_have_count(41)
    expect(tid(page, "clearing-alerts")).to_be_visible()
    expect(tid(page, "clearing-exceptions")).to_be_attached()
    shoot(page, "clearing")

    link = page.locator(
        f'[data-testid="statement-download"][data-region="{SHANGHAI}"][data-format="csv"]'
    )
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(f"{SHANGHAI}.csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    table = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert table[0] == list(CSV_COLUMNS)
    assert len(table) > 1


def test_the_console_switches_to_english_and_back(
    page: Any, console_url: str, shoot: Shoot
) -> None:
    page.goto(f"{console_url}#/network")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "zh-CN")
    expect(tid(page, "nav-network")).to_have_text("全网")
    expect(tid(page, "network-total-settled")).to_be_visible()

    tid(page, "lang-toggle").click()
    expect(html).to_have_attribute("lang", "en")
    expect(tid(page, "nav-network")).to_have_text("Network")
    expect(tid(page, "nav-clearing")).to_have_text("Clearing")
    expect(tid(page, "network-total-settled")).to_be_visible()

    shoot(page, "network-en")

    tid(page, "lang-toggle").click()
    expect(html).to_have_attribute("lang", "zh-CN")
    expect(tid(page, "nav-network")).to_have_text("全网")
    expect(tid(page, "nav-clearing")).to_have_text("清算")


def test_every_page_renders_on_a_phone_sized_screen_without_horizontal_overflow(
    phone_page: Any, console_url: str, shoot: Shoot
) -> None:
    ready = {
        "network": "network-routes",
        "clearing": "clearing-positions",
        f"region/{SHANGHAI}": "region-catalogue",
        "desk": "desk-register",
        "me": "me-send-code",
    }
    for route in PAGES:
        phone_page.goto(f"{console_url}#/{route}")
        expect(tid(phone_page, ready[route])).to_be_visible()
        expect(phone_page.get_by_test_id("error")).to_be_hidden()
        overflow = phone_page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert overflow[0] <= overflow[1] + 1, (route, overflow)
        shoot(phone_page, f"phone-{route.split('/')[0]}")


def test_a_wrong_operator_key_shows_unauthenticated_in_the_error_box(
    page: Any, console_url: str, demo_samples: dict[str, Any]
) -> None:
    # As on a network that is no demo: no sample key, so the page asks for one.
    page.route(
        "**/console/api/demo",
        lambda route: route.fulfill(
            status=404, content_type="application/problem+json",
            body='{"status": 404, "code": "NOT_A_DEMO", "detail": "no demo"}',
        ),
    )
    page.goto(f"{console_url}#/network")
    page.evaluate("() => { sessionStorage.clear(); localStorage.clear(); }")
    page.reload()
    expect(tid(page, "error")).to_contain_text("OPERATOR_KEY_REQUIRED")
    tid(page, "operator-key").fill("tbo_this-key-was-never-issued-0000000")
    tid(page, "operator-key-submit").click()
    expect(tid(page, "error")).to_contain_text("UNAUTHENTICATED")
    # The right key, typed in, lets the page load.
    tid(page, "operator-key").fill(demo_samples["operator_key"])
    tid(page, "operator-key-submit").click()
    expect(tid(page, "network-total-settled")).to_be_visible()
    expect(tid(page, "error")).to_be_hidden()


def test_the_desk_shows_the_problem_code_of_a_refused_settlement(
    page: Any, console_url: str, demo_samples: dict[str, Any]
) -> None:
    # A Nanjing resident without any filing, at a Shanghai hospital: refused by policy.
    person = resident(demo_samples, "320100", filed=False)
    hospital = institution(demo_samples, SHANGHAI, 1)
    page.goto(f"{console_url}#/desk")
    tid(page, "desk-region").select_option(SHANGHAI)
    tid(page, "desk-institution").select_option(hospital["code"])
    expect(tid(page, "desk-api-key")).to_have_value(hospital["api_key"])
    tid(page, "desk-id-number").fill(person["id_number"])
    tid(page, "desk-med-type").select_option("outpatient")
    tid(page, "desk-register").click()
    expect(tid(page, "desk-visit")).to_contain_text(person["name"])
    tid(page, "desk-line-code").fill("001102000010000")
    tid(page, "desk-line-quantity").fill("1")
    tid(page, "desk-line-price").fill("25.00")
    tid(page, "desk-add-line").click()
    expect(tid(page, "desk-lines").locator("tbody tr[data-code]")).to_have_count(1)
    tid(page, "desk-settle").click()
    expect(tid(page, "error")).to_contain_text("FILING_REQUIRED")
