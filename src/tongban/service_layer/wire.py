"""The bodies of node-to-node messages: how domain values travel as JSON (fen, decimal strings)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tongban.canonical import canonical_json
from tongban.domain.catalogue import BillPieces, ClassifiedLine
from tongban.domain.clearing import SettlementEvent
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


def event_from_json(data: Any) -> SettlementEvent:
    try:
        moment = datetime.fromisoformat(str(data["occurred_at"]))
        if moment.tzinfo is None:
            raise ValueError("occurred_at needs a time zone")
        return SettlementEvent(
            visit_region=str(data["visit_region"]),
            settlement_id=str(data["settlement_id"]),
            event=EventKind(data["event"]),
            home_region=str(data["home_region"]),
            institution_code=str(data["institution_code"]),
            occurred_at=moment,
            medfee_sumamt=parse_fen(data["medfee_sumamt"], "medfee_sumamt"),
            hifp_pay=parse_fen(data["hifp_pay"], "hifp_pay"),
            acct_pay=parse_fen(data["acct_pay"], "acct_pay"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("BAD_REPORT", f"malformed settlement event: {exc}") from None
