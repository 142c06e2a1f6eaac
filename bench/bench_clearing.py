"""Benchmark: match and clear one month of settlement events (10 million per side), 41 regions.

A month is generated (seeded, deterministic) with the skew of real cross-region traffic, both
views of every event (the visit node's and the home node's) with a few injected exceptions the
generator knows exactly. The views are loaded into a hub database, on SQLite and on PostgreSQL
(a throw-away database), and the hub's clearing — ``tongban.adapters.columnar.match_stored``
followed by ``net_positions`` — runs on each store in a fresh child process: wall time and the
child's peak RSS. Every result is checked against what the generator injected (matched count,
each exception with both views, obligations of every pair, net positions, Σ net = 0). Side by
side, in the same run: the engine's stages and its reads alone, optionally the engine as of an
earlier revision (``--before REV``), the row-at-a-time reference ``match_events`` on a subset
of regions (about 1 million events, extrapolated), the same match as one SQL statement inside
PostgreSQL, and DuckDB joining the same reads. Nothing is asserted; see bench/README.md.

    .venv/bin/python bench/bench_clearing.py [--events 10000000] [--stores sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
from rich.table import Table

from machine import console, print_machine

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PERIOD = "2025-06"
AIM_SECONDS, AIM_BYTES = 60.0, 4 * 2**30  # the aim on this machine, reported only
CANCEL_SHARE = 0.03  # of all events; most cancel a settlement of the same month
CANCEL_IN_MONTH = 0.8  # the rest cancel a settlement of an earlier month (one row only)
INPATIENT_SHARE = 0.05
ACCOUNT_SHARE = 0.4  # settlements that also draw on the personal account
VISIT_ONLY, HOME_ONLY, DIFFERS = "VISIT_ONLY", "HOME_ONLY", "DIFFERS"
KINDS = (VISIT_ONLY, HOME_ONLY, DIFFERS)
STORE_COLUMNS = (
    "visit_region",
    "settlement_id",
    "event",
    "home_region",
    "institution_code",
    "occurred_at",
    "medfee_sumamt",
    "hifp_pay",
    "acct_pay",
)

# Who treats whom: Shanghai receives about a third of the YRD's cross-region patients, the
# provincial capitals and Suzhou/Ningbo much of the rest (weights of the visit region); the
# insured travel most from Anhui and northern Jiangsu, and many Shanghai insured (retirees)
# live elsewhere in the delta (weights of the home region, by province).
VISIT_WEIGHTS = {"310000": 30.0, "330100": 8.0, "320100": 7.0, "340100": 4.0, "320500": 4.0}
VISIT_WEIGHTS |= {"330200": 2.5}
HOME_WEIGHTS = {"31": 6.0, "32": 1.5, "33": 1.2, "34": 2.0}


# --- the month, generated ---------------------------------------------------------------------
View = tuple[str, str, str, int, int, int]  # home, institution, occurred_at (UTC), amounts
Key = tuple[str, str, str]  # visit region, settlement id, event


@dataclass
class Expected:
    """What the generator put in, so a clearing's result can be checked exactly."""

    matched: int
    exceptions: dict[Key, tuple[str, View | None, View | None]]
    obligations: list[tuple[str, str, int, int, int, int]]  # home, visit, events, amounts
    visit_counts: dict[str, int]  # events in the visit view by visit region

    def net(self) -> dict[str, int]:
        """Net positions from the obligations, computed here (not by ``net_positions``)."""
        net: dict[str, int] = defaultdict(int)
        for home, visit, _events, _medfee, hifp, acct in self.obligations:
            net[visit] += hifp + acct
            net[home] -= hifp + acct
        return dict(sorted(net.items()))

    def subset(self, regions: set[str]) -> Expected:
        """What a clearing of these visit regions only must give."""
        exceptions = {k: v for k, v in self.exceptions.items() if k[0] in regions}
        obligations = [o for o in self.obligations if o[1] in regions]
        matched = sum(n for r, n in self.visit_counts.items() if r in regions)
        matched -= sum(kind != HOME_ONLY for kind, _v, _h in exceptions.values())
        counts = {r: n for r, n in self.visit_counts.items() if r in regions}
        return Expected(matched, exceptions, obligations, counts)


@dataclass
class Month:
    period: str
    events: int  # events of the month (before the injected exceptions), per side
    visit: pl.DataFrame  # the visit nodes' reports, each in the order the hub stores it
    home: pl.DataFrame  # the home nodes' reports
    expected: Expected
    kinds: Counter[str] = field(default_factory=Counter)


