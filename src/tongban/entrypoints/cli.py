"""The ``tongban`` command line (typer + rich)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tongban.domain.case import CaseFormatError, run_case
from tongban.entrypoints import (
    clearing_cli,
    db_cli,
    demo_cli,
    operator_cli,
    process_cli,
    reconcile_cli,
    simulate_cli,
    up_cli,
)

app = typer.Typer(
    name="tongban",
    help="通办 — cross-region direct settlement of medical bills in the Yangtze River Delta.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Keeps sub-commands explicit (``tongban calc``, ``tongban demo``, ...)."""


@app.command()
def calc(
    cases: Annotated[list[Path], typer.Argument(help="case files in the DESIGN.md §4.3 format")],
) -> None:
    """Compute the split of each case offline: one JSON line per case, in order.

    Exit status: 0 every case produced a split, 1 some case was refused, 2 unreadable input.
    """
    results: list[dict[str, object]] = []
    for path in cases:
        try:
            case = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
            if isinstance(case, dict) and "case" in case and "catalog" not in case:
                case = case["case"]  # a golden file: {"case": ..., "expected": ...}
            results.append(run_case(case))
        except (OSError, UnicodeDecodeError) as exc:
            err.print(f"[red]error[/]: cannot read {path}: {exc}")
            raise typer.Exit(2) from None
        except json.JSONDecodeError as exc:
            err.print(f"[red]error[/]: {path} is not JSON: {exc}")
            raise typer.Exit(2) from None
        except CaseFormatError as exc:
            err.print(f"[red]error[/]: {path} is not a tongban case: {exc}")
            raise typer.Exit(2) from None
    for result in results:
        typer.echo(json.dumps(result, ensure_ascii=False))
    raise typer.Exit(1 if any("error" in r for r in results) else 0)


app.command()(demo_cli.demo)
app.command()(demo_cli.summary)
app.add_typer(process_cli.network_app, name="network")
app.command()(process_cli.hub)
app.command()(process_cli.node)
app.add_typer(db_cli.db_app, name="db")
app.command()(up_cli.up)
app.command()(reconcile_cli.reconcile)
app.command()(clearing_cli.clear)
app.add_typer(clearing_cli.clearing_app, name="clearing")
app.add_typer(clearing_cli.ledger_app, name="ledger")
app.command()(simulate_cli.simulate)
app.command("operator-key")(operator_cli.operator_key)


def main() -> None:
    app()


if __name__ == "__main__":  # `tongban up` starts its children with `python -m` this module
    main()
