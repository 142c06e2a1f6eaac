"""Benchmark: cross-region settlement over real HTTP with both nodes on PostgreSQL, against pgbench.

The same network of processes as bench_http_settle.py (hub, Shanghai 310000 visit node,
Jinhua 330700 home node, HIS client threads), but ``network init --db`` puts both nodes'
databases on a PostgreSQL server: two throw-away databases made for the run and dropped at
the end (also on an error, Ctrl-C or SIGTERM). After each level of C clients, pgbench runs
on the same server with C clients and a custom script that does what one settlement does to
the database: the same statements on the same tables (tongban's own schema, in a third
throw-away database), in the same four transactions, three of which write (durable commits).
Its rate is the ceiling: settlements/s if tongban's Python cost nothing.

Nothing is asserted; see bench/README.md for how to read the figures.

    .venv/bin/python bench/bench_http_settle_pg.py [--clients 1,8,32,128] [--seconds 8]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from rich.table import Table
from sqlalchemy import URL, create_engine, make_url

from harness import Setup, add_common_arguments, run_bench, sigterm_as_interrupt
from machine import console, postgres_cpu, print_cpu_table, print_machine
from tongban.adapters.storage.schema import node_metadata
from workload import COMMITS_PER_SETTLEMENT, HOME, VISIT, LevelResult, error_summary, percentile

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
GOAL_RATE, GOAL_P99_MS, GOAL_SHARE = 1000.0, 100.0, 0.5  # the goal, reported only

# One settlement as the database sees it (statement trace of VisitSide.settle/_mark and
# HomeSide.commit on PostgreSQL): a read transaction, then the three write transactions.
# Both nodes' tables live in one scratch database here; tongban uses two on the same server
# (one WAL either way). Sizes of the JSON columns come from the run's own rows (-D ...).
SCRIPT = """\
\\set p random(1, :persons)
\\set sid random(1, 1000000000000000)
\\set msg random(1, 1000000000000000)
BEGIN;
SELECT * FROM visit_settlements WHERE settlement_id = md5(:sid::text);
SELECT * FROM visits WHERE visit_id = md5('v' || :p);
END;
BEGIN;
INSERT INTO visit_settlements (settlement_id, visit_id, institution_code, home_region, insutype, \
status, content_hash, commit_body, lines, medfee_sumamt, settled_on, created_at) VALUES \
(md5(:sid::text), md5('v' || :p), '310101001', '330700', '310', 'PENDING', md5('h' || :sid), \
:body, :lines, 23456, current_date, now()) ON CONFLICT DO NOTHING RETURNING settlement_id;
INSERT INTO outbox (settlement_id, recipient, kind, body, created_at) VALUES \
(md5(:sid::text), '330700', 'commit', :body, now());
END;
BEGIN;
INSERT INTO inbox (msgid, sender, kind, received_at) VALUES (md5('m' || :msg), '310000', \
'commit', now()) ON CONFLICT DO NOTHING RETURNING msgid;
SELECT * FROM persons WHERE pseudonym = md5('p' || :p) FOR UPDATE;
SELECT * FROM home_settlements WHERE settlement_id = md5(:sid::text);
SELECT * FROM accumulators WHERE person_id = :p AND year = {year} AND med_type = 'outpatient';
SELECT * FROM filings WHERE person_id = :p ORDER BY created_at;
UPDATE accumulators SET deductible_used = deductible_used + 1, fund_paid = fund_paid + 100, \
admissions = admissions + 0 WHERE person_id = :p AND year = {year} AND med_type = 'outpatient';
UPDATE persons SET account_balance = account_balance - 10 WHERE person_id = :p;
INSERT INTO home_settlements (settlement_id, visit_region, status, institution_code, person_id, \
med_type, year, content_hash, split, delta, hifp_pay, acct_pay, medfee_sumamt, settled_on, \
committed_at) VALUES (md5(:sid::text), '310000', 'COMMITTED', '310101001', :p, 'outpatient', \
{year}, md5('h' || :sid), :split, :delta, 12000, 1000, 23456, current_date, now());
END;
BEGIN;
UPDATE visit_settlements SET status = 'SETTLED', split = :split, hifp_pay = 12000, \
acct_pay = 1000, psn_cash_pay = 10456, settled_at = now() WHERE settlement_id = md5(:sid::text);
UPDATE outbox SET answered_at = now(), outcome = 'COMMITTED' WHERE \
settlement_id = md5(:sid::text) AND kind = 'commit' AND answered_at IS NULL;
SELECT * FROM visit_settlements WHERE settlement_id = md5(:sid::text);
END;
"""
POPULATE = """
INSERT INTO persons (person_id, id_number, pseudonym, name, insutype, account_balance)
  SELECT i, lpad(i::text, 18, '0'), md5('p' || i), 'bench', '310', 1000000000
  FROM generate_series(1, %(n)s) AS i;