class Draws:
    """Uniform numbers in [0, 1) from Python's seeded Mersenne Twister, 32 bits each, as
    columns: the same month on every (little-endian) machine and version, fast, no numpy."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def uniform(self, n: int) -> pl.Series:
        raw = pa.Array.from_buffers(pa.uint32(), n, [None, pa.py_buffer(self.rng.randbytes(4 * n))])
        series = pl.from_arrow(raw)
        assert isinstance(series, pl.Series)
        return series.cast(pl.Float64) / 2.0**32

    def hex_ids(self, n: int) -> pl.Series:
        """Settlement ids like ``uuid4().hex``: 32 hex digits of 16 random bytes."""
        raw = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(16), n, [None, pa.py_buffer(self.rng.randbytes(16 * n))]
        )
        series = pl.from_arrow(raw)
        assert isinstance(series, pl.Series)
        return series.cast(pl.Binary).bin.encode("hex")


def choose(u: pl.Series, weights: Sequence[float]) -> pl.Series:
    """Indices drawn with these weights, one per uniform number."""
    total, running, bounds = sum(weights), 0.0, []
    for w in weights:
        running += w
        bounds.append(running / total)
    bounds[-1] = 1.0
    index = pl.Series(bounds).search_sorted(u, side="right")
    return index.clip(upper_bound=len(weights) - 1).cast(pl.Int64)


def region_weights() -> tuple[list[str], list[float], list[float]]:
    from tongban.domain.regions import yrd_regions

    codes = [r.code for r in yrd_regions()]
    visit = [VISIT_WEIGHTS.get(c, 1.0) for c in codes]
    home = [HOME_WEIGHTS[c[:2]] for c in codes]
    return codes, visit, home


def settlements(draws: Draws, n: int, start_us: int, span_us: int) -> pl.DataFrame:
    """n settlements: parties, institution, moment and amounts (fen, fund + account ≤ fee)."""
    codes, visit_w, home_w = region_weights()
    visit = choose(draws.uniform(n), visit_w)
    home = choose(draws.uniform(n), home_w)
    # Patients are treated outside their home region: a home drawn equal to the visit region
    # moves to one of the other 40, uniformly.
    shift = (draws.uniform(n) * (len(codes) - 1)).floor().cast(pl.Int64) + 1
    elsewhere = pl.select(
        pl.when(home == visit).then((visit + shift) % len(codes)).otherwise(home)
    ).to_series()
    names = pl.Series(codes)
    frame = pl.DataFrame(
        {
            "settlement_id": draws.hex_ids(n),
            "visit_region": names.gather(visit),
            "home_region": names.gather(elsewhere),
            "district": (draws.uniform(n) * 12).floor().cast(pl.Int64) + 1,
            "hospital": (draws.uniform(n) ** 3 * 300).floor().cast(pl.Int64) + 1,  # big ones
            "at": (draws.uniform(n) * span_us).floor().cast(pl.Int64) + start_us,
            "inpatient": draws.uniform(n) < INPATIENT_SHARE,
            "u1": draws.uniform(n),
            "u2": draws.uniform(n),
            "ratio": draws.uniform(n),
            "account": draws.uniform(n),
            "share": draws.uniform(n),
        }
    )
    # Fees are log-normal (Box-Muller): outpatient median 300 yuan, inpatient 15,000 yuan.
    normal = (-2 * (1 - pl.col("u1")).log()).sqrt() * (2 * math.pi * pl.col("u2")).cos()
    inpatient = pl.col("inpatient")
    mu = pl.when(inpatient).then(math.log(1_500_000)).otherwise(math.log(30_000))
    sigma = pl.when(inpatient).then(0.7).otherwise(0.8)
    medfee = (mu + sigma * normal).exp().round().clip(100, 50_000_000).cast(pl.Int64)
    low = pl.when(inpatient).then(0.6).otherwise(0.5)
    hifp = (pl.col("medfee_sumamt") * (low + 0.25 * pl.col("ratio"))).floor().cast(pl.Int64)
    rest = pl.col("medfee_sumamt") - pl.col("hifp_pay")
    acct = pl.when(pl.col("account") < ACCOUNT_SHARE).then((rest * pl.col("share")).floor())
    institution = pl.concat_str(
        pl.col("visit_region").str.slice(0, 4),
        pl.col("district").cast(pl.String).str.zfill(2),
        pl.col("hospital").cast(pl.String).str.zfill(3),
    )
    return (
        frame.with_columns(medfee.alias("medfee_sumamt"), institution.alias("institution_code"))
        .with_columns(hifp.alias("hifp_pay"))
        .with_columns(acct.otherwise(0).cast(pl.Int64).alias("acct_pay"))
        .select(
            "settlement_id",
            "visit_region",
            "home_region",
            "institution_code",
            "at",
            "medfee_sumamt",
            "hifp_pay",
            "acct_pay",
        )
    )


def generate(events: int, seed: int, exception_rate: float, period: str) -> Month:
    """One month of ``events`` events per side, both views, with exceptions injected."""
    from tongban.domain.clearing import Period

    month = Period.parse(period)
    start_us = round(month.starts_at.timestamp()) * 1_000_000
    span_us = round((month.ends_at - month.starts_at).total_seconds()) * 1_000_000
    end_us = start_us + span_us
    draws = Draws(seed)
    cancels = round(events * CANCEL_SHARE)
    in_month = round(cancels * CANCEL_IN_MONTH)
    settles = events - cancels
    base = settlements(draws, settles + cancels - in_month, start_us, span_us)
    settled, earlier = base.slice(0, settles), base.slice(settles)  # earlier: cancel only
    later = (pl.col("at") + 1 + (end_us - 1 - pl.col("at")) * pl.col("u")).floor()
    cancelled = (
        settled.with_columns(u=draws.uniform(settles))
        .sort("u")
        .head(in_month)
        .with_columns(u=draws.uniform(in_month))
        .with_columns(at=later.cast(pl.Int64).clip(upper_bound=end_us - 1))
        .drop("u")
    )
    every = pl.concat(
        [
            settled.with_columns(event=pl.lit("settle")),
            cancelled.with_columns(event=pl.lit("cancel")),
            earlier.with_columns(event=pl.lit("cancel")),
        ]
    ).with_row_index("row")
    assert every.height == events

    # Exceptions: a few events missing from one view, or with a different fund share.
    count = 0 if exception_rate <= 0 else min(events, max(3, round(events * exception_rate)))
    chosen = (
        every.select("row", u=draws.uniform(events))
        .sort("u")
        .head(count)
        .with_columns(
            kind=pl.Series([KINDS[i % 3] for i in range(count)], dtype=pl.String),
            delta=(draws.uniform(count) * 99).floor().cast(pl.Int64) + 1,
        )
        .drop("u")
    )
    every = every.join(chosen, on="row", how="left")
    kind = pl.col("kind")
    sign = pl.when(pl.col("event") == "settle").then(1).otherwise(-1)
    moment = pl.col("at").cast(pl.Datetime("us", "UTC")).alias("occurred_at")
    # Each view in the order the hub stores it: a node's report is pulled page by page, settles
    # then cancels, each by settlement id (ClearingHub._pull), and stored as it came.
    order = [pl.col("event") != "settle", "settlement_id"]
    visit = (
        every.filter(kind.is_null() | (kind != HOME_ONLY))
        .with_columns(moment)
        .select(STORE_COLUMNS)
        .sort("visit_region", *order)
    )
    differs = pl.when(kind == DIFFERS).then(pl.col("hifp_pay") - pl.col("delta"))
    home = (
        every.filter(kind.is_null() | (kind != VISIT_ONLY))
        .with_columns(moment, differs.otherwise(pl.col("hifp_pay")).clip(0).alias("hifp_pay"))
        .select(STORE_COLUMNS)
        .sort("home_region", *order)
    )

    obligations = (
        every.filter(kind.is_null())
        .group_by("home_region", "visit_region")
        .agg(
            sign.sum().alias("events"),
            *((sign * pl.col(c)).sum().alias(c) for c in ("medfee_sumamt", "hifp_pay", "acct_pay")),
        )
        .sort("home_region", "visit_region")
    )
    exceptions: dict[Key, tuple[str, View | None, View | None]] = {}
    text = pl.col("at").cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%S%.6f")
    for r in every.filter(kind.is_not_null()).with_columns(text.alias("at")).iter_rows(named=True):
        view: View = (
            r["home_region"],
            r["institution_code"],
            r["at"],
            r["medfee_sumamt"],
            r["hifp_pay"],
            r["acct_pay"],
        )
        changed: View = (*view[:4], max(0, r["hifp_pay"] - r["delta"]), view[5])
        seen = {
            VISIT_ONLY: (view, None),
            HOME_ONLY: (None, view),
            DIFFERS: (view, changed),
        }[r["kind"]]
        exceptions[(r["visit_region"], r["settlement_id"], r["event"])] = (r["kind"], *seen)
    counts = visit.group_by("visit_region").len()
    expected = Expected(
        matched=events - count,
        exceptions=exceptions,
        obligations=[tuple(r) for r in obligations.iter_rows()],
        visit_counts=dict(counts.iter_rows()),
    )
    kinds = Counter(kind for kind, _v, _h in exceptions.values())
    return Month(period, events, visit, home, expected, kinds)


# --- loading the reports into a hub database (not measured) ---------------------------------
INSERT_COLUMNS = ("period", "side", *STORE_COLUMNS)


def reports(month: Month, moment_format: str, chunk: int) -> Iterator[pl.DataFrame]:
    """The rows as the hub stores them (``ClearingHub.clear``): region by region, the region's
    visit report then its home report, in chunks; moments as text in ``moment_format``."""
    views = {
        side: frame.partition_by(column, as_dict=True, maintain_order=True)
        for side, frame, column in (
            ("visit", month.visit, "visit_region"),
            ("home", month.home, "home_region"),
        )
    }
    for region in sorted({k[0] for parts in views.values() for k in parts}):
        for side, parts in views.items():
            part = parts.get((region,))
            if part is None:
                continue
            rows = part.select(
                pl.lit(month.period).alias("period"),
                pl.lit(side).alias("side"),
                *STORE_COLUMNS[:5],
                pl.col("occurred_at").dt.strftime(moment_format),
                *STORE_COLUMNS[6:],
            )
            yield from rows.iter_slices(chunk)


def load_sqlite(path: Path, month: Month) -> str:
    """A fresh hub database (migrations), then both views in one transaction."""
    from tongban.adapters.storage.database import sqlite_url
    from tongban.adapters.storage.hub_store import open_hub_store

    url = sqlite_url(path)
    open_hub_store(url).db.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # a throw-away file: no journal while loading
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-3000000")  # the key index fits: inserts stay in memory
        marks = ", ".join("?" * len(INSERT_COLUMNS))
        insert = f"INSERT INTO report_events ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})"
        conn.execute("BEGIN")
        # SQLAlchemy's SQLite format for DateTime (UTC): what the hub itself writes.
        for chunk in reports(month, "%Y-%m-%d %H:%M:%S%.6f", 200_000):
            conn.executemany(insert, chunk.iter_rows())
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")  # as the hub runs it
    finally:
        conn.close()
    return url


class PgServer:
    """The PostgreSQL server of --pg-url: a throw-away database, created and dropped."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import make_url

        self.url = make_url(url)
        self.created: list[str] = []

    def dsn(self, database: str | None = None) -> str:
        target = self.url.set(drivername="postgresql", database=database or self.url.database)
        return target.render_as_string(hide_password=False)

    def url_of(self, database: str) -> str:
        target = self.url.set(drivername="postgresql+psycopg", database=database)
        return target.render_as_string(hide_password=False)

    def connect(self, database: str | None = None) -> Any:
        import psycopg

        return psycopg.connect(self.dsn(database), autocommit=True, connect_timeout=5)

    def settings(self) -> str:
        names = ("server_version", "shared_buffers", "work_mem", "max_parallel_workers_per_gather")
        with self.connect() as conn:
            return ", ".join(f"{n}={conn.execute(f'SHOW {n}').fetchone()[0]}" for n in names)

    def create(self, database: str) -> None:
        self.created.append(database)
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{database}"')

    def drop_all(self) -> None:
        with self.connect() as conn:
            for database in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self.created.clear()


