"""A hospital's daily reconciliation (对账) with its visit node: pure rules, no I/O.

DESIGN.md §4.5 point 5, like the national interface's 3201 (totals) and 3202 (detail). Each
settlement gives a *settle* event and, once cancelled, a *cancel* event; totals are signed
(settle +, cancel −). A listed event carries the settlement's amounts as positive fen; the
event says which way they count.

The hospital's side arrives as raw values (JSON or CSV cells), so the parsers here are the
only way they become amounts: integer fen, never a float (``parse_fen``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from enum import StrEnum

from tongban.domain.ledger import EventKind
from tongban.domain.money import parse_fen
from tongban.errors import InvalidInput

INSUTYPES = ("310", "390")  # 职工基本医疗保险, 城乡居民基本医疗保险
MAX_DAYS = 31  # a month at most per call, as a day's 对账 normally covers one day
MAX_LINES = 100_000
MAX_FEN = 10**15  # far beyond any hospital's month; keeps sums exact and answers sane
AMOUNTS = ("medfee_sumamt", "fund_pay", "acct_pay")
_SETTLEMENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # the settle endpoint's rule


@dataclass(frozen=True, slots=True)
class EventLine:
    """One settle or cancel event of one settlement, as one side records it."""

    settlement_id: str
    event: EventKind
    insutype: str
    medfee_sumamt: int
    fund_pay: int  # hifp_pay, 统筹基金支付
    acct_pay: int  # 个人账户支付

    @property
    def key(self) -> tuple[str, EventKind]:
        return (self.settlement_id, self.event)


@dataclass(frozen=True, slots=True)
class Totals:
    """Signed sums over events: a cancel takes back what its settle added."""

    settle_count: int = 0
    cancel_count: int = 0
    medfee_sumamt: int = 0
    fund_pay: int = 0
    acct_pay: int = 0

    @property
    def count(self) -> int:
        return self.settle_count - self.cancel_count

    def plus(self, line: EventLine) -> Totals:
        sign = line.event.sign
        settle = line.event is EventKind.SETTLE
        return Totals(
            self.settle_count + settle,
            self.cancel_count + (not settle),
            self.medfee_sumamt + sign * line.medfee_sumamt,
            self.fund_pay + sign * line.fund_pay,
            self.acct_pay + sign * line.acct_pay,
        )

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Totals)))


def totals_by_insutype(lines: Iterable[EventLine]) -> dict[str, Totals]:
    out: dict[str, Totals] = defaultdict(Totals)
    for line in lines:
        out[line.insutype] = out[line.insutype].plus(line)
    return dict(out)


@dataclass(frozen=True, slots=True)
class InsutypeComparison:
    insutype: str
    node: Totals
    hospital: Totals

    @property
    def balanced(self) -> bool:
        return self.node == self.hospital


def compare_totals(
    node: Mapping[str, Totals], hospital: Mapping[str, Totals]
) -> list[InsutypeComparison]:
    """Per insutype, both sides' totals; a type absent on one side counts as all zero there."""
    kinds = sorted(set(INSUTYPES) | set(node) | set(hospital))
    return [InsutypeComparison(k, node.get(k, Totals()), hospital.get(k, Totals())) for k in kinds]


class Difference(StrEnum):
    MISSING_AT_NODE = "MISSING_AT_NODE"  # the hospital lists it, the node has no such event
    MISSING_AT_HOSPITAL = "MISSING_AT_HOSPITAL"  # the node has it, the hospital's list does not
    DIFFERS = "DIFFERS"  # both have it, with different insutype or amounts
    UNRESOLVED_AT_NODE = "UNRESOLVED_AT_NODE"  # listed; the node is still waiting on the home


@dataclass(frozen=True, slots=True)
class LineDifference:
    settlement_id: str
    event: EventKind
    kind: Difference
    node: EventLine | None
    hospital: EventLine | None
    fields: tuple[str, ...] = ()  # what differs, for DIFFERS


def event_order(key: tuple[str, EventKind]) -> tuple[str, int]:
    """By settlement id, a settle before its cancel."""
    return (key[0], key[1] is EventKind.CANCEL)


def compare_lines(
    node: Iterable[EventLine],
    hospital: Iterable[EventLine],
    unresolved: Iterable[EventLine] = (),
) -> list[LineDifference]:
    """Every (settlement id, event) on which the two lists disagree, in id order.

    ``node`` holds the node's final events; ``unresolved`` those it does not know the end of
    yet (a commit or cancel the home has not answered): they are no difference unless the
    hospital lists them, and then they are reported as waiting, not as missing.
    """
    ours = {line.key: line for line in node}
    pending = {line.key: line for line in unresolved}
    theirs = {line.key: line for line in hospital}
    out: list[LineDifference] = []
    for key in sorted(ours.keys() | theirs.keys(), key=event_order):
        mine, listed = ours.get(key), theirs.get(key)
        if mine is None:
            assert listed is not None
            waiting = pending.get(key)
            kind = Difference.UNRESOLVED_AT_NODE if waiting else Difference.MISSING_AT_NODE
            out.append(LineDifference(*key, kind, waiting, listed))
        elif listed is None:
            out.append(LineDifference(*key, Difference.MISSING_AT_HOSPITAL, mine, None))
        elif mine != listed:
            differing = tuple(
                name
                for name in ("insutype", *AMOUNTS)
                if getattr(mine, name) != getattr(listed, name)
            )
            out.append(LineDifference(*key, Difference.DIFFERS, mine, listed, differing))
    return out