INSERT INTO accumulators SELECT i, %(year)s, 'outpatient', 0, 0, 0
  FROM generate_series(1, %(n)s) AS i;
INSERT INTO visits SELECT md5('v' || i), '310101001', md5('p' || i), '3**', 'b*', '330700',
  '310', 'outpatient', false, current_date, now() FROM generate_series(1, %(n)s) AS i;
INSERT INTO filings SELECT md5('f' || i), i, 'LONG_TERM_RESIDENT', '310000', current_date,
  NULL, NULL, 'commitment', now() FROM generate_series(1, %(n)s, 3) AS i;
"""


@dataclass
class Ceiling:
    clients: int  # pgbench clients (capped by the server's free connections)
    tps: float  # script runs per second = settlement-equivalents per second
    cpu_s: float  # CPU of PostgreSQL (all its processes) and pgbench during the run
    output: str

    @property
    def commits(self) -> float:
        return self.tps * COMMITS_PER_SETTLEMENT

    @property
    def settlements(self) -> float:
        return self.commits / COMMITS_PER_SETTLEMENT


class PgServer:
    """The PostgreSQL server: throw-away databases, transaction ids, pgbench."""

    def __init__(self, url: URL, pgbench: str) -> None:
        self.url = url
        self.pgbench = pgbench
        self.created: list[str] = []

    def connect(self, database: str | None = None) -> psycopg.Connection:
        target = self.url.set(drivername="postgresql", database=database or self.url.database)
        return psycopg.connect(target.render_as_string(hide_password=False), autocommit=True)

    def url_of(self, database: str) -> str:
        return self.url.set(drivername="postgresql+psycopg", database=database).render_as_string(
            hide_password=False)

    def create(self, database: str) -> None:
        self.created.append(database)  # first: an interrupted CREATE is dropped too
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{database}"')

    def drop_all(self) -> None:
        with self.connect() as conn:
            for database in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self.created.clear()

    def next_xid(self) -> int:
        """The next transaction id to be assigned (reading it assigns none)."""
        with self.connect() as conn:
            row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
        assert row is not None
        return int(row[0])

    def sessions(self, databases: Sequence[str]) -> int:
        """Connections ever opened to these databases (pg_stat_database.sessions)."""
        with self.connect() as conn:
            row = conn.execute("SELECT coalesce(sum(sessions), 0)::bigint FROM pg_stat_database"
                               " WHERE datname = ANY(%s)", (list(databases),)).fetchone()
        assert row is not None
        return int(row[0])

    def free_connections(self) -> int:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            ).fetchone()
        assert row is not None
        return int(row[0]) - 2  # leave room for our own admin connections

    def settings(self) -> str:
        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                 "commit_delay", "max_connections", "shared_buffers")
        with self.connect() as conn:
            return ", ".join(f"{n}={conn.execute(f'SHOW {n}').fetchone()[0]}"  # type: ignore[index]
                             for n in names)

    def run_pgbench(self, script: Path, database: str, clients: int, threads: int,
                    seconds: float, variables: dict[str, str]) -> Ceiling:
        url = self.url
        command = [self.pgbench, "-n", "-M", "prepared", "-f", str(script), "-c", str(clients),
                   "-j", str(min(threads, clients)), "-T", str(max(1, round(seconds))),
                   "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                   "-U", url.username or "postgres"]
        for name, value in variables.items():
            command += ["-D", f"{name}={value}"]
        env = dict(os.environ, PGPASSWORD=url.password or os.environ.get("PGPASSWORD", ""))
        cpu0 = (postgres_cpu() or 0.0) + children_cpu()
        done = subprocess.run([*command, database], capture_output=True, text=True, env=env,
                              timeout=seconds + 120)
        cpu1 = (postgres_cpu() or 0.0) + children_cpu()
        match = re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE)
        if done.returncode != 0 or match is None:
            raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return Ceiling(clients, float(match.group(1)), cpu1 - cpu0, done.stdout)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # pgbench, once it has exited
    return usage.ru_utime + usage.ru_stime


def pad(length: float) -> str:
    """A JSON-looking value of about ``length`` characters."""
    return '{"pad":"' + "x" * max(0, round(length) - 10) + '"}'


def prepare_pgbench(server: PgServer, setup: Setup, prefix: str) -> tuple[Path, dict[str, str]]:
    """Scratch database with tongban's node tables, persons/visits/accumulators, the script."""
    year = datetime.date.today().year
    database = f"{prefix}_pgbench"
    engine = create_engine(server.url_of(database))
    try:
        node_metadata.create_all(engine)
    finally:
        engine.dispose()
    persons = len(setup.visits)  # one person per registered visit, as in the HTTP levels
    with server.connect(database) as conn:
        for statement in POPULATE.split(";"):
            if statement.strip():
                conn.execute(statement, {"n": persons, "year": year})
        conn.execute("VACUUM ANALYZE")
    with server.connect(f"{prefix}_{VISIT}") as conn:
        visit_sizes = conn.execute(
            "SELECT avg(length(commit_body)), avg(length(lines)), avg(length(split))"
            " FROM visit_settlements WHERE status = 'SETTLED'").fetchone()
    with server.connect(f"{prefix}_{HOME}") as conn:
        home_sizes = conn.execute("SELECT avg(length(delta)) FROM home_settlements"
                                  " WHERE status = 'COMMITTED'").fetchone()
    body, lines, split = (float(v or 300) for v in visit_sizes or (None, None, None))
    delta = float((home_sizes or (None,))[0] or 100)
    script = setup.data_dir / "settlement.pgbench"
    script.write_text(SCRIPT.format(year=year))
    console.print(f"pgbench script {script.name}: {persons} persons; JSON columns as in this "
                  f"run: commit body {body:.0f}, lines {lines:.0f}, split {split:.0f}, "
                  f"delta {delta:.0f} characters")
    return script, {"persons": str(persons), "body": pad(body), "lines": pad(lines),
                    "split": pad(split), "delta": pad(delta)}