def load_postgres(server: PgServer, database: str, month: Month) -> str:
    """Migrations, then in one transaction: the primary key dropped, COPY of both views, the
    same primary key added back (one sorted build instead of 20 million index inserts); then
    VACUUM ANALYZE (so the first reader neither sets hint bits nor plans without statistics)
    and a checkpoint."""
    from tongban.adapters.storage.hub_store import open_hub_store

    url = server.url_of(database)
    open_hub_store(url).db.dispose()
    copy_sql = f"COPY report_events ({', '.join(INSERT_COLUMNS)}) FROM STDIN (FORMAT csv)"
    with server.connect(database) as conn:
        row = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'report_events'::regclass AND contype = 'p'"
        ).fetchone()
        with conn.transaction():
            conn.execute(f'ALTER TABLE report_events DROP CONSTRAINT "{row[0]}"')
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for chunk in reports(month, "%Y-%m-%d %H:%M:%S%.6f+00", 500_000):
                    copy.write(chunk.write_csv(include_header=False))
            conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
            conn.execute(f'ALTER TABLE report_events ADD CONSTRAINT "{row[0]}" {row[1]}')
        conn.execute("VACUUM (ANALYZE) report_events")
        conn.execute("CHECKPOINT")
    return url


# --- the measured clearings, each in a fresh child process ------------------------------------
def view_of(event: Any) -> View | None:
    """A SettlementEvent as the generator writes it (None stays None)."""
    if event is None:
        return None
    from datetime import UTC

    at = event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (
        event.home_region,
        event.institution_code,
        at,
        event.medfee_sumamt,
        event.hifp_pay,
        event.acct_pay,
    )