# --- the hospital's input ---------------------------------------------------------------
def check_range(first: date, last: date) -> None:
    if first.year < 1900 or last.year > 2999:  # year 1 or 9999 has no UTC bounds (a 500)
        raise InvalidInput("INVALID_DATE_RANGE", f"dates are 1900 to 2999, got {first}, {last}")
    if last < first:
        raise InvalidInput("INVALID_DATE_RANGE", f"to_date {last} is before from_date {first}")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise InvalidInput(
            "RANGE_TOO_LONG", f"{days} days asked; reconcile at most {MAX_DAYS} days at a time"
        )


def parse_insutype(value: object, where: str = "") -> str:
    if not isinstance(value, str) or value.strip() not in INSUTYPES:
        raise InvalidInput(
            "UNKNOWN_INSUTYPE", f"{where}insutype is one of {', '.join(INSUTYPES)}, got {value!r}"
        )
    return value.strip()


def parse_amount(value: object, what: str, signed: bool = False) -> int:
    try:
        fen = parse_fen(value, what)
    except ValueError as exc:
        raise InvalidInput("INVALID_AMOUNT", str(exc)) from None
    if abs(fen) >= MAX_FEN or (fen < 0 and not signed):
        rule = "below 10^15" if signed else "between 0 and 10^15"
        raise InvalidInput("INVALID_AMOUNT", f"{what} must be {rule} fen, got {fen}")
    return fen


def parse_count(value: object, what: str) -> int:
    try:
        count = parse_fen(value, what)  # the same whole-number rule: no floats, no booleans
    except ValueError:
        raise InvalidInput(
            "INVALID_COUNT", f"{what} must be a whole number, got {value!r}"
        ) from None
    if not 0 <= count < MAX_FEN:
        raise InvalidInput("INVALID_COUNT", f"{what} must be between 0 and 10^15, got {count}")
    return count


def parse_event(value: object, where: str = "") -> EventKind:
    try:
        return EventKind(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(
            "INVALID_EVENT", f"{where}event is 'settle' or 'cancel', got {value!r}"
        ) from None


def parse_line(raw: Mapping[str, object], number: int) -> EventLine:
    """One line of a hospital's detail list; ``number`` (from 1) names it in errors."""
    where = f"line {number}: "
    sid = raw.get("settlement_id")
    if not isinstance(sid, str) or not _SETTLEMENT_ID.fullmatch(sid.strip()):
        raise InvalidInput(
            "INVALID_SETTLEMENT_ID",
            f"{where}a settlement id is 1-64 letters, digits, '-', '_' or '.'",
            line=number,
        )
    try:
        return EventLine(
            sid.strip(),
            parse_event(raw.get("event"), where),
            parse_insutype(raw.get("insutype"), where),
            *(parse_amount(raw.get(name), f"{where}{name}") for name in AMOUNTS),
        )
    except InvalidInput as exc:
        raise InvalidInput(exc.code, exc.detail, line=number) from None


def parse_totals(raw: Mapping[str, object], number: int) -> tuple[str, Totals]:
    """One insutype's totals as the hospital counted them (amounts signed, counts not)."""
    where = f"totals {number}: "
    insutype = parse_insutype(raw.get("insutype"), where)
    return insutype, Totals(
        parse_count(raw.get("settle_count"), f"{where}settle_count"),
        parse_count(raw.get("cancel_count"), f"{where}cancel_count"),
        *(parse_amount(raw.get(name), f"{where}{name}", signed=True) for name in AMOUNTS),
    )


def hospital_totals(rows: Iterable[tuple[str, Totals]]) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for insutype, totals in rows:
        if insutype in out:
            raise InvalidInput("DUPLICATE_INSUTYPE", f"insutype {insutype} is given twice")
        out[insutype] = totals
    return out


def check_listing_size(size: int) -> None:
    if size > MAX_LINES:
        raise InvalidInput(
            "TOO_MANY_LINES", f"{size} lines sent; send at most {MAX_LINES:,} (split the range)"
        )


def check_listing(lines: Sequence[EventLine]) -> None:
    """At most MAX_LINES, and each (settlement id, event) once: a settlement settled and
    cancelled in the range is listed twice, once per event, never twice for one event."""
    check_listing_size(len(lines))
    seen: set[tuple[str, EventKind]] = set()
    for number, line in enumerate(lines, 1):
        if line.key in seen:
            raise InvalidInput(
                "DUPLICATE_SETTLEMENT",
                f"line {number}: {line.settlement_id} ({line.event.value}) is listed twice",
                line=number,
            )
        seen.add(line.key)