def levels(setup: Setup, server: PgServer, prefix: str) -> None:
    args = setup.args
    scratch = f"{prefix}_pgbench"
    script, variables = prepare_pgbench(server, setup, prefix)
    results: list[tuple[LevelResult, float, Ceiling | None]] = []
    nodes = [f"{prefix}_{VISIT}", f"{prefix}_{HOME}"]
    for clients in args.clients:
        xid0, sessions0 = server.next_xid(), server.sessions(nodes)
        result = setup.level(clients)
        xids = (server.next_xid() - xid0) / result.settled if result.settled else float("nan")
        time.sleep(1.1)  # backends report their counters to pg_stat at most once a second
        sessions = server.sessions(nodes) - sessions0
        line = (f"  {clients:>3} clients: {result.settled} settled, {result.errors} errors in "
                f"{result.wall_s:.1f} s ({xids:.2f} transaction ids per settlement, "
                f"{sessions} new connections to the nodes' databases)")
        ceiling = None
        if not args.no_pgbench:
            capped = max(1, min(clients, server.free_connections()))
            ceiling = server.run_pgbench(script, scratch, capped, args.pgbench_threads,
                                         args.pgbench_seconds, variables)
            line += f"; pgbench -c {capped}: {ceiling.tps:,.0f} settlement scripts/s"
        console.print(line)
        results.append((result, xids, ceiling))
    report(args, results, setup.cores)


def report(args: argparse.Namespace, rows: list[tuple[LevelResult, float, Ceiling | None]],
           cores: int) -> None:
    length = f"{args.count} per client" if args.count else f"{args.seconds:g} s per level"
    speed = Table(title=f"cross-region settle over HTTP ({VISIT} visit node → {HOME} home "
                        f"node, PostgreSQL), {length}")
    for column in ("clients", "settlements", "errors", "settlements/s", "p50 ms", "p99 ms",
                   "max ms", "write tx/settl.", "pgbench ceiling/s", "of ceiling"):
        speed.add_column(column, justify="right")
    bench = Table(title=f"pgbench ceiling, same server, same run: -M prepared, "
                        f"{args.pgbench_seconds:g} s per level")
    for column in ("clients", "pgbench -c", "scripts/s", "durable commits/s",
                   f"÷ {COMMITS_PER_SETTLEMENT} = settlements/s", "CPU ms/settl.",
                   "tongban's CPU ms/settl."):
        bench.add_column(column, justify="right")
    for r, xids, c in rows:
        ceiling = c.settlements if c else float("nan")
        speed.add_row(
            str(r.clients), f"{r.settled:,}", f"{r.errors:,}", f"{r.rate:,.1f}",
            f"{percentile(r.latencies_ms, 0.50):.1f}", f"{percentile(r.latencies_ms, 0.99):.1f}",
            f"{max(r.latencies_ms, default=float('nan')):.1f}", f"{xids:.2f}",
            f"{ceiling:,.0f}", f"{r.rate / ceiling:.1%}" if c else "-",
        )
        if c:
            seconds = max(1, round(args.pgbench_seconds))
            bench.add_row(
                str(r.clients), str(c.clients), f"{c.tps:,.0f}", f"{c.commits:,.0f}",
                f"{c.settlements:,.0f}", f"{c.cpu_s / (c.tps * seconds) * 1000:.2f}",
                f"{sum(r.cpu_s.values()) / r.settled * 1000 if r.settled else float('nan'):.2f}",
            )
    console.print(speed)
    error_summary([r for r, _, _ in rows])
    console.print(
        f"{COMMITS_PER_SETTLEMENT} durable commits per settlement, counted in the code: "
        "visit_side.py settle (PENDING + outbox row), home_side.py commit (inbox + person lock "
        "+ accumulators + account + record), visit_side.py _mark (SETTLED + outbox answered); "
        "the read transaction before them writes nothing. \"write tx/settl.\" checks it: "
        "PostgreSQL transaction ids the level consumed per settlement (any other writer on "
        "the server during the level adds to it)."
    )
    if any(c for _, _, c in rows):
        console.print(bench)
        console.print(
            "pgbench runs one settlement's statements per script (settlement.pgbench: 1 read "
            f"+ {COMMITS_PER_SETTLEMENT} write transactions, 17 statements, tongban's tables "
            "and indexes, persons drawn at random as in the HTTP levels); durable commits/s = "
            f"{COMMITS_PER_SETTLEMENT} × scripts/s, ceiling = commits/s ÷ "
            f"{COMMITS_PER_SETTLEMENT}. pgbench -c is capped by the server's free connections "
            "(max_connections; the nodes' pools hold theirs). CPU ms/settl. = CPU of "
            "PostgreSQL and pgbench per script; tongban's = all 5 of the CPU table below (the "
            "HTTP level's). PostgreSQL's CPU is the whole server's: other sessions using it "
            "during a level add to it."
        )
    print_cpu_table([r for r, _, _ in rows], cores)
    goal(rows)


