"""The console's main story in a real browser: a Jinhua resident files a record for Shanghai, a
Shanghai hospital desk settles a bill for her, the network view counts the new visit, the
region view and the resident's own page show the same split. Amounts are checked against the
node's JSON (integer fen) as the page should write them: yuan with two decimals."""

from __future__ import annotations

import re
from typing import Any

from .helpers import JINHUA, SHANGHAI, Shoot, count_of, expect, institution, resident, tid, yuan

# The split's totals a desk shows, as the node names them.
TOTALS = ("medfee_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay")


def catalogue_lines(page: Any, base: str, region: str) -> list[dict[str, Any]]:
    """Two bill lines from the region's published catalogue, fetched with the page's own
    request context: an A-class item and a B-class one (part of it self-paid), both without
    a price cap so the shown amounts follow from the prices alone."""
    answer = page.request.get(f"{base}/nodes/{region}/v1/reference/catalogue?limit=50")
    assert answer.ok, answer.text()
    items = answer.json()["items"]
    picked = [next(i for i in items if i["class"] == cls and i["price_cap"] is None)
              for cls in ("A", "B")]
    # Odd fen so a wrong conversion shows: 367.89 yuan once, 123.45 yuan twice.
    return [
        {**picked[0], "quantity": "1", "unit_price": 36789},
        {**picked[1], "quantity": "2", "unit_price": 12345},
    ]


def network_settled(page: Any, console_url: str, day: str, route: str) -> int:
    """Settled visits of one route on the day, as the network view's table shows them."""
    page.goto(f"{console_url}#/network")
    tid(page, "network-from").fill(day)
    tid(page, "network-to").fill(day)
    tid(page, "network-apply").click()
    expect(page).to_have_url(re.compile(rf"from={day}.*to={day}"))
    expect(tid(page, "network-routes")).to_be_visible()
    expect(tid(page, "network-map").locator("canvas").first).to_be_visible()
    row = tid(page, "network-routes").locator(f'tbody tr[data-route="{route}"]')
    if row.count() == 0:
        return 0
    return count_of(row.locator("[data-col=settled]").inner_text())


def sign_in(page: Any, person: dict[str, Any]) -> None:
    tid(page, "me-home").select_option(person["home_region"])
    tid(page, "me-resident").select_option(person["id_number"])
    expect(tid(page, "me-id-number")).to_have_value(person["id_number"])
    tid(page, "me-send-code").click()
    expect(tid(page, "me-code")).to_have_value(re.compile(r"^\d{6}$"))  # the demo's code
    tid(page, "me-sign-in").click()
    expect(tid(page, "me-profile")).to_contain_text(person["name"])


def register_visit(page: Any, console_url: str, hospital: dict[str, Any],
                   person: dict[str, Any]) -> None:
    page.goto(f"{console_url}#/desk")
    tid(page, "desk-region").select_option(hospital["region"])
    tid(page, "desk-institution").select_option(hospital["code"])
    expect(tid(page, "desk-api-key")).to_have_value(hospital["api_key"])
    tid(page, "desk-resident").select_option(person["id_number"])
    expect(tid(page, "desk-id-number")).to_have_value(person["id_number"])
    tid(page, "desk-med-type").select_option("outpatient")
    tid(page, "desk-register").click()
    expect(tid(page, "desk-visit")).to_contain_text(person["name"])


def add_lines(page: Any, lines: list[dict[str, Any]]) -> None:
    for line in lines:
        tid(page, "desk-line-code").fill(line["code"])
        tid(page, "desk-line-quantity").fill(line["quantity"])
        tid(page, "desk-line-price").fill(yuan(line["unit_price"]).replace(",", ""))
        tid(page, "desk-add-line").click()
        expect(tid(page, "desk-lines").locator(f'tbody tr[data-code="{line["code"]}"]')
               ).to_have_count(1)
    expect(tid(page, "desk-lines").locator("tbody tr[data-code]")).to_have_count(len(lines))


def settle(page: Any) -> str:
    """Preview, then settle under the id the desk proposes; the settlement id."""
    tid(page, "desk-preview").click()
    expect(tid(page, "desk-result")).to_have_attribute("data-status", "PREVIEW")
    settlement_id = str(tid(page, "desk-settlement-id").input_value())
    assert settlement_id
    tid(page, "desk-settle").click()
    expect(tid(page, "desk-result")).to_have_attribute("data-status", "SETTLED")
    return settlement_id


def stored_settlement(page: Any, base: str, hospital: dict[str, Any], settlement_id: str
                      ) -> dict[str, Any]:
    """The settlement as the HIS API answers it (fen), with the institution's key."""
    answer = page.request.get(
        f"{base}/nodes/{hospital['region']}/v1/settlements/{settlement_id}",
        headers={"Authorization": f"Bearer {hospital['api_key']}"},
    )
    assert answer.ok, answer.text()
    found: dict[str, Any] = answer.json()
    return found


