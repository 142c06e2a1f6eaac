"""The bodies of node-to-node messages: how domain values travel as JSON (fen, decimal strings)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tongban.canonical import canonical_json
from tongban.domain.catalogue import BillPieces, ClassifiedLine
from tongban.domain.clearing import SettlementEvent
from tongban.domain.identifiers import parse_institution_code, parse_region_code
from tongban.domain.ledger import EventKind
from tongban.domain.money import format_ratio, parse_fen
from tongban.domain.policy import Split, StateDelta
from tongban.errors import InvalidInput

PIECE_FIELDS = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def pieces_to_json(pieces: BillPieces) -> dict[str, int]:
    return {name: getattr(pieces, name) for name in PIECE_FIELDS}


def pieces_from_json(data: Any) -> BillPieces:
    if not isinstance(data, Mapping):
        raise InvalidInput("BAD_MESSAGE", "pieces must be an object")
    try:
        values = {name: parse_fen(data[name], name) for name in PIECE_FIELDS}
    except (KeyError, ValueError) as exc:
        raise InvalidInput("BAD_MESSAGE", f"pieces: {exc}") from None
    if any(v < 0 for v in values.values()):
        raise InvalidInput("BAD_MESSAGE", "pieces must not be negative")
    return BillPieces(**values)


def split_to_json(split: Split) -> dict[str, Any]:
    out = asdict(split)
    out["ratio_applied"] = format_ratio(split.ratio_applied)
    return out


def split_from_json(data: Mapping[str, Any]) -> Split:
    values = dict(data)
    values["ratio_applied"] = Decimal(str(values["ratio_applied"]))
    return Split(**values)


def delta_to_json(delta: StateDelta) -> str:
    return json.dumps(asdict(delta))


def delta_from_json(text: str) -> StateDelta:
    return StateDelta(**json.loads(text))


def line_to_json(line: ClassifiedLine) -> dict[str, Any]:
    return {
        "code": line.code,
        "name": line.name,
        "class": line.coverage.value if line.coverage else None,
        "quantity": str(line.quantity),
        "unit_price": line.unit_price,
        "amount": line.amount,
        **pieces_to_json(line.pieces),
    }


# --- clearing: settlement events in period reports --------------------------------------------
def event_to_json(event: SettlementEvent) -> dict[str, Any]:
    return {
        "visit_region": event.visit_region,
        "settlement_id": event.settlement_id,
        "event": event.event.value,
        "home_region": event.home_region,
        "institution_code": event.institution_code,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
        "medfee_sumamt": event.medfee_sumamt,
        "hifp_pay": event.hifp_pay,
        "acct_pay": event.acct_pay,
    }


_SETTLEMENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # the settle endpoint's rule
_EVENT_TEXTS = ("visit_region", "settlement_id", "event", "home_region", "institution_code",
                "occurred_at")  # fmt: skip
_EVENT_AMOUNTS = ("medfee_sumamt", "hifp_pay", "acct_pay")


def event_from_json(data: Any) -> SettlementEvent:
    """An event of a period report, exactly as ``event_to_json`` writes it, or ``BAD_REPORT``.

    Codes must be strings of their own shape (never ``str()`` of something else: a null region
    would become the region "None"), amounts positive fen below 10^15, the moment aware.
    """
    try:
        texts = {name: data[name] for name in _EVENT_TEXTS}
        if not all(isinstance(v, str) for v in texts.values()):
            raise ValueError(f"{', '.join(_EVENT_TEXTS)} are strings")
        parse_region_code(texts["visit_region"])
        parse_region_code(texts["home_region"])
        parse_institution_code(texts["institution_code"])
        if not _SETTLEMENT_ID.fullmatch(texts["settlement_id"]):
            raise ValueError("a settlement id is 1-64 letters, digits, '-', '_' or '.'")
        moment = datetime.fromisoformat(texts["occurred_at"])
        if moment.utcoffset() is None:
            raise ValueError("occurred_at needs a time zone")
        moment.astimezone(UTC)  # a moment at the calendar's edge cannot be written back
        amounts = {name: parse_fen(data[name], name) for name in _EVENT_AMOUNTS}
        if any(amount < 0 for amount in amounts.values()):
            raise ValueError("amounts of an event are positive fen; the event gives the sign")
        return SettlementEvent(
            visit_region=texts["visit_region"],
            settlement_id=texts["settlement_id"],
            event=EventKind(texts["event"]),
            home_region=texts["home_region"],
            institution_code=texts["institution_code"],
            occurred_at=moment,
            **amounts,
        )
    except (KeyError, TypeError, ValueError, OverflowError, InvalidInput) as exc:
        raise InvalidInput("BAD_REPORT", f"malformed settlement event: {exc}") from None