def goal(rows: list[tuple[LevelResult, float, Ceiling | None]]) -> None:
    best = max((r for r, _, _ in rows), key=lambda r: r.rate)
    half = [r for r, _, _ in rows if r.rate <= GOAL_RATE / 2]
    p99s = ", ".join(f"{percentile(r.latencies_ms, 0.99):.0f} ms at {r.rate:,.0f}/s"
                     for r in half) or "no level ran at or below it"
    shares = [r.rate / c.settlements for r, _, c in rows if c]
    console.print(
        f"against the goal (reported, not asserted): peak {best.rate:,.0f} settlements/s "
        f"({best.clients} clients) vs ≥ {GOAL_RATE:,.0f}; p99 at ≤ {GOAL_RATE / 2:,.0f}/s "
        f"(goal ≤ {GOAL_P99_MS:.0f} ms): {p99s}; share of the pgbench ceiling "
        + (f"{min(shares):.1%}-{max(shares):.1%}" if shares else "not measured")
        + f" vs ≥ {GOAL_SHARE:.0%}."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, clients=[1, 8, 32, 128], seconds=8.0)
    parser.add_argument("--pg-url", default=os.environ.get("TONGBAN_BENCH_PG", DEFAULT_URL),
                        help="a database URL on the server whose user may create databases "
                             "(env TONGBAN_BENCH_PG)")
    parser.add_argument("--pgbench", default=shutil.which("pgbench") or "/usr/bin/pgbench")
    parser.add_argument("--pgbench-seconds", type=float, default=5.0,
                        help="length of each pgbench run (one per level)")
    parser.add_argument("--pgbench-threads", type=int, default=2, help="pgbench -j")
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench ceiling")
    args = parser.parse_args(argv)
    cores = print_machine()
    console.print("the HIS clients (this process), both nodes, the hub, PostgreSQL and pgbench "
                  "share this machine.")
    if not args.no_pgbench and not Path(args.pgbench).exists():
        raise SystemExit(f"pgbench not found at {args.pgbench}: --pgbench PATH or --no-pgbench")
    server = PgServer(make_url(args.pg_url), args.pgbench)
    prefix = f"tongban_bench_{os.getpid()}"
    try:
        with sigterm_as_interrupt():
            try:
                console.print(f"PostgreSQL {server.url.render_as_string()}: {server.settings()}")
                for name in (VISIT, HOME, "pgbench"):
                    server.create(f"{prefix}_{name}")
                console.print(f"throw-away databases {', '.join(server.created)}")
                init = []
                for code in (VISIT, HOME):
                    init += ["--db", f"{code}={server.url_of(f'{prefix}_{code}')}"]
                run_bench(args, cores, init, lambda s: levels(s, server, prefix),
                          with_postgres_cpu=True)
            finally:
                started = time.perf_counter()
                names = ", ".join(server.created)
                server.drop_all()
                console.print(f"dropped {names} in {time.perf_counter() - started:.1f} s")
    except KeyboardInterrupt:
        console.print("[red]interrupted: processes stopped, databases dropped[/]")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
