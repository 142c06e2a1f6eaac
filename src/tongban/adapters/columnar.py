"""The columnar matching engine (Polars over Arrow): the hub's clearing at national scale.

A month of cross-region traffic is tens of millions of events per side. Row at a time in
Python that is minutes of object churn; as columns it is one hash join and one group-by. The
reports are read from the hub's database through ADBC (Arrow straight from SQLite or
PostgreSQL, no Python row objects) one visit region at a time, so memory is bounded by the
largest regions, not the month. ``tongban.domain.clearing.match_events`` is the reference this
engine must agree with (the tests check it on random histories).

What makes a month fast (bench/bench_clearing.py measures it): reading is most of the work, so
``match_stored`` reads only the columns the comparison needs (not the moments, which only the
few exceptions need and which are fetched for them afterwards by key), reads a region's two
views at once on two connections while the region before is being matched, asks PostgreSQL
with inline literals so that ADBC can use COPY, and finds the regions by index seeks instead
of a DISTINCT over the month.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
# What match_stored reads of each region's views: one region per query (no visit_region), and
# no moments (they take no part in the comparison).
COMPARED = ["settlement_id", "event", *VALUES]
AMOUNTS = ("medfee_sumamt", "hifp_pay", "acct_pay")
SIDES = ("visit", "home")
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
# Few distinct values: as Categorical the join compares integers and holds a third of the bytes.
LOW_CARDINALITY = ("event", "home_region", "institution_code")
_PLAIN = re.compile(r"[0-9A-Za-z_-]{1,64}")  # safe to inline as a SQL string literal
_IN_CHUNK = 500  # settlement ids per query when fetching the exceptions' moments
# Rows per Arrow batch from SQLite (the driver's default is 1,024): a big region then comes in
# a few large buffers instead of thousands of small ones that malloc keeps after they are freed.
_SQLITE_BATCH_ROWS = 262_144


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


def _compare(
    visit: pl.DataFrame, home: pl.DataFrame, key: list[str], extra: Sequence[str] = ()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Full outer join on ``key``: (sums of the agreed pairs by pair of regions, the rest).

    The rest ("odd") has the key, each side's values (the home view's with a ``_home`` suffix,
    null where that view lacks the event) and the ``extra`` columns, sorted by the key. Lazy,
    so the joined rows are only built for the columns each result needs.
    """
    columns = [*key, *VALUES, *extra]
    joined = (
        visit.lazy()
        .select(columns)
        .join(home.lazy().select(columns), on=key, how="full", coalesce=True, suffix="_home")
    )
    in_visit = pl.col("home_region").is_not_null()
    in_home = pl.col("home_region_home").is_not_null()
    same = pl.all_horizontal([pl.col(c).eq(pl.col(f"{c}_home")) for c in VALUES])
    agreed = (in_visit & in_home & same).fill_null(False)
    sign = pl.when(pl.col("event") == EventKind.SETTLE.value).then(1).otherwise(-1)
    pair = [c for c in ("home_region", "visit_region") if c in columns]
    sums = (
        joined.filter(agreed)
        .group_by(pair)
        .agg(
            sign.sum().alias("events"),
            *((sign * pl.col(c)).sum().alias(c) for c in AMOUNTS),
            pl.len().alias("rows"),
        )
        .sort(pair)
    )
    odd = joined.filter(~agreed).sort(key)
    collected = pl.collect_all([sums, odd])
    return collected[0], collected[1]


def _obligations(sums: pl.DataFrame, visit_region: str | None = None) -> list[Obligation]:
    return [
        Obligation(
            r["home_region"],
            visit_region or r["visit_region"],
            int(r["events"]),
            int(r["medfee_sumamt"]),
            int(r["hifp_pay"]),
            int(r["acct_pay"]),
        )
        for r in sums.iter_rows(named=True)
    ]


