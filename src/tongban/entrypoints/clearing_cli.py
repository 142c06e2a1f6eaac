"""The back office at the command line: ``tongban clear``, ``tongban clearing ...``,
``tongban ledger check``.

They work on a network's data dir. Where the network runs as processes (``network init``), the
hub's clearing calls the running nodes over HTTP; a demo data dir is opened in-process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tongban.adapters.storage.clearing_store import ClearingStore
from tongban.adapters.storage.hub_store import HubStore
from tongban.adapters.storage.migrations import SchemaBehind
from tongban.adapters.storage.node_store import open_node_store
from tongban.adapters.transport import RoutingTransport
from tongban.bootstrap import DataLayout, EmbeddedNetwork, build_hub
from tongban.domain.calendar import SHANGHAI
from tongban.domain.money import parse_decimal, yuan
from tongban.domain.regions import region as region_info
from tongban.entrypoints.process_cli import default_database_url, read_settings
from tongban.entrypoints.statement_render import render
from tongban.errors import TongbanError
from tongban.service_layer.clearing import RESERVE_ALERT_MONTHS, ClearingHub
from tongban.service_layer.clearing_ports import ClearingSummary
from tongban.service_layer.ledger_check import BookCheck, check_hub, check_node

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)
clearing_app = typer.Typer(help="Clearing between regions: exceptions, statements, reserves.")
ledger_app = typer.Typer(help="The double-entry ledgers of the nodes and the hub.")

DataDir = Annotated[Path, typer.Option("--data-dir", help="the network's data directory")]
PeriodOpt = Annotated[str, typer.Option("--period", help="the month, YYYY-MM")]


@dataclass
class BackOfficeHandle:
    clearing: ClearingHub
    store: ClearingStore
    network: EmbeddedNetwork | None
    hub_store: HubStore


def parse_alert_months(text: str) -> Decimal:
    """A positive number of months such as 2 or 1.5 (decimal, never float)."""
    months = parse_decimal(text, "alert months")
    if months <= 0:
        raise ValueError("alert months must be above 0")
    return months


@contextmanager
def open_back_office(data_dir: Path, with_nodes: bool = True) -> Iterator[BackOfficeHandle]:
    """The hub's clearing for ``data_dir``: over HTTP to running nodes, or an embedded network."""
    layout = DataLayout(data_dir)
    if not layout.database_path("hub").exists():
        err.print(f"[red]error[/]: no network in {data_dir} (run `tongban demo` first)")
        raise typer.Exit(2)
    settings = read_settings(data_dir)
    try:
        if settings is not None or not with_nodes:
            endpoint = settings["hub_endpoint"] if settings else "inproc://hub"
            runtime = build_hub(
                layout.sqlite_url("hub"),
                layout.key("hub"),
                endpoint,
                migrate=False,
                transport=RoutingTransport(),
            )
            try:
                yield BackOfficeHandle(
                    runtime.clearing, ClearingStore(runtime.store.db), None, runtime.store
                )
            finally:
                runtime.close()
            return
        nodes = sorted(p.name for p in (data_dir / "nodes").iterdir())
        network = EmbeddedNetwork(data_dir).open(nodes)
        try:
            store = ClearingStore(network.hub.store.db)
            yield BackOfficeHandle(network.hub.clearing, store, network, network.hub.store)
        finally:
            network.close()
    except SchemaBehind as exc:
        err.print(f"[red]error[/]: {exc.detail}")
        raise typer.Exit(2) from None


def _fail(exc: TongbanError) -> typer.Exit:
    err.print(f"[red]{exc.code}[/]: {exc.detail}")
    return typer.Exit(2)


def _name(code: str) -> str:
    try:
        return region_info(code).name_zh.removesuffix("市")
    except KeyError:
        return code


def run_clearing(clearing: ClearingHub, period: str) -> ClearingSummary:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("period reports", total=None)

        def step(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=total)

        summary = clearing.clear(period, step)
        progress.update(task, description="done", completed=1, total=1)
    return summary


