"""The columnar matching engine (Polars over Arrow): the hub's clearing at national scale.

A month of cross-region traffic is tens of millions of events per side. Row at a time in
Python that is minutes of object churn; as columns it is one hash join and one group-by. The
reports are read from the hub's database through ADBC (Arrow straight from SQLite or
PostgreSQL, no Python row objects) one visit region at a time, so memory is bounded by the
largest region, not the month. ``tongban.domain.clearing.match_events`` is the reference this
engine must agree with (the tests check it on random histories).
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import polars as pl
from sqlalchemy.engine import make_url

from tongban.domain.clearing import (
    ExceptionKind,
    MatchException,
    MatchResult,
    Obligation,
    SettlementEvent,
    merge_obligations,
)
from tongban.domain.ledger import EventKind

KEY = ["visit_region", "settlement_id", "event"]
VALUES = ["home_region", "institution_code", "medfee_sumamt", "hifp_pay", "acct_pay"]
COLUMNS = [*KEY, *VALUES, "occurred_at"]
SCHEMA: dict[str, Any] = {
    "visit_region": pl.String,
    "settlement_id": pl.String,
    "event": pl.String,
    "home_region": pl.String,
    "institution_code": pl.String,
    "medfee_sumamt": pl.Int64,
    "hifp_pay": pl.Int64,
    "acct_pay": pl.Int64,
    "occurred_at": pl.Datetime("us", "UTC"),
}


@dataclass
class ColumnarMatch:
    """The outcome of matching: counts, obligations by pair, and the exceptions as rows."""

    matched: int = 0
    obligations: list[Obligation] = field(default_factory=list)
    exceptions: list[MatchException] = field(default_factory=list)

    def add(self, other: ColumnarMatch) -> None:
        self.matched += other.matched
        self.obligations = merge_obligations(self.obligations, other.obligations)
        self.exceptions.extend(other.exceptions)


def frame_of(events: list[SettlementEvent]) -> pl.DataFrame:
    """Events as a frame (tests, small inputs, rechecked exceptions)."""
    return pl.DataFrame(
        {
            "visit_region": [e.visit_region for e in events],
            "settlement_id": [e.settlement_id for e in events],
            "event": [e.event.value for e in events],
            "home_region": [e.home_region for e in events],
            "institution_code": [e.institution_code for e in events],
            "medfee_sumamt": [e.medfee_sumamt for e in events],
            "hifp_pay": [e.hifp_pay for e in events],
            "acct_pay": [e.acct_pay for e in events],
            "occurred_at": [e.occurred_at.astimezone(UTC) for e in events],
        },
        schema=SCHEMA,
    )


def match_frames(visit: pl.DataFrame, home: pl.DataFrame) -> ColumnarMatch:
    """Full outer join on the key; equal pairs are summed into obligations, the rest returned."""
    joined = visit.select(COLUMNS).join(
        home.select(COLUMNS), on=KEY, how="full", coalesce=True, suffix="_home"
    )
    in_visit = pl.col("home_region").is_not_null()
    in_home = pl.col("home_region_home").is_not_null()
    same = pl.all_horizontal([pl.col(c).eq(pl.col(f"{c}_home")) for c in VALUES])
    agreed = in_visit & in_home & same.fill_null(False)
    joined = joined.with_columns(agreed.alias("agreed"))

    sign = pl.when(pl.col("event") == EventKind.SETTLE.value).then(1).otherwise(-1)
    sums = (
        joined.filter(pl.col("agreed"))
        .group_by("home_region", "visit_region")
        .agg(
            sign.sum().alias("events"),
            (sign * pl.col("medfee_sumamt")).sum().alias("medfee_sumamt"),
            (sign * pl.col("hifp_pay")).sum().alias("hifp_pay"),
            (sign * pl.col("acct_pay")).sum().alias("acct_pay"),
            pl.len().alias("rows"),
        )
        .sort("home_region", "visit_region")
    )
    result = ColumnarMatch(matched=int(sums["rows"].sum() or 0))
    result.obligations = [
        Obligation(
            r["home_region"],
            r["visit_region"],
            int(r["events"]),
            int(r["medfee_sumamt"]),
            int(r["hifp_pay"]),
            int(r["acct_pay"]),
        )
        for r in sums.iter_rows(named=True)
    ]
    odd = joined.filter(~pl.col("agreed")).sort(KEY)
    result.exceptions = [_exception(r) for r in odd.iter_rows(named=True)]
    return result


def _side(row: dict[str, Any], suffix: str) -> SettlementEvent | None:
    if row[f"home_region{suffix}"] is None:
        return None
    return SettlementEvent(
        visit_region=row["visit_region"],
        settlement_id=row["settlement_id"],
        event=EventKind(row["event"]),
        home_region=row[f"home_region{suffix}"],
        institution_code=row[f"institution_code{suffix}"],
        occurred_at=row[f"occurred_at{suffix}"],
        medfee_sumamt=int(row[f"medfee_sumamt{suffix}"]),
        hifp_pay=int(row[f"hifp_pay{suffix}"]),
        acct_pay=int(row[f"acct_pay{suffix}"]),
    )


def _exception(row: dict[str, Any]) -> MatchException:
    visit, home = _side(row, ""), _side(row, "_home")
    if visit is None:
        return MatchException(ExceptionKind.HOME_ONLY, None, home)
    if home is None:
        return MatchException(ExceptionKind.VISIT_ONLY, visit, None)
    return MatchException(ExceptionKind.DIFFERS, visit, home)


# --- reading the reports out of the hub's database ----------------------------------------
class ReportReader:
    """Arrow batches of stored report events, straight from the database through ADBC.

    PostgreSQL is read in this process. SQLite is read by a child process: the ADBC driver
    carries its own copy of SQLite, and two copies in one process do not see each other's
    POSIX locks, so closing one would delete the WAL under the hub's own open connections.
    """

    def __init__(self, db_url: str) -> None:
        url = make_url(db_url)
        self.dialect = url.get_backend_name()
        self.path = url.database or ":memory:"
        self._plain = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            import adbc_driver_sqlite.dbapi as sqlite

            return sqlite.connect(self.path)
        import adbc_driver_postgresql.dbapi as pg

        return pg.connect(self._plain)

    def raw(self, period: str) -> Iterator[tuple[str, str, pl.DataFrame]]:
        """(visit region, side, rows as stored) in region order, visit before home."""

        def mark(i: int) -> str:
            return "?" if self.dialect == "sqlite" else f"${i}"

        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(
                f"SELECT DISTINCT visit_region FROM report_events WHERE period = {mark(1)}",
                [period],
            )
            regions = sorted(str(r[0]) for r in cur.fetchall())
            query = (
                f"SELECT {', '.join(COLUMNS)} FROM report_events WHERE period = {mark(1)}"
                f" AND side = {mark(2)} AND visit_region = {mark(3)}"
            )
            for region in regions:
                for side in ("visit", "home"):
                    cur.execute(query, [period, side, region])
                    frame = pl.from_arrow(cur.fetch_arrow_table())
                    assert isinstance(frame, pl.DataFrame)
                    yield region, side, frame

    def frames(self, period: str) -> Iterator[tuple[str, pl.DataFrame, pl.DataFrame]]:
        """(visit region, visit view, home view) for every visit region with events."""
        source = self._from_child(period) if self.dialect == "sqlite" else self.raw(period)
        views: dict[str, pl.DataFrame] = {}
        for region, side, frame in source:
            views[side] = _typed(frame)
            if side == "home":
                yield region, views["visit"], views["home"]

    def _from_child(self, period: str) -> Iterator[tuple[str, str, pl.DataFrame]]:
        command = [sys.executable, "-m", "tongban.adapters.columnar", self.path, period]
        with subprocess.Popen(command, stdout=subprocess.PIPE) as child:
            assert child.stdout is not None
            while head := child.stdout.read(_HEAD):
                size = int.from_bytes(head[:8], "big")
                region, side = head[8:14].decode(), head[14:].decode().strip()
                yield region, side, pl.read_ipc_stream(io.BytesIO(child.stdout.read(size)))
        if child.returncode != 0:
            raise RuntimeError(f"reading {self.path} failed in the child (exit {child.returncode})")


_HEAD = 8 + 6 + 5  # payload length, visit region, side


def _export(path: str, period: str) -> None:
    """The child's side of ``ReportReader._from_child``: framed Arrow IPC on stdout."""
    out = sys.stdout.buffer
    for region, side, frame in ReportReader(f"sqlite:///{path}").raw(period):
        buffer = io.BytesIO()
        frame.write_ipc_stream(buffer)
        data = buffer.getvalue()
        out.write(len(data).to_bytes(8, "big") + region.encode() + side.ljust(5).encode())
        out.write(data)
    out.flush()


