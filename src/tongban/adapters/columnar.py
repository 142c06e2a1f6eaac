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

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import polars as pl

from tongban.adapters.report_reader import (
    AMOUNTS,
    COMPARED,
    KEY,
    SCHEMA,
    VALUES,
    ReportReader,
)
from tongban.domain.clearing import (
    ExceptionKind,
    MatchException,
    MatchResult,
    Obligation,
    SettlementEvent,
    merge_obligations,
)
from tongban.domain.ledger import EventKind
from tongban.service_layer import wire


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


def _event_json(e: SettlementEvent | None) -> dict[str, Any] | None:
    return None if e is None else wire.event_to_json(e)


def _event_from_json(data: dict[str, Any] | None) -> SettlementEvent | None:
    return None if data is None else wire.event_from_json(data)


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
    if command == "match":
        result = _match(ReportReader(f"sqlite:///{path}"), period)
        sys.stdout.write(json.dumps(_result_to_json(result)))
        sys.stdout.flush()
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":  # python -m tongban.adapters.columnar match DB_PATH PERIOD
    _main(sys.argv[1:])