def print_clearing(summary: ClearingSummary) -> None:
    table = Table(title=f"Clearing {summary.period}: net positions (yuan)")
    for column in ("region", "receivable", "payable", "net", "reserve", "statement"):
        table.add_column(column, justify="left" if column == "region" else "right")
    receivable: dict[str, int] = {}
    payable: dict[str, int] = {}
    for o in summary.obligations:
        if o.home_region != o.visit_region:
            receivable[o.visit_region] = receivable.get(o.visit_region, 0) + o.amount
            payable[o.home_region] = payable.get(o.home_region, 0) + o.amount
    active = sorted(summary.positions, key=lambda r: summary.positions[r])
    for code in active:
        net = summary.positions[code]
        table.add_row(
            f"{_name(code)} {code}",
            yuan(receivable.get(code, 0)),
            yuan(payable.get(code, 0)),
            yuan(net),
            yuan(summary.reserves.get(code, 0)),
            summary.statements.get(code, "-"),
            style="green" if net > 0 else "red" if net < 0 else None,
        )
    table.add_section()
    table.add_row(
        "Σ",
        yuan(sum(receivable.values())),
        yuan(sum(payable.values())),
        yuan(sum(summary.positions.values())),
        "",
        "",
        style="bold",
    )
    console.print(table)

    def local(moment: datetime) -> str:
        return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")

    window_from = local(summary.window_from) if summary.window_from else "the first event"
    console.print(
        f"{summary.matched:,} events matched (from {window_from} to"
        f" {local(summary.window_to)} Shanghai time);"
        f" {len(summary.exceptions_found)} exceptions held out;"
        f" {summary.carried} resolved exceptions carried in; period {summary.status}"
    )
    if summary.exceptions_found:
        xt = Table(title="Exceptions held out of this period")
        for column in ("visit", "settlement", "event", "kind", "visit says", "home says"):
            xt.add_column(column, no_wrap=column == "settlement")
        for x in summary.exceptions_found[:20]:
            xt.add_row(
                x.visit_region,
                x.settlement_id,
                x.event,
                x.kind,
                _view(x.visit_view),
                _view(x.home_view),
            )
        console.print(xt)
    for code, reason in summary.disputes.items():
        console.print(f"[red]{code} disputes its statement[/]: {reason}")
    for alert in summary.alerts:
        console.print(f"[yellow]reserve alert[/]: {alert.message}")


def _view(view: dict[str, Any] | None) -> str:
    if not view:
        return "—"
    return f"fund {yuan(view['hifp_pay'])} + account {yuan(view['acct_pay'])}"


def clear(data_dir: DataDir, period: PeriodOpt) -> None:
    """Clear a month between the regions: reports, matching, statements, reserves."""
    with open_back_office(data_dir) as office:
        try:
            summary = run_clearing(office.clearing, period)
        except TongbanError as exc:
            raise _fail(exc) from None
        print_clearing(summary)
    raise typer.Exit(0 if summary.status == "CLOSED" else 1)


@clearing_app.command("show")
def show(data_dir: DataDir, period: PeriodOpt) -> None:
    """Show a cleared period again: net positions, exceptions, statements, alerts."""
    with open_back_office(data_dir, with_nodes=False) as office:
        try:
            print_clearing(office.clearing.summary(period))
        except TongbanError as exc:
            raise _fail(exc) from None


@clearing_app.command("exceptions")
def exceptions(
    data_dir: DataDir,
    all_: Annotated[bool, typer.Option("--all", help="resolved ones too")] = False,
) -> None:
    """List the exceptions held out of clearing (open ones by default)."""
    with open_back_office(data_dir, with_nodes=False) as office:
        rows = office.store.exceptions(status=None if all_ else "OPEN")
    table = Table(title="Clearing exceptions")
    for column in (
        "found in",
        "visit",
        "settlement",
        "event",
        "kind",
        "status",
        "visit says",
        "home says",
        "cleared in",
    ):
        table.add_column(column, no_wrap=column == "settlement")
    for x in rows:
        table.add_row(
            x.found_in,
            x.visit_region,
            x.settlement_id,
            x.event,
            x.kind,
            x.resolution or x.status,
            _view(x.visit_view),
            _view(x.home_view),
            x.cleared_in or "",
        )
    console.print(table)


@clearing_app.command("resolve")
def resolve(
    data_dir: DataDir,
    visit_region: Annotated[str, typer.Argument(help="the visit region of the settlement")],
    settlement_id: Annotated[str, typer.Argument()],
    event: Annotated[Literal["settle", "cancel"], typer.Argument()],
    accept: Annotated[
        Literal["visit", "home", "none"],
        typer.Option(help="whose view to clear (none: write it off)"),
    ],
    note: Annotated[str, typer.Option(help="why: it goes on the statements")],
) -> None:
    """Explain an exception; it is cleared in the next clearing run."""
    with open_back_office(data_dir, with_nodes=False) as office:
        try:
            x = office.clearing.resolve((visit_region, settlement_id, event), accept, note)
        except TongbanError as exc:
            raise _fail(exc) from None
    console.print(f"{settlement_id} {event}: {x.resolution}; cleared with the next period")