def match_frames(visit: pl.DataFrame, home: pl.DataFrame) -> ColumnarMatch:
    """Full outer join on the key; equal pairs are summed into obligations, the rest returned."""
    sums, odd = _compare(visit, home, KEY, ["occurred_at"])
    result = ColumnarMatch(matched=int(sums["rows"].sum() or 0))
    result.obligations = _obligations(sums)
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

    ``frames`` reads PostgreSQL in this process and SQLite in a child process: the ADBC driver
    carries its own copy of SQLite, and two copies in one process do not see each other's
    POSIX locks, so closing one would delete the WAL under the hub's own open connections.
    ``regions``, ``views`` and ``moments`` read in this process, whatever the database: on
    SQLite, only from a process that has no other SQLite connection to the file (the child
    ``match_stored`` starts).
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

    def _mark(self, i: int) -> str:
        return "?" if self.dialect == "sqlite" else f"${i}"

    def raw(self, period: str) -> Iterator[tuple[str, str, pl.DataFrame]]:
        """(visit region, side, rows as stored) in region order, visit before home."""
        mark = self._mark
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
                for side in SIDES:
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
        command = [sys.executable, "-m", "tongban.adapters.columnar", "export", self.path, period]
        with subprocess.Popen(command, stdout=subprocess.PIPE) as child:
            assert child.stdout is not None
            while head := child.stdout.read(_HEAD):
                size = int.from_bytes(head[:8], "big")
                region, side = head[8:14].decode(), head[14:].decode().strip()
                yield region, side, pl.read_ipc_stream(io.BytesIO(child.stdout.read(size)))
        if child.returncode != 0:
            raise RuntimeError(f"reading {self.path} failed in the child (exit {child.returncode})")

    # --- what match_stored reads ----------------------------------------------------------
    def regions(self, period: str) -> list[str]:
        """The visit regions either view has events of: one index seek per region and side
        (the key starts with period, side, visit region), not a scan of the month."""
        mark, found = self._mark, set()
        query = (
            f"SELECT visit_region FROM report_events WHERE period = {mark(1)} AND side = {mark(2)}"
            f" AND visit_region > {mark(3)} ORDER BY visit_region LIMIT 1"
        )
        with self._connect() as conn, conn.cursor() as cur:
            for side in SIDES:
                last = ""
                while True:
                    cur.execute(query, [period, side, last])
                    row = cur.fetchone()
                    if row is None:
                        break
                    last = str(row[0])
                    found.add(last)
        return sorted(found)

    def view(
        self, conn: Any, period: str, side: str, region: str, columns: Sequence[str] = COMPARED
    ) -> pl.DataFrame:
        """One view of one visit region: ``columns`` of its events, typed; the low-cardinality
        strings (event, home region, institution) as Categorical."""
        values = [period, side, region]
        where = "period = {} AND side = {} AND visit_region = {}"
        if self.dialect != "sqlite" and all(_PLAIN.fullmatch(v) for v in values):
            # Literals, not parameters: ADBC streams a parameterless query with COPY (binary),
            # about a third faster than a prepared statement's result.
            query = f"SELECT {', '.join(columns)} FROM report_events WHERE " + where.format(
                *(f"'{v}'" for v in values)
            )
            params: list[str] | None = None
        else:
            marks = [self._mark(i) for i in (1, 2, 3)]
            query = f"SELECT {', '.join(columns)} FROM report_events WHERE " + where.format(*marks)
            params = values
        with conn.cursor() as cur:
            if self.dialect == "sqlite":
                from adbc_driver_sqlite import StatementOptions

                options = {StatementOptions.BATCH_ROWS.value: str(_SQLITE_BATCH_ROWS)}
                cur.adbc_statement.set_options(**options)
            if params is None:
                cur.execute(query)
            else:
                cur.execute(query, params)
            frame = pl.from_arrow(cur.fetch_arrow_table())
        low = [c for c in LOW_CARDINALITY if c in columns]
        return _typed(frame, columns).with_columns(pl.col(low).cast(pl.Categorical))

    def views(
        self, period: str, columns: Sequence[str] = COMPARED
    ) -> Iterator[tuple[str, pl.DataFrame, pl.DataFrame]]:
        """(visit region, visit view, home view) of every visit region, in region order.

        Two threads, each with its own connection, read a region's two views at once, and the
        next region's while the caller works on this one: at most two regions in memory.
        """
        local, opened, lock = threading.local(), [], threading.Lock()

        def read(side: str, region: str) -> pl.DataFrame:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = self._connect()
                with lock:
                    opened.append(conn)
            return self.view(conn, period, side, region, columns)

        pool = ThreadPoolExecutor(2, thread_name_prefix="tongban-report")
        try:
            ahead: deque[tuple[str, Future[pl.DataFrame], Future[pl.DataFrame]]] = deque()
            for region in self.regions(period):
                visit_view = pool.submit(read, "visit", region)
                ahead.append((region, visit_view, pool.submit(read, "home", region)))
                if len(ahead) > 1:
                    region_, visit, home = ahead.popleft()
                    yield region_, visit.result(), home.result()
            while ahead:
                region_, visit, home = ahead.popleft()
                yield region_, visit.result(), home.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for conn in opened:
                conn.close()

    def moments(
        self, conn: Any, period: str, side: str, region: str, ids: Sequence[str]
    ) -> pl.DataFrame:
        """(settlement_id, event, occurred_at) of these settlements in one view of a region."""
        mark = self._mark
        parts = [pl.DataFrame(schema={c: SCHEMA[c] for c in [*KEY[1:], "occurred_at"]})]
        unique = sorted(set(ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ", ".join(mark(i) for i in range(4, 4 + len(chunk)))
            query = (
                "SELECT settlement_id, event, occurred_at FROM report_events"
                f" WHERE period = {mark(1)} AND side = {mark(2)} AND visit_region = {mark(3)}"
                f" AND settlement_id IN ({marks})"
            )
            with conn.cursor() as cur:
                cur.execute(query, [period, side, region, *chunk])
                parts.append(_typed(pl.from_arrow(cur.fetch_arrow_table()), parts[0].columns))
        return pl.concat(parts)


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


def _typed(frame: pl.DataFrame | pl.Series, columns: Sequence[str] = COLUMNS) -> pl.DataFrame:
    assert isinstance(frame, pl.DataFrame)
    if frame.is_empty():
        return pl.DataFrame(schema={c: SCHEMA[c] for c in columns})
    casts = [pl.col(c).cast(pl.Int64) for c in AMOUNTS if c in columns]
    if "occurred_at" in columns:
        occurred = pl.col("occurred_at")
        if frame.schema["occurred_at"] == pl.String:  # SQLite keeps moments as text (UTC)
            occurred = occurred.str.to_datetime(time_zone="UTC")
        elif getattr(frame.schema["occurred_at"], "time_zone", None) is None:
            occurred = occurred.dt.replace_time_zone("UTC")
        else:
            occurred = occurred.dt.convert_time_zone("UTC")
        casts.append(occurred.cast(pl.Datetime("us", "UTC")))
    return frame.with_columns(casts).select(columns)


# --- the hub's clearing -------------------------------------------------------------------
def match_stored(db_url: str, period: str) -> MatchResult:
    """Match a period's stored reports region by region.

    On SQLite the whole match runs in a child process (see ``ReportReader``) and only its
    result comes back; on PostgreSQL it runs here.
    """
    reader = ReportReader(db_url)
    if reader.dialect == "sqlite":
        return _match_in_child(reader.path, period)
    return _match(reader, period)


def _match(reader: ReportReader, period: str) -> MatchResult:
    matched, obligations, exceptions = 0, [], []
    conn = reader._connect()  # for the exceptions' moments, between the reader threads' reads
    try:
        for region, visit, home in reader.views(period, COMPARED):
            sums, odd = _compare(visit, home, KEY[1:])
            del visit, home
            matched += int(sums["rows"].sum() or 0)
            obligations += _obligations(sums, region)
            if not odd.is_empty():
                exceptions += _odd_events(reader, conn, period, region, odd)
    finally:
        conn.close()
    return MatchResult(matched, tuple(merge_obligations(obligations)), tuple(exceptions))


def _odd_events(
    reader: ReportReader, conn: Any, period: str, region: str, odd: pl.DataFrame
) -> list[MatchException]:
    """A region's unmatched or differing events as exceptions, with their moments."""
    odd = odd.with_columns(pl.col(pl.Categorical).cast(pl.String), visit_region=pl.lit(region))
    for side, suffix in (("visit", ""), ("home", "_home")):
        present = odd.filter(pl.col(f"home_region{suffix}").is_not_null())
        ids = present["settlement_id"].to_list()
        moments = reader.moments(conn, period, side, region, ids).rename(
            {"occurred_at": f"occurred_at{suffix}"}
        )
        odd = odd.join(moments, on=KEY[1:], how="left", maintain_order="left")
    return [_exception(r) for r in odd.iter_rows(named=True)]


def _match_in_child(path: str, period: str) -> MatchResult:
    command = [sys.executable, "-m", "tongban.adapters.columnar", "match", path, period]
    done = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"matching {path} failed in the child (exit {done.returncode})")
    return _result_from_json(json.loads(done.stdout))


def _event_json(e: SettlementEvent | None) -> list[Any] | None:
    if e is None:
        return None
    return [
        e.visit_region,
        e.settlement_id,
        e.event.value,
        e.home_region,
        e.institution_code,
        e.occurred_at.astimezone(UTC).isoformat(),
        e.medfee_sumamt,
        e.hifp_pay,
        e.acct_pay,
    ]


def _result_to_json(result: MatchResult) -> dict[str, Any]:
    return {
        "matched": result.matched,
        "obligations": [
            [o.home_region, o.visit_region, o.events, o.medfee_sumamt, o.hifp_pay, o.acct_pay]
            for o in result.obligations
        ],
        "exceptions": [
            [x.kind.value, _event_json(x.visit), _event_json(x.home)] for x in result.exceptions
        ],
    }


def _event_from_json(data: list[Any] | None) -> SettlementEvent | None:
    if data is None:
        return None
    region, sid, event, home, institution, at, medfee, hifp, acct = data
    moment = datetime.fromisoformat(at)
    return SettlementEvent(
        region, sid, EventKind(event), home, institution, moment, medfee, hifp, acct
    )


def _result_from_json(data: dict[str, Any]) -> MatchResult:
    return MatchResult(
        int(data["matched"]),
        tuple(Obligation(*o) for o in data["obligations"]),
        tuple(
            MatchException(ExceptionKind(k), _event_from_json(v), _event_from_json(h))
            for k, v, h in data["exceptions"]
        ),
    )


def _main(argv: list[str]) -> None:
    command, path, period = argv
    if command == "export":
        _export(path, period)
    elif command == "match":
        result = _match(ReportReader(f"sqlite:///{path}"), period)
        sys.stdout.write(json.dumps(_result_to_json(result)))
        sys.stdout.flush()
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":  # python -m tongban.adapters.columnar export|match DB_PATH PERIOD
    _main(sys.argv[1:])
