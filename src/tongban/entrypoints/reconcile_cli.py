"""``tongban reconcile``: a hospital's daily reconciliation (对账) against its visit node.

For a hospital integrator: it reads the hospital's own settle and cancel events from a file,
adds up its totals per insutype, asks the node (``POST /v1/reconciliation``) and, when they do
not balance, sends the list (``POST /v1/reconciliation/detail``) and prints each settlement
the two sides disagree on. Exit status: 0 balanced, 1 not balanced, 2 an error.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from tongban.domain.calendar import SHANGHAI
from tongban.domain.money import yuan
from tongban.domain.reconciliation import (
    AMOUNTS,
    EventLine,
    check_listing,
    check_listing_size,
    parse_line,
    totals_by_insutype,
)
from tongban.errors import InvalidInput

console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

COLUMNS = ("settlement_id", "event", "insutype", *AMOUNTS)
SHOWN = 200  # differences printed; the node's answer holds them all
KINDS = {  # printed under the table, for the kinds that occur
    "MISSING_AT_NODE": "in the hospital's books, not at the node",
    "MISSING_AT_HOSPITAL": "at the node, not in the hospital's books",
    "DIFFERS": "on both sides, with a different insutype or amount (the fields named)",
    "UNRESOLVED_AT_NODE": "the node still waits on the home region for it: ask again later",
}


class Failure(Exception):
    """Anything that stops the run: printed as its code and detail, exit status 2."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