def _typed(frame: pl.DataFrame | pl.Series) -> pl.DataFrame:
    assert isinstance(frame, pl.DataFrame)
    if frame.is_empty():
        return pl.DataFrame(schema=SCHEMA)
    occurred = pl.col("occurred_at")
    if frame.schema["occurred_at"] == pl.String:  # SQLite keeps moments as text (UTC)
        occurred = occurred.str.to_datetime(time_zone="UTC")
    elif getattr(frame.schema["occurred_at"], "time_zone", None) is None:
        occurred = occurred.dt.replace_time_zone("UTC")
    else:
        occurred = occurred.dt.convert_time_zone("UTC")
    return frame.with_columns(
        occurred.cast(pl.Datetime("us", "UTC")),
        *(pl.col(c).cast(pl.Int64) for c in ("medfee_sumamt", "hifp_pay", "acct_pay")),
    ).select(COLUMNS)


def match_stored(db_url: str, period: str) -> MatchResult:
    """Match a period's stored reports region by region."""
    total = ColumnarMatch()
    for _region, visit, home in ReportReader(db_url).frames(period):
        total.add(match_frames(visit, home))
    return MatchResult(total.matched, tuple(total.obligations), tuple(total.exceptions))


if __name__ == "__main__":  # python -m tongban.adapters.columnar DB_PATH PERIOD
    _export(sys.argv[1], sys.argv[2])
