"""A clearing statement as CSV (for spreadsheets) and as a readable HTML page (for people).

The JSON body is what the hub signed; these are views of it. Amounts are fen inside and yuan
with two decimals on the page, as an accountant reads them.
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import Any

from tongban.domain.money import yuan
from tongban.domain.regions import region as region_info

CSV_COLUMNS = (
    "section",
    "counterpart",
    "settlement_id",
    "event",
    "events",
    "medfee_sumamt",
    "hifp_pay",
    "acct_pay",
    "amount",
    "note",
)


def _name(code: str) -> str:
    try:
        return f"{region_info(code).name_zh} {code}"
    except (KeyError, ValueError):
        return code


def statement_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line in body["as_visit"]:
        rows.append(
            {
                "section": "receivable (as visit region)",
                "counterpart": line["home_region"],
                **{
                    k: line[k]
                    for k in ("events", "medfee_sumamt", "hifp_pay", "acct_pay", "amount")
                },
            }
        )
    for line in body["as_home"]:
        rows.append(
            {
                "section": "payable (as home region)",
                "counterpart": line["visit_region"],
                **{
                    k: line[k]
                    for k in ("events", "medfee_sumamt", "hifp_pay", "acct_pay", "amount")
                },
            }
        )
    for c in body["carried"]:
        mine_visit = c["visit_region"] == body["region"]
        rows.append(
            {
                "section": "carried from an earlier period",
                "counterpart": c["home_region"] if mine_visit else c["visit_region"],
                "settlement_id": c["settlement_id"],
                "event": c["event"],
                "hifp_pay": c["hifp_pay"],
                "acct_pay": c["acct_pay"],
                "amount": c["amount"] if mine_visit else -c["amount"],
                "note": c["resolution"],
            }
        )
    for x in body["exceptions"]:
        rows.append(
            {
                "section": "held out (exception)",
                "counterpart": x["home_region"]
                if x["visit_region"] == body["region"]
                else x["visit_region"],
                "settlement_id": x["settlement_id"],
                "event": x["event"],
                "note": x["kind"],
            }
        )
    rows.append(
        {
            "section": "net",
            "amount": body["net"],
            "note": f"receivable {body['receivable']} - payable {body['payable']}",
        }
    )
    return rows


def to_csv(body: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in statement_rows(body):
        writer.writerow({k: row.get(k, "") for k in CSV_COLUMNS})
    return out.getvalue()


def to_html(body: dict[str, Any], digest: str, signature: str, status: str) -> str:
    def money(value: Any) -> str:
        return "" if value in (None, "") else escape(yuan(int(value)))

    lines = []
    for row in statement_rows(body):
        lines.append(
            "<tr>"
            + "".join(
                f"<td>{escape(str(row.get(k, '')))}</td>"
                for k in ("section", "counterpart", "settlement_id", "event", "events")
            )
            + "".join(
                f'<td class="n">{money(row.get(k))}</td>'
                for k in ("medfee_sumamt", "hifp_pay", "acct_pay", "amount")
            )
            + f"<td>{escape(str(row.get('note', '')))}</td></tr>"
        )
    net = int(body["net"])
    verdict = "receives" if net > 0 else "pays" if net < 0 else "neither pays nor receives"
    window = body["window"]
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>清算单 {escape(body["period"])} {escape(body["region"])}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .35rem .6rem; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.net {{ font-size: 1.4rem; margin: 1rem 0; }} .meta {{ color: #666; font-size: .85rem; }}
</style></head><body>
<h1>清算单 Clearing statement — {escape(_name(body["region"]))}</h1>
<p>Period <b>{escape(body["period"])}</b> · status <b>{escape(status)}</b>
 · events from {escape(str(window["from"] or "the first"))} to {escape(window["to"])}</p>
<p class="net">Net position: <b>{money(net)}</b> yuan — {body["region"]} {verdict}
 (receivable {money(body["receivable"])}, payable {money(body["payable"])})</p>
<table><thead><tr><th>section</th><th>counterpart</th><th>settlement</th><th>event</th>
<th>events</th><th>medfee</th><th>fund</th><th>account</th><th>amount</th><th>note</th></tr>
</thead><tbody>
{chr(10).join(lines)}
</tbody></table>
<p class="meta">Signed by the hub (Ed25519). Digest {escape(digest)}<br>
Signature {escape(signature)}<br>Issued {escape(body["issued_at"])}.
Amounts in yuan; the signed JSON carries integer fen.</p>
</body></html>
"""


def render(stored: dict[str, Any], format_: str) -> str:
    """A stored statement (body, digest, signature, status) as ``json`` (the signed document
    as `tongban clearing statement` writes it), ``csv`` or ``html``."""
    body = json.loads(stored["body"])
    if format_ == "json":
        signed = {
            "statement": body,
            "digest": stored["digest"],
            "signature": stored["signature"],
            "status": stored["status"],
        }
        return json.dumps(signed, ensure_ascii=False, indent=1) + "\n"
    if format_ == "csv":
        return to_csv(body)
    return to_html(body, stored["digest"], stored["signature"], stored["status"])