@clearing_app.command("statement")
def statement(
    data_dir: DataDir,
    period: PeriodOpt,
    region: Annotated[str, typer.Option(help="the region code")],
    format_: Annotated[Literal["json", "csv", "html"], typer.Option("--format")] = "json",
    output: Annotated[Path | None, typer.Option("-o", help="write to this file")] = None,
) -> None:
    """A region's signed statement for a period, as JSON, CSV or a readable HTML page."""
    with open_back_office(data_dir, with_nodes=False) as office:
        found = [s for s in office.store.statements(period) if s["region"] == region]
    if not found:
        err.print(f"[red]STATEMENT_NOT_FOUND[/]: no statement of {region} for {period}")
        raise typer.Exit(2)
    text = render(found[0], format_)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


@clearing_app.command("reserves")
def reserves(
    data_dir: DataDir,
    alert_months: Annotated[
        str | None,
        typer.Option(help="set the alert: a reserve below this many months of payments"),
    ] = None,
) -> None:
    """Each region's reserve (预付金) at the hub, and the alerts."""
    with open_back_office(data_dir, with_nodes=False) as office:
        if alert_months is not None:
            try:
                months = parse_alert_months(alert_months)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
            office.hub_store.set_meta(RESERVE_ALERT_MONTHS, str(months))
            office.clearing.threshold_months = months
        balances, alerts = office.clearing.reserves()
    console.print(f"alert below {office.clearing.threshold_months} months of average payments")
    table = Table(title="Reserves at the hub (yuan)")
    table.add_column("region")
    table.add_column("reserve", justify="right")
    for code, balance in sorted(balances.items()):
        table.add_row(f"{_name(code)} {code}", yuan(balance))
    console.print(table)
    for alert in alerts:
        console.print(f"[yellow]reserve alert[/]: {alert.message}")


@clearing_app.command("deposit")
def deposit(
    data_dir: DataDir,
    region: Annotated[str, typer.Option(help="the region code")],
    amount: Annotated[int, typer.Option(help="fen (integer)", min=1)],
    transfer_id: Annotated[
        str | None, typer.Option("--id", help="your id for it: the same id twice is one deposit")
    ] = None,
) -> None:
    """A region tops up its reserve at the hub."""
    with open_back_office(data_dir, with_nodes=False) as office:
        try:
            posted = office.clearing.deposit(region, amount, transfer_id)
        except TongbanError as exc:
            raise _fail(exc) from None
    console.print(f"{region}: +{yuan(amount)} yuan" if posted else "already deposited (same id)")


@ledger_app.command("check")
def check(data_dir: DataDir) -> None:
    """Σ debits = Σ credits in every book, and every book against its records."""
    results: list[BookCheck] = []
    with open_back_office(data_dir) as office:
        results.append(check_hub("hub", office.store))
        if office.network is not None:
            for code, node in sorted(office.network.nodes.items()):
                results.append(check_node(code, node.store))
        else:  # nodes run as processes: read their databases directly
            settings = read_settings(data_dir) or {}
            for code in sorted(settings.get("endpoints", {})):
                url = settings.get("databases", {}).get(code) or default_database_url(
                    data_dir, code
                )
                store = open_node_store(url, migrate=False)
                try:
                    results.append(check_node(code, store))
                finally:
                    store.db.dispose()
    table = Table(title="Ledger check")
    for column in ("book", "transfers", "accounts", "Σ debits", "Σ credits", "state"):
        table.add_column(column, justify="left" if column in ("book", "state") else "right")
    for r in results:
        state = (
            "sound" if r.sound else f"{len(r.differences) + len(r.audit.bad_transfers)} problems"
        )
        table.add_row(
            r.name,
            f"{r.audit.transfers:,}",
            f"{r.accounts:,}",
            yuan(r.audit.debits),
            yuan(r.audit.credits),
            state,
            style=None if r.sound else "red",
        )
    console.print(table)
    for r in results:
        for line in [
            *r.differences,
            *(f"bad transfer {t}" for t in r.audit.bad_transfers),
            *(f"unopened account {a}" for a in r.audit.unopened_accounts),
        ]:
            console.print(f"[red]{r.name}[/]: {line}")
    raise typer.Exit(0 if all(r.sound for r in results) else 1)
