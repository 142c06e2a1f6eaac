"""``tongban demo`` and ``tongban summary``: the embedded network, a simulated day, its figures."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tongban.bootstrap import DataLayout, EmbeddedNetwork
from tongban.domain.calendar import SHANGHAI
from tongban.domain.money import yuan
from tongban.domain.regions import region, yrd_regions

# Piped output (CI logs, files) gets a width the summary table fits in.
console = Console(width=None if sys.stdout.isatty() else 120)

DataDir = Annotated[Path, typer.Option("--data-dir", help="where the network keeps its databases")]
Day = Annotated[
    str | None, typer.Option("--date", help="the simulated day, YYYY-MM-DD (default: today)")
]


def _day(value: str | None) -> date:
    if value is None:
        return datetime.now(SHANGHAI).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _clock_for(day: date) -> Callable[[], datetime]:
    """Today's wall clock, moved to the simulated day (so accumulators and periods follow it)."""
    if day == datetime.now(SHANGHAI).date():
        return lambda: datetime.now(UTC)

    def clock() -> datetime:
        now = datetime.now(SHANGHAI)
        return datetime.combine(day, now.timetz()).astimezone(UTC)

    return clock


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def demo(
    data_dir: DataDir = Path("tongban-data"),
    seed: Annotated[int, typer.Option(help="seed of the simulated day")] = 2026,
    scale: Annotated[
        float, typer.Option(min=0.001, max=1.0, help="fraction of the day's traffic to run")
    ] = 1.0,
    day: Day = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve the API afterwards")
    ] = True,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on (0: any free port)")] = 8000,
) -> None:
    """Build (or reopen) the 41-region network, run a simulated day, print it, serve the API."""
    from tongban.demo.network import open_demo_network
    from tongban.demo.simulation import Simulator, plan_day
    from tongban.entrypoints.observability import configure_logging

    # Warnings and faults as text on stderr, through the handler that masks ID numbers.
    configure_logging(level="WARNING", json_lines=False)
    the_day = _day(day)
    started = time.monotonic()
    console.print(
        f"[bold]tongban demo[/] — data in {data_dir.resolve()}, seed {seed}, day {the_day}"
    )
    console.print(
        "[dim]Policies, catalogues and people are SAMPLE data, not any region's real policy.[/]"
    )
    with _progress() as progress:
        task = progress.add_task("opening 41 regions", total=len(yrd_regions()))
        network, keys = open_demo_network(
            data_dir,
            seed,
            the_day,
            lambda _code, n: progress.advance(task, n),
            clock=_clock_for(the_day),
        )
    recovered = network.recover_all()
    finished = sum(len(r.settled) + len(r.voided) + len(r.cancelled) for r in recovered.values())
    if finished:
        console.print(f"start-up recovery resolved {finished} settlements left unresolved")
    simulator = Simulator(network, keys, seed)
    plan = plan_day(seed, the_day, scale)
    with _progress() as progress:
        task = progress.add_task(f"settling {the_day}", total=len(plan))
        simulator.run(plan, on_done=lambda _outcome: progress.advance(task))
    print_summary(network, the_day)
    close_period(network, _clock_for(the_day)())
    console.print(f"[dim]done in {time.monotonic() - started:.1f} s[/]")
    if serve:
        _serve(network, keys, host, port, the_day)
    network.close()


def close_period(network: EmbeddedNetwork, now: datetime) -> None:
    """Clear the simulated day's month between the regions and print the outcome."""
    from tongban.domain.clearing import Period
    from tongban.entrypoints.clearing_cli import print_clearing, run_clearing
    from tongban.errors import Conflict

    period = str(Period.of(now))
    try:
        result = run_clearing(network.hub.clearing, period)
    except Conflict as exc:
        if exc.code != "PERIOD_CLOSED":
            raise
        console.print(
            f"{period} was closed by an earlier run; events since then are cleared with the"
            " next period. The closed period:"
        )
        result = network.hub.clearing.summary(period)
    print_clearing(result)


def summary(data_dir: DataDir = Path("tongban-data"), day: Day = None) -> None:
    """Print a day's per-route summary again, straight from the stored settlements."""
    if not DataLayout(data_dir).database_path("hub").exists():
        console.print(f"[red]error[/]: no network in {data_dir} (run `tongban demo` first)")
        raise typer.Exit(2)
    network = EmbeddedNetwork(data_dir).open()
    try:
        print_summary(network, _day(day))
    finally:
        network.close()