def test_a_resident_files_a_hospital_settles_and_every_view_shows_the_same_settlement(
    page: Any, console_url: str, demo_server: str, demo_samples: dict[str, Any], shoot: Shoot
) -> None:
    day = demo_samples["date"]
    person = resident(demo_samples, JINHUA, filed=False)
    hospital = institution(demo_samples, SHANGHAI)
    route = f"{JINHUA}-{SHANGHAI}"
    settled_before = network_settled(page, console_url, day, route)

    # 1. The resident signs in at home with the demo's one-time code and files for Shanghai.
    page.goto(f"{console_url}#/me")
    sign_in(page, person)
    tid(page, "me-file-kind").select_option("long_term_resident")
    tid(page, "me-file-target").select_option(SHANGHAI)
    tid(page, "me-file-commitment").check()
    tid(page, "me-file-submit").click()
    filings = tid(page, "me-filings").locator("tbody tr[data-filing-id]")
    expect(filings).to_have_count(1)
    expect(filings.first).to_contain_text("上海")
    expect(tid(page, "me-revoke")).to_have_count(1)
    shoot(page, "resident-filing")

    # 2. A Shanghai hospital registers her visit, enters two lines, previews and settles.
    lines = catalogue_lines(page, demo_server, SHANGHAI)
    register_visit(page, console_url, hospital, person)
    expect(tid(page, "desk-visit")).to_contain_text(re.compile(f"金华|{JINHUA}"))
    add_lines(page, lines)
    settlement_id = settle(page)
    split = stored_settlement(page, demo_server, hospital, settlement_id)["split"]
    assert split["medfee_sumamt"] == 36789 + 2 * 12345
    result = tid(page, "desk-result")
    shown = {key: yuan(split[key]) for key in TOTALS}
    for text in shown.values():
        expect(result).to_contain_text(text)
    shoot(page, "desk-settled")

    # 3. The network view counts one more settled visit Jinhua -> Shanghai that day.
    assert network_settled(page, console_url, day, route) == settled_before + 1
    shoot(page, "network")

    # 4. Shanghai's region view finds the settlement by its id: lines and the same amounts.
    page.goto(f"{console_url}#/region/{SHANGHAI}")
    # The first, unfiltered page of settlements first: its answer must not land after ours.
    expect(tid(page, "region-settlements")).to_be_visible()
    tid(page, "region-search-id").fill(settlement_id)
    tid(page, "region-search-submit").click()
    row = tid(page, "region-settlements").locator(f'tbody tr[data-settlement-id="{settlement_id}"]')
    expect(row).to_have_count(1)
    expect(tid(page, "region-settlements").locator("tbody tr[data-settlement-id]")).to_have_count(1)
    row.click()
    detail = tid(page, "settlement-detail")
    expect(detail).to_have_attribute("data-status", "SETTLED")
    for line in lines:
        expect(detail).to_contain_text(line["code"])
        expect(detail).to_contain_text(line["name"])
    for text in shown.values():
        expect(detail).to_contain_text(text)
    # ID numbers are masked for operators.
    expect(page.locator("body")).not_to_contain_text(person["id_number"])
    shoot(page, "region-settlement")

    # 5. The resident sees it at home with the split explained step by step.
    page.goto(f"{console_url}#/me")
    expect(tid(page, "me-profile")).to_contain_text(person["name"])  # still signed in (the tab's)
    mine = tid(page, "me-settlements").locator(f'tbody tr[data-settlement-id="{settlement_id}"]')
    expect(mine).to_have_count(1)
    mine.click()
    explained = tid(page, "me-settlement-detail").get_by_test_id("me-explanation")
    steps = explained.locator(":scope > li")
    # One step per bill line, then pieces, deductible, ratio, account and cash.
    expect(steps).to_have_count(len(lines) + 5)
    kinds = [steps.nth(i).get_attribute("data-step") for i in range(len(lines) + 5)]
    assert kinds == ["line"] * len(lines) + ["pieces", "deductible", "ratio", "account", "cash"]
    for index, line in enumerate(lines):
        expect(steps.nth(index)).to_contain_text(line["name"])
    expect(explained).to_contain_text(yuan(split["act_pay_dedc"]))
    expect(explained).to_contain_text(yuan(split["hifp_pay"]))
    expect(explained).to_contain_text(yuan(split["psn_cash_pay"]))
    shoot(page, "resident-split")


def test_the_desk_shows_amounts_in_yuan_with_two_decimals_as_the_node_stored_them_in_fen(
    page: Any, console_url: str, demo_server: str, demo_samples: dict[str, Any]
) -> None:
    # A Jinhua resident who already has a filing for Shanghai, at another Shanghai hospital.
    person = resident(demo_samples, JINHUA, filed=True)
    hospital = institution(demo_samples, SHANGHAI, 2)
    lines = catalogue_lines(page, demo_server, SHANGHAI)
    register_visit(page, console_url, hospital, person)
    add_lines(page, lines)
    settlement_id = settle(page)
    stored = stored_settlement(page, demo_server, hospital, settlement_id)
    result = tid(page, "desk-result")
    for key in (*TOTALS, "act_pay_dedc", "inscp_scp_amt"):
        expect(result).to_contain_text(yuan(stored["split"][key]))
    for line in stored["lines"]:
        row = tid(page, "desk-lines").locator(f'tbody tr[data-code="{line["code"]}"]')
        expect(row).to_contain_text(yuan(line["amount"]))
    # Every amount the panel shows has exactly two decimals.
    amounts = re.findall(r"¥-?[\d,]+(?:\.\d+)?", result.inner_text())
    assert amounts, result.inner_text()
    assert all(re.fullmatch(r"¥-?\d{1,3}(,\d{3})*\.\d{2}", a) for a in amounts), amounts