def outcome(result: Any, net: dict[str, int]) -> dict[str, Any]:
    """A MatchResult and its net positions as JSON for the parent to check."""
    return {
        "matched": result.matched,
        "obligations": [
            [o.home_region, o.visit_region, o.events, o.medfee_sumamt, o.hifp_pay, o.acct_pay]
            for o in result.obligations
        ],
        "exceptions": [
            [e.kind.value, *e.key, view_of(e.visit), view_of(e.home)] for e in result.exceptions
        ],
        "net": net,
    }


def rss_kb() -> int:
    """Resident set size of this process now (kB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child_polars(url: str, period: str, _args: argparse.Namespace) -> dict[str, Any]:
    """The production clearing: ``match_stored`` then ``net_positions``."""
    from tongban.adapters import columnar
    from tongban.domain.clearing import net_positions

    before, started = rss_kb(), time.perf_counter()
    result = columnar.match_stored(url, period)
    net = net_positions(result.obligations)
    wall = time.perf_counter() - started
    engine = str(Path(columnar.__file__).resolve())
    return {"wall": wall, "rss_before_kb": before, "engine": engine, **outcome(result, net)}


def child_stages(url: str, period: str, _args: argparse.Namespace) -> dict[str, Any]:
    """The production clearing's loop (``columnar._match``) timed by stage: waiting for the
    reads (two threads read a region's views, and the next region's, while this one is
    matched), the join and group-by (``_compare``), the exceptions with their moments. On
    SQLite it runs here, not in a child of its own as ``match_stored`` does."""
    from tongban.adapters import columnar
    from tongban.domain.clearing import MatchResult, merge_obligations, net_positions

    before, started = rss_kb(), time.perf_counter()
    wait_s = join_s = odd_s = 0.0
    matched, obligations, exceptions = 0, [], []
    reader = columnar.ReportReader(url)
    conn = reader._connect()
    views = reader.views(period, columnar.COMPARED)
    while True:
        t0 = time.perf_counter()
        item = next(views, None)
        t1 = time.perf_counter()
        wait_s += t1 - t0
        if item is None:
            break
        region, visit, home = item
        sums, odd = columnar._compare(visit, home, columnar.KEY[1:])
        matched += int(sums["rows"].sum() or 0)
        obligations += columnar._obligations(sums, region)
        t2 = time.perf_counter()
        join_s += t2 - t1
        if not odd.is_empty():
            exceptions += columnar._odd_events(reader, conn, period, region, odd)
        odd_s += time.perf_counter() - t2
    conn.close()
    result = MatchResult(matched, tuple(merge_obligations(obligations)), tuple(exceptions))
    net = net_positions(result.obligations)
    wall = time.perf_counter() - started
    notes = f"waiting for reads {wait_s:.1f} s, join {join_s:.1f} s, exceptions {odd_s:.1f} s"
    return {"wall": wall, "rss_before_kb": before, "notes": notes, **outcome(result, net)}


def child_reads(url: str, period: str, _args: argparse.Namespace) -> dict[str, Any]:
    """The production clearing's reads alone (``ReportReader.views``: two threads)."""
    from tongban.adapters import columnar

    before, started = rss_kb(), time.perf_counter()
    rows = sum(v.height + h.height for _r, v, h in columnar.ReportReader(url).views(period))
    wall = time.perf_counter() - started
    notes = f"{rows:,} rows, {rows / wall:,.0f} rows/s; not a clearing (nothing to check)"
    return {"wall": wall, "rss_before_kb": before, "notes": notes, "unchecked": True}


def child_reference(url: str, period: str, args: argparse.Namespace) -> dict[str, Any]:
    """Row at a time: rows through the plain DB-API into ``SettlementEvent`` objects, then
    ``match_events`` and ``net_positions`` (the reference the engine is tested against)."""
    from datetime import UTC, datetime

    from sqlalchemy import make_url

    from tongban.domain.clearing import SettlementEvent, match_events, net_positions
    from tongban.domain.ledger import EventKind

    regions = args.regions.split(",")
    target = make_url(url)
    sqlite = target.get_backend_name() == "sqlite"
    before, started = rss_kb(), time.perf_counter()
    if sqlite:
        conn: Any = sqlite3.connect(target.database or ":memory:")
        mark = "?"
    else:
        import psycopg

        plain = target.set(drivername="postgresql").render_as_string(hide_password=False)
        conn, mark = psycopg.connect(plain), "%s"
    views: dict[str, list[SettlementEvent]] = {}
    with conn:
        for side in ("visit", "home"):
            query = (
                f"SELECT {', '.join(STORE_COLUMNS)} FROM report_events WHERE period = {mark}"
                f" AND side = {mark} AND visit_region IN ({', '.join([mark] * len(regions))})"
            )
            events = views[side] = []
            for v, s, e, h, i, at, m, f, a in conn.execute(query, [period, side, *regions]):
                if sqlite:
                    at = datetime.fromisoformat(at).replace(tzinfo=UTC)
                events.append(SettlementEvent(v, s, EventKind(e), h, i, at, m, f, a))
    read_s = time.perf_counter() - started
    result = match_events(views["visit"], views["home"])
    net = net_positions(result.obligations)
    wall = time.perf_counter() - started
    notes = f"read {read_s:.1f} s + match {wall - read_s:.1f} s"
    return {"wall": wall, "rss_before_kb": before, "notes": notes, **outcome(result, net)}