def print_summary(network: EmbeddedNetwork, day: date) -> None:
    from tongban.demo.summary import RouteSummary, day_summary

    routes = day_summary(network, day)
    table = Table(title=f"Cross-region direct settlement on {day} (yuan)", show_lines=False)
    table.add_column("route (home → visit)")
    for header in ("visits", "cancelled", "refused", "medfee", "fund", "account", "cash"):
        table.add_column(header, justify="right")

    def row(label: str, rows: list[RouteSummary]) -> list[str]:
        return [
            label,
            f"{sum(r.settled for r in rows):,}",
            f"{sum(r.cancelled for r in rows):,}",
            f"{sum(r.refused for r in rows):,}",
            yuan(sum(r.medfee for r in rows)),
            yuan(sum(r.fund for r in rows)),
            yuan(sum(r.account for r in rows)),
            yuan(sum(r.cash for r in rows)),
        ]

    def name(code: str) -> str:
        return region(code).name_zh.removesuffix("市")

    shown = routes[:15]
    for r in shown:
        table.add_row(*row(f"{name(r.home)} → {name(r.visit)}", [r]))
    rest = routes[15:]
    if rest:
        table.add_row(*row(f"{len(rest)} other routes", rest), style="dim")
    table.add_section()
    jinhua = [r for r in routes if r.home == "330700"]
    table.add_row(*row("金华 insured, all routes", jinhua), style="bold")
    table.add_row(*row("all routes", routes), style="bold")
    console.print(table)
    unresolved = sum(r.unresolved for r in routes)
    if unresolved:
        console.print(
            f"[yellow]{unresolved} settlements are still being resolved with their home region[/]"
        )
    visits = sum(r.settled + r.cancelled for r in jinhua)
    if visits:
        to_sh = sum(r.settled + r.cancelled for r in jinhua if r.visit == "310000")
        medfee = sum(r.medfee for r in jinhua)
        settled = sum(r.settled for r in jinhua)
        console.print(
            f"金华 (Jinhua) insured: {visits:,} settled visits, "
            f"{to_sh / visits:.0%} of them in 上海; "
            f"average bill {yuan(medfee // settled if settled else 0)} yuan"
        )


def _free_port(host: str, port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _serve(
    network: EmbeddedNetwork, keys: dict[str, str], host: str, port: int, day: date
) -> None:
    import uvicorn

    from tongban.adapters.code_sender import MemoryCodeSender
    from tongban.demo.console_samples import console_samples, demo_operator_key
    from tongban.entrypoints.api.embedded import create_network_app
    from tongban.entrypoints.observability import observe_recovery

    port = _free_port(host, port)
    base = f"http://{host}:{port}"
    sample = next(code for code in sorted(keys) if code.startswith("H310000"))
    operator_key = demo_operator_key(network)
    console.print(f"\nServing the network at [bold]{base}/[/]")
    console.print(f"  web console (控制台):     [bold]{base}/console/[/]")
    console.print(f"  network operator's key: {operator_key}  (the console fills it in)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            f"[yellow]warning[/]: on {host} anyone who reaches this port gets the demo's"
            " operator and hospital keys from the console: SAMPLE data only"
        )
    console.print(f"  Shanghai node API docs: {base}/nodes/310000/docs")
    console.print(f"  hub directory:          {base}/hub/v1/directory")
    console.print(f"  Shanghai node metrics:  {base}/nodes/310000/metrics")
    console.print(f"  national interface:     {base}/nodes/310000/v1/national  (国家医保接口)")
    console.print(f"  a Shanghai hospital's API key ({sample}): {keys[sample]}")
    console.print(
        "  all hospital keys: demo-credentials.json in the data directory.  Ctrl-C stops."
    )
    for runtime in network.nodes.values():
        if isinstance(runtime.code_sender, MemoryCodeSender):
            runtime.code_sender.show_codes = True  # the demo has no SMS: codes come back inline
    console.print("  residents' sign-in codes are shown in the sign-in answer (demo only)")
    stop = threading.Event()
    app = create_network_app(network, console_samples(network, keys, day, operator_key))

    def recover_periodically() -> None:
        while not stop.wait(30):
            for code, report in network.recover_all(everything=False).items():
                observe_recovery(app.state.node_metrics[code], report)

    threading.Thread(target=recover_periodically, daemon=True).start()
    try:
        # log_config=None: uvicorn's lines through our masking handler; no raw-path access log
        uvicorn.run(
            app, host=host, port=port, log_level="warning", log_config=None, access_log=False
        )
    finally:
        stop.set()