def read_events(path: Path) -> list[EventLine]:
    """The hospital's events: CSV with a header row, or a JSON list of the same objects."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM, as spreadsheets write it
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure("FILE_UNREADABLE", f"cannot read {path}: {exc}") from None
    rows = _json_rows(path, text) if _is_json(path, text) else _csv_rows(path, text)
    check_listing_size(len(rows))
    events = [parse_line(row, number) for number, row in enumerate(rows, 1)]
    check_listing(events)
    return events


def _is_json(path: Path, text: str) -> bool:
    return path.suffix.lower() == ".json" or text.lstrip().startswith("[")


def _json_rows(path: Path, text: str) -> list[dict[str, object]]:
    try:
        rows = json.loads(text)  # a float stays a float, and parse_line refuses it
    except (ValueError, RecursionError) as exc:  # also too deep, or an integer of 5,000 digits
        raise Failure("INVALID_FILE", f"{path} is not JSON: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise Failure("INVALID_FILE", f"{path}: expected a JSON list of objects")
    return rows


def _csv_rows(path: Path, text: str) -> list[dict[str, object]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [name.strip() for name in reader.fieldnames or ()]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise Failure(
                "INVALID_FILE",
                f"{path}: the header must name {', '.join(COLUMNS)}; missing {missing}",
            )
        return [{k.strip(): v for k, v in row.items() if k} for row in reader]
    except csv.Error as exc:  # a NUL byte, a field over the size limit
        raise Failure("INVALID_FILE", f"{path} is not CSV: {exc}") from None


def hospital_totals(events: list[EventLine]) -> list[dict[str, Any]]:
    return [
        {
            "insutype": insutype,
            "settle_count": totals.settle_count,
            "cancel_count": totals.cancel_count,
            "medfee_sumamt": totals.medfee_sumamt,
            "fund_pay": totals.fund_pay,
            "acct_pay": totals.acct_pay,
        }
        for insutype, totals in sorted(totals_by_insutype(events).items())
    ]


def line_json(event: EventLine) -> dict[str, Any]:
    return {
        "settlement_id": event.settlement_id,
        "event": event.event.value,
        "insutype": event.insutype,
        "medfee_sumamt": event.medfee_sumamt,
        "fund_pay": event.fund_pay,
        "acct_pay": event.acct_pay,
    }


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise Failure("NODE_UNREACHABLE", f"{client.base_url}{path}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict):
        problem = answer if isinstance(answer, dict) else {}
        code = str(problem.get("code") or f"HTTP_{response.status_code}")
        detail = str(problem.get("detail") or response.text[:200] or response.reason_phrase)
        raise Failure(code, detail)
    return answer


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Failure("INVALID_DATE", f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def _totals_table(answer: dict[str, Any]) -> Table:
    table = Table(title="Totals per insutype (yuan; a cancel counts −)")
    for name in ("insutype", "side", "count", "settles", "cancels", "medfee", "fund", "account"):
        table.add_column(name, justify="left" if name in ("insutype", "side") else "right")
    table.add_column("", justify="center")
    for row in answer["insutypes"]:
        mark = "[green]=[/]" if row["balanced"] else "[red]≠[/]"
        for side in ("node", "hospital"):
            t = row[side]
            table.add_row(
                row["insutype"] if side == "node" else "",
                side,
                str(t["count"]),
                str(t["settle_count"]),
                str(t["cancel_count"]),
                *(yuan(t[name]) for name in AMOUNTS),
                mark if side == "node" else "",
            )
    return table


def _amounts(line: dict[str, Any] | None) -> str:
    if line is None:
        return "—"
    return f"{line['insutype']} " + "/".join(yuan(line[name]) for name in AMOUNTS)


def _differences_table(differences: list[dict[str, Any]]) -> Table:
    table = Table(title="Differing settlements (insutype medfee/fund/account, yuan)")
    table.add_column("settlement id", no_wrap=True)
    table.add_column("event")
    table.add_column("difference")
    table.add_column("node", no_wrap=True)
    table.add_column("hospital", no_wrap=True)
    for d in differences[:SHOWN]:
        fields = f": {', '.join(d['fields'])}" if d["fields"] else ""
        table.add_row(
            d["settlement_id"],
            d["event"],
            d["kind"] + fields,
            _amounts(d["node"]),
            _amounts(d["hospital"]),
        )
    return table


def _unresolved(answer: dict[str, Any]) -> None:
    if answer["unresolved"]:
        console.print(
            f"[yellow]{len(answer['unresolved'])} event(s) the node still waits on the home "
            "region for (in no total yet):[/]"
        )
        for u in answer["unresolved"]:
            console.print(f"  {u['settlement_id']} {u['event']} ({u['insutype']})")


def run(node: str, api_key: str, first: date, last: date, events: list[EventLine]) -> int:
    """Reconcile and print; the exit status (0 balanced, 1 not)."""
    span = {"from_date": first.isoformat(), "to_date": last.isoformat()}
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=f"{node.rstrip('/')}/v1", headers=headers, timeout=120) as client:
        answer = _post(client, "/reconciliation", {**span, "totals": hospital_totals(events)})
        console.print(
            f"Reconciliation (对账) of {answer['institution_code']} at {node}, "
            f"{first} … {last}: {len(events)} event(s) in the hospital's file"
        )
        console.print(_totals_table(answer))
        _unresolved(answer)
        if answer["balanced"]:
            console.print("[bold green]BALANCED[/]")
            return 0
        detail = _post(
            client, "/reconciliation/detail", {**span, "lines": [line_json(e) for e in events]}
        )
    differences = detail["differences"]
    console.print(_differences_table(differences))
    for kind in sorted({d["kind"] for d in differences} & KINDS.keys()):
        console.print(f"  {kind}: {KINDS[kind]}", highlight=False)
    if len(differences) > SHOWN:
        console.print(f"… and {len(differences) - SHOWN} more")
    console.print(
        f"[bold red]NOT BALANCED[/]: {len(differences)} difference(s); "
        f"{detail['matched']} of the node's {detail['node_lines']} event(s) match"
    )
    return 1


def _fail(code: str, detail: str) -> NoReturn:
    err.print(f"[red]error[/] {code}: {detail}", highlight=False)
    raise typer.Exit(2)


def reconcile(
    node: Annotated[
        str,
        typer.Option(
            "--node",
            help="the node's base URL: http://127.0.0.1:8101, or in the embedded demo "
            "http://127.0.0.1:8000/nodes/310000",
        ),
    ],
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            help="the hospital's events: CSV with header "
            "settlement_id,event,insutype,medfee_sumamt,fund_pay,acct_pay (fen), or a JSON "
            "list of the same objects",
        ),
    ],
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="TONGBAN_API_KEY",
            help="the institution's API key (default: $TONGBAN_API_KEY)",
            show_default=False,
        ),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="first day, YYYY-MM-DD (default: yesterday in Shanghai)"),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="last day, YYYY-MM-DD (default: --from)")
    ] = None,
) -> None:
    """Daily reconciliation (对账) of a hospital's settlements with its node.

    Exit status: 0 balanced, 1 not balanced (the differing settlements are printed),
    2 an error (its code and detail are printed).
    """
    try:
        if not api_key:
            raise Failure("UNAUTHENTICATED", "pass --api-key or set TONGBAN_API_KEY")
        first = _day(from_, "--from") or datetime.now(SHANGHAI).date() - timedelta(days=1)
        last = _day(to, "--to") or first
        status = run(node, api_key, first, last, read_events(file))
    except Failure as exc:
        _fail(exc.code, exc.detail)
    except InvalidInput as exc:  # the file's own content, refused before anything is sent
        _fail(exc.code, f"{file}: {exc.detail}")
    raise typer.Exit(status)