DUCKDB_SQL = """
SELECT coalesce(home_region, home_region_home) AS home_region,
  count(*) FILTER (WHERE agreed) AS rows,
  sum(sign) FILTER (WHERE agreed) AS events,
  sum(sign * medfee_sumamt) FILTER (WHERE agreed) AS medfee_sumamt,
  sum(sign * hifp_pay) FILTER (WHERE agreed) AS hifp_pay,
  sum(sign * acct_pay) FILTER (WHERE agreed) AS acct_pay,
  list(struct_pack(settlement_id, event, home_region, institution_code, medfee_sumamt,
    hifp_pay, acct_pay, home_region_home, institution_code_home, medfee_sumamt_home,
    hifp_pay_home, acct_pay_home)) FILTER (WHERE NOT agreed) AS odd
FROM (
  SELECT settlement_id, event, CASE WHEN event = 'settle' THEN 1 ELSE -1 END AS sign,
    v.home_region, v.institution_code, v.medfee_sumamt, v.hifp_pay, v.acct_pay,
    h.home_region AS home_region_home, h.institution_code AS institution_code_home,
    h.medfee_sumamt AS medfee_sumamt_home, h.hifp_pay AS hifp_pay_home,
    h.acct_pay AS acct_pay_home,
    coalesce(v.home_region = h.home_region AND v.institution_code = h.institution_code
      AND v.medfee_sumamt = h.medfee_sumamt AND v.hifp_pay = h.hifp_pay
      AND v.acct_pay = h.acct_pay, false) AS agreed
  FROM visit_view AS v FULL OUTER JOIN home_view AS h USING (settlement_id, event)
) AS joined
GROUP BY 1
"""
MATCH_SQL = """
SELECT coalesce(v_home, h_home) AS home_region, visit_region,
  count(*) FILTER (WHERE agreed) AS matched,
  sum(sign) FILTER (WHERE agreed) AS events,
  sum(sign * v_medfee) FILTER (WHERE agreed) AS medfee_sumamt,
  sum(sign * v_hifp) FILTER (WHERE agreed) AS hifp_pay,
  sum(sign * v_acct) FILTER (WHERE agreed) AS acct_pay,
  {collect} FILTER (WHERE NOT agreed) AS odd
FROM (
  SELECT visit_region, settlement_id, event,
    CASE WHEN event = 'settle' THEN 1 ELSE -1 END AS sign,
    v.home_region AS v_home, v.institution_code AS v_inst, v.occurred_at AS v_at,
    v.medfee_sumamt AS v_medfee, v.hifp_pay AS v_hifp, v.acct_pay AS v_acct,
    h.home_region AS h_home, h.institution_code AS h_inst, h.occurred_at AS h_at,
    h.medfee_sumamt AS h_medfee, h.hifp_pay AS h_hifp, h.acct_pay AS h_acct,
    coalesce(v.home_region = h.home_region AND v.institution_code = h.institution_code
      AND v.medfee_sumamt = h.medfee_sumamt AND v.hifp_pay = h.hifp_pay
      AND v.acct_pay = h.acct_pay, false) AS agreed
  FROM {visit} AS v FULL OUTER JOIN {home} AS h USING (visit_region, settlement_id, event)
) AS joined
GROUP BY 1, 2
"""
PG_VIEW = "(SELECT * FROM report_events WHERE period = %(period)s AND side = '{side}')"
PG_COLLECT = """json_agg(json_build_array(settlement_id, event,
    v_home, v_inst, to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    v_medfee, v_hifp, v_acct,
    h_home, h_inst, to_char(h_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    h_medfee, h_hifp, h_acct))"""


