"""Reading the hub's stored period reports as Arrow, straight from the database (ADBC).

PostgreSQL is read in the calling process (COPY, through ADBC). SQLite is read in a child
process: the ADBC driver carries its own copy of SQLite, and two copies in one process do not
see each other's POSIX locks, so closing one would delete the WAL under the hub's own open
connections. The columns and their types are defined here, once, for the matching engine.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import polars as pl
from sqlalchemy.engine import make_url

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


# --- reading the reports out of the hub's database ----------------------------------------
class ReportReader:
    """Arrow batches of stored report events, straight from the database through ADBC.

    It reads in the calling process, whatever the database: on SQLite, only from a process
    that has no other SQLite connection to the file (the child ``match_stored`` starts), as
    the ADBC driver carries its own copy of SQLite, and two copies in one process do not see
    each other's POSIX locks, so closing one would delete the WAL under the hub's own open
    connections.
    """

    def __init__(self, db_url: str) -> None:
        url = make_url(db_url)
        self.dialect = url.get_backend_name()
        self.path = url.database or ":memory:"
        self._plain = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            import adbc_driver_sqlite.dbapi as sqlite

            conn = sqlite.connect(self.path)
            # Two readers opening the WAL at once may find it busy for a moment: wait, as the
            # hub's own connections do, instead of failing with "database is locked".
            with conn.cursor() as cur:
                cur.execute("PRAGMA busy_timeout = 30000")
                cur.fetchall()
            return conn
        import adbc_driver_postgresql.dbapi as pg

        return pg.connect(self._plain)

    def _mark(self, i: int) -> str:
        return "?" if self.dialect == "sqlite" else f"${i}"

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