def sql_outcome(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Rows of MATCH_SQL (one per pair: sums of the agreed, list of the others) → outcome."""
    from tongban.domain.clearing import ExceptionKind, MatchResult, Obligation, net_positions

    matched, obligations, exceptions = 0, [], []
    for home, visit, agreed, events, medfee, hifp, acct, odd in rows:
        if agreed:
            matched += agreed
            obligations.append(Obligation(home, visit, *map(int, (events, medfee, hifp, acct))))
        for e in odd or ():
            sid, event, seen = e[0], e[1], []
            for side in (e[2:8], e[8:14]):
                amounts = tuple(int(x) for x in side[3:]) if side[0] is not None else ()
                seen.append((side[0], side[1], side[2], *amounts) if side[0] else None)
            kind = (
                ExceptionKind.HOME_ONLY
                if seen[0] is None
                else ExceptionKind.VISIT_ONLY
                if seen[1] is None
                else ExceptionKind.DIFFERS
            )
            exceptions.append([kind.value, visit, sid, event, *seen])
    obligations.sort(key=lambda o: (o.home_region, o.visit_region))
    net = net_positions(obligations)
    result = MatchResult(matched, tuple(obligations), ())
    return {**outcome(result, net), "exceptions": exceptions}


def child_pgsql(url: str, period: str, _args: argparse.Namespace) -> dict[str, Any]:
    """The same match as one SQL statement inside PostgreSQL (FULL OUTER JOIN + GROUP BY)."""
    import psycopg
    from sqlalchemy import make_url

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    visit, home = PG_VIEW.format(side="visit"), PG_VIEW.format(side="home")
    sql = MATCH_SQL.format(collect=PG_COLLECT, visit=visit, home=home)
    with psycopg.connect(plain) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        backend = int(row[0])
        plan = [r[0] for r in conn.execute("EXPLAIN " + sql, {"period": period}).fetchall()]
        joins = [line.strip().lstrip("-> ").split("  ")[0] for line in plan if "Join" in line]
        before, started = rss_kb(), time.perf_counter()
        rows = conn.execute(sql, {"period": period}).fetchall()
        data = sql_outcome(rows)
        wall = time.perf_counter() - started
        server_kb = 0
        status = Path(f"/proc/{backend}/status")
        if status.exists():  # the server is on this machine
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    server_kb = int(line.split()[1])
    notes = f"plan: {', '.join(joins) or '?'}"
    if server_kb:
        notes += f"; backend peak RSS {server_kb / 1024:,.0f} MB (shared buffers incl.)"
    return {"wall": wall, "rss_before_kb": before, "notes": notes, **data}


def child_duckdb(url: str, period: str, _args: argparse.Namespace) -> dict[str, Any]:
    """The production clearing with the join and group-by done by DuckDB instead of Polars:
    the same reads (``ReportReader.views``), the same exceptions path (moments by key)."""
    import duckdb

    from tongban.adapters import columnar
    from tongban.domain.clearing import MatchResult, Obligation, merge_obligations, net_positions

    before, started = rss_kb(), time.perf_counter()
    duck = duckdb.connect()
    matched, obligations, exceptions = 0, [], []
    reader = columnar.ReportReader(url)
    conn = reader._connect()
    wait_s = 0.0
    views = reader.views(period, columnar.COMPARED)
    odd_schema = {c: columnar.SCHEMA[c] for c in columnar.COMPARED}
    odd_schema |= {f"{c}_home": columnar.SCHEMA[c] for c in columnar.VALUES}
    while True:
        t0 = time.perf_counter()
        item = next(views, None)
        wait_s += time.perf_counter() - t0
        if item is None:
            break
        region, visit, home = item
        duck.register("visit_view", visit)
        duck.register("home_view", home)
        odd_rows: list[dict[str, Any]] = []
        for home_region, rows, events, medfee, hifp, acct, odd in duck.execute(
            DUCKDB_SQL
        ).fetchall():
            if rows:
                matched += rows
                obligations.append(Obligation(home_region, region, events, medfee, hifp, acct))
            odd_rows += odd or []
        duck.unregister("visit_view")
        duck.unregister("home_view")
        if odd_rows:
            odd_frame = pl.DataFrame(odd_rows, schema=odd_schema).sort("settlement_id", "event")
            exceptions += columnar._odd_events(reader, conn, period, region, odd_frame)
    conn.close()
    result = MatchResult(matched, tuple(merge_obligations(obligations)), tuple(exceptions))
    net = net_positions(result.obligations)
    wall = time.perf_counter() - started
    notes = (
        f"waiting for reads {wait_s:.1f} s, DuckDB's join + exceptions {wall - wait_s:.1f} s"
        f" (DuckDB {duckdb.__version__})"
    )
    return {"wall": wall, "rss_before_kb": before, "notes": notes, **outcome(result, net)}


CHILDREN: dict[str, Callable[[str, str, argparse.Namespace], dict[str, Any]]] = {
    "polars": child_polars,
    "before": child_polars,  # run with an earlier revision of columnar.py first on the path
    "stages": child_stages,
    "reads": child_reads,
    "reference": child_reference,
    "pgsql": child_pgsql,
    "duckdb": child_duckdb,
}
ENGINES = {
    "polars": "match_stored (production)",
    "before": "match_stored before",
    "stages": "  its loop, by stage",
    "reads": "  its reads alone",
    "duckdb": "DuckDB join, same reads",
    "pgsql": "SQL inside PostgreSQL",
    "reference": "match_events (reference)",
}


def child_main(args: argparse.Namespace) -> None:
    data = CHILDREN[args.child](args.url, args.period, args)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            data["peak_kb"] = int(line.split()[1])
    data["children_peak_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    Path(args.out).write_text(json.dumps(data))


# --- the parent: generate, load, measure, check, report --------------------------------------
@dataclass
class Run:
    kind: str
    store: str
    events: int  # events of the month (per side) the run clears
    walls: list[float]
    peak_kb: int  # peak RSS of the child process (its getrusage via wait4)
    before_kb: int  # its RSS just before the measured part (interpreter and imports)
    check: str
    notes: str


def tree_rss_kb(root: int) -> int:
    """Resident set size now of a process and all its descendants (kB), from /proc."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def run_child(
    kind: str,
    url: str,
    period: str,
    workdir: Path,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any] | None, int]:
    """Run one measured clearing in a fresh interpreter; (its output, the tree's RSS peak).

    The child reports its own peak (VmHWM, reset by exec: exact) and its children's (their
    ru_maxrss; on SQLite, ``match_stored`` matches in a child process of its own). Their sum
    bounds the tree's peak from above; this parent also samples the tree's RSS every 100 ms,
    a bound from below. (getrusage here would not do: a child's ru_maxrss starts from this
    process's own peak, which the generated month makes large.)
    """
    out = workdir / f"child-{kind}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--url", url]
    command += ["--period", period, "--out", str(out), *extra]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env)
    sampled, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            sampled[0] = max(sampled[0], tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        done.set()
        sampler.join()
    if proc.returncode != 0 or not out.exists():
        return None, sampled[0]
    data: dict[str, Any] = json.loads(out.read_text())
    data["sampled_kb"] = sampled[0]
    return data, data["peak_kb"] + data["children_peak_kb"]


def check(data: dict[str, Any], expected: Expected) -> str:
    """'ok', or what differs from what the generator put in."""
    if data.get("unchecked"):
        return "-"
    problems = []
    if data["matched"] != expected.matched:
        problems.append(f"matched {data['matched']:,} ≠ {expected.matched:,}")
    found = {
        (vr, sid, ev): (kind, tuple(v) if v else None, tuple(h) if h else None)
        for kind, vr, sid, ev, v, h in data["exceptions"]
    }
    if found != expected.exceptions:
        wrong = sum(found.get(k) != v for k, v in expected.exceptions.items())
        extra = len(found.keys() - expected.exceptions.keys())
        problems.append(f"exceptions: {wrong} missing or different, {extra} unexpected")
    obligations = [tuple(o) for o in data["obligations"]]
    if obligations != expected.obligations:
        wrong = len(set(obligations) ^ set(expected.obligations))
        problems.append(f"obligations: {wrong} pairs differ")
    net = data["net"]
    if sum(net.values()) != 0:
        problems.append(f"Σ net = {sum(net.values())}")
    if net != expected.net():
        problems.append("net positions differ")
    return "; ".join(problems) or "ok"


def reference_regions(expected: Expected, target: int) -> list[str]:
    """The smallest visit regions, together about ``target`` events (matching is per region,
    so a set of regions is a subset the generator can check exactly)."""
    chosen, total = [], 0
    for region, count in sorted(expected.visit_counts.items(), key=lambda rc: (rc[1], rc[0])):
        if total >= target:
            break
        chosen.append(region)
        total += count
    return chosen


def measure(
    args: argparse.Namespace,
    stores: list[tuple[str, str]],
    month: Month,
    workdir: Path,
    before: Path | None,
) -> list[Run]:
    kinds = ["polars", *(["before"] if before else []), "stages", "reads"]
    if not args.no_duckdb:
        try:
            import duckdb  # noqa: F401
        except ImportError:
            console.print("DuckDB is not importable here: its comparison is skipped")
        else:
            kinds.append("duckdb")
    regions = reference_regions(month.expected, args.reference_events)
    subset = month.expected.subset(set(regions))
    subset_events = subset.matched + len(subset.exceptions)
    runs: dict[tuple[str, str], Run] = {}
    for _round in range(args.repeat):
        for store, url in stores:
            plan = [*kinds, *(["pgsql"] if store == "PostgreSQL" else [])]
            if args.reference_events > 0 and (store == "SQLite" or args.reference_all_stores):
                plan.append("reference")
            for kind in plan:
                extra = ["--regions", ",".join(regions)] if kind == "reference" else []
                expected = subset if kind == "reference" else month.expected
                events = subset_events if kind == "reference" else month.events
                env = None
                if kind == "before" and before is not None:
                    env = dict(os.environ, PYTHONPATH=str(before))
                data, peak_kb = run_child(kind, url, month.period, workdir, extra, env)
                result = check(data, expected) if data else "FAILED (see above)"
                wall = data["wall"] if data else float("nan")
                notes = data.get("notes", "") if data else ""
                if kind == "before" and data:
                    notes = f"engine {data['engine']}"
                    if before is None or not data["engine"].startswith(str(before.resolve())):
                        result = "WRONG ENGINE (not the --before copy)"
                if data and data["children_peak_kb"]:
                    notes += "; " if notes else ""
                    notes += (
                        f"own peak {data['peak_kb'] / 1024:,.0f} MB + its children's "
                        f"{data['children_peak_kb'] / 1024:,.0f} MB (sampled together: "
                        f"{data['sampled_kb'] / 1024:,.0f} MB)"
                    )
                if kind == "reference":
                    notes = f"{len(regions)} smallest visit regions; {notes}"
                console.print(
                    f"  {ENGINES[kind].strip()} on {store}: {wall:.1f} s, peak RSS "
                    f"{peak_kb / 1024:,.0f} MB, check {result}" + (f" ({notes})" if notes else "")
                )
                resident = data["rss_before_kb"] if data else 0
                run = runs.get((kind, store))
                if run is None:
                    runs[(kind, store)] = Run(
                        kind, store, events, [wall], peak_kb, resident, result, notes
                    )
                else:
                    run.walls.append(wall)
                    if wall < min(run.walls[:-1]):
                        run.peak_kb, run.before_kb, run.notes = peak_kb, resident, notes
                    if result != "ok":
                        run.check = result
    return list(runs.values())


def report(args: argparse.Namespace, runs: list[Run], month: Month) -> None:
    title = (
        f"clearing of {month.period}: {month.events:,} events per side, 41 regions, "
        f"{sum(month.kinds.values())} injected exceptions"
        + (f", best of {args.repeat} runs" if args.repeat > 1 else "")
    )
    table = Table(title=title)
    for column in ("engine", "store", "events", "wall s", "peak MB", "before MB", "events/s"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    table.add_column("check")
    order = list(ENGINES)
    notes = []
    for run in sorted(runs, key=lambda r: (r.store != "SQLite", order.index(r.kind))):
        wall = min(run.walls)
        note = run.notes
        if len(run.walls) > 1:
            note += "; runs " + ", ".join(f"{w:.1f}" for w in run.walls) + " s"
        if run.kind == "reference":
            scale = month.events / run.events
            peak = run.before_kb + (run.peak_kb - run.before_kb) * scale
            note += (
                f"; × {scale:.1f} for the month (linear, optimistic: it sorts): "
                f"≈ {wall * scale:,.0f} s and ≈ {peak / 1024**2:,.1f} GB"
            )
        if note:
            notes.append(f"  {ENGINES[run.kind].strip()} on {run.store}: {note}")
        table.add_row(
            ENGINES[run.kind],
            run.store,
            f"{run.events:,}",
            f"{wall:.1f}",
            f"{run.peak_kb / 1024:,.0f}",
            f"{run.before_kb / 1024:,.0f}",
            f"{run.events / wall:,.0f}" if wall > 0 else "-",
            run.check,
        )
    console.print(table)
    console.print("\n".join(notes))
    console.print(
        "wall s: the measured part only, in a fresh child process (the interpreter's start and "
        "imports are not in it); peak MB: the child's peak RSS (VmHWM) plus its own children's "
        "peak (on SQLite, match_stored matches in a child process of its own); "
        "before MB: resident before the measured part (Python, Polars, Arrow, drivers). "
        "events/s: events of the month per side ÷ wall (each event is read twice, once per "
        "view). check: the result against what the generator put in (matched count, every "
        "exception with both views, obligations of every pair, net positions, Σ net = 0). "
        "The databases' files were in the OS page cache (warm)."
    )
    for run in runs:
        if run.kind == "polars":
            wall, peak = min(run.walls), run.peak_kb * 1024
            met = wall <= AIM_SECONDS and peak <= AIM_BYTES
            console.print(
                f"against the aim on {run.store} (reported, not asserted): {wall:.1f} s "
                f"(≤ {AIM_SECONDS:.0f} s) and {peak / 2**30:.2f} GB (≤ {AIM_BYTES / 2**30:.0f} "
                f"GB): {'met' if met else 'MISSED'}"
            )


def source_before(rev: str, workdir: Path) -> Path:
    """A copy of src/ whose columnar.py is the one of ``rev`` (git), to put first on the path."""
    root = Path(__file__).resolve().parent.parent
    target = workdir / "before-src"
    shutil.copytree(root / "src" / "tongban", target / "tongban")
    text = subprocess.run(
        ["git", "show", f"{rev}:src/tongban/adapters/columnar.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (target / "tongban" / "adapters" / "columnar.py").write_text(text)
    ENGINES["before"] = f"match_stored at {rev}"
    return target


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events per side")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--period", default=PERIOD)
    parser.add_argument(
        "--exception-rate", type=float, default=1e-4, help="share of events made exceptions"
    )
    parser.add_argument("--stores", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TONGBAN_BENCH_PG", DEFAULT_PG_URL),
        help="a database URL on a server whose user may create databases (env TONGBAN_BENCH_PG)",
    )
    parser.add_argument(
        "--reference-events",
        type=int,
        default=1_000_000,
        help="events (about) for the row-at-a-time reference; 0 skips it",
    )
    parser.add_argument(
        "--reference-all-stores", action="store_true", help="reference on PostgreSQL too"
    )
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB comparison")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also run match_stored with columnar.py as of this git revision (before/after)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement")
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--regions", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args)
        return
    from harness import sigterm_as_interrupt

    print_machine()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    console.print(
        f"memory {memory / 2**30:.1f} GB; Polars {pl.__version__}, pyarrow {pa.__version__}; "
        "every measured clearing runs alone, in its own process, one after the other"
    )
    wanted = {s.strip().lower() for s in args.stores.split(",") if s.strip()}
    workdir = Path(tempfile.mkdtemp(prefix="tongban-clearing-", dir=args.workdir))
    server = PgServer(args.pg_url) if "postgresql" in wanted else None
    try:
        with sigterm_as_interrupt():
            try:
                started = time.perf_counter()
                month = generate(args.events, args.seed, args.exception_rate, args.period)
                shanghai = month.expected.visit_counts.get("310000", 0) / max(1, month.visit.height)
                console.print(
                    f"generated {month.period} in {time.perf_counter() - started:.1f} s (seed "
                    f"{args.seed}, not measured): {month.events:,} events per side, "
                    f"{len(month.expected.visit_counts)} visit regions (Shanghai "
                    f"{shanghai:.0%}), {len(month.expected.obligations):,} region pairs; "
                    "injected: "
                    + (", ".join(f"{k} {month.kinds[k]}" for k in KINDS) if month.kinds else "-")
                )
                stores: list[tuple[str, str]] = []
                if "sqlite" in wanted:
                    started = time.perf_counter()
                    path = workdir / "hub.db"
                    stores.append(("SQLite", load_sqlite(path, month)))
                    console.print(
                        f"SQLite {sqlite3.sqlite_version}: loaded {month.visit.height:,} + "
                        f"{month.home.height:,} rows in {time.perf_counter() - started:.1f} s "
                        f"(executemany, one transaction; not measured), "
                        f"{file_size(path) / 2**30:.2f} GB in {path}"
                    )
                if server is not None:
                    try:
                        settings = server.settings()
                    except Exception as error:
                        console.print(
                            f"[yellow]PostgreSQL at {server.url.render_as_string()} is not "
                            f"reachable ({type(error).__name__}: {str(error).strip()}): "
                            "SQLite only[/]"
                        )
                    else:
                        started = time.perf_counter()
                        database = f"tongban_bench_clearing_{os.getpid()}"
                        server.create(database)
                        stores.append(("PostgreSQL", load_postgres(server, database, month)))
                        with server.connect(database) as conn:
                            size = conn.execute(
                                "SELECT pg_total_relation_size('report_events')"
                            ).fetchone()[0]
                        console.print(
                            f"PostgreSQL ({settings}): loaded in "
                            f"{time.perf_counter() - started:.1f} s (key dropped, COPY, key "
                            "added back, one transaction; then VACUUM ANALYZE; not measured), "
                            f"{size / 2**30:.2f} GB, "
                            f"throw-away database {database}"
                        )
                month.visit = month.home = pl.DataFrame()  # the children read the stores
                before = source_before(args.before, workdir) if args.before else None
                runs = measure(args, stores, month, workdir, before)
                report(args, runs, month)
            finally:
                if server is not None and server.created:
                    names = ", ".join(server.created)
                    server.drop_all()
                    console.print(f"dropped {names}")
                if args.keep:
                    console.print(f"kept {workdir}")
                else:
                    shutil.rmtree(workdir, ignore_errors=True)
    except KeyboardInterrupt:
        console.print("[red]interrupted: children stopped, database dropped, files removed[/]")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
