"""FHIR Claim → tongban's bill, and tongban's split → FHIR ClaimResponse (docs/fhir.md).

A Claim's items are the bill's lines (catalogue code, quantity, unit price in yuan, optional
net that must equal quantity × unit price), all for one Encounter (the visit). ``use`` claim
settles, with the Claim's identifier (system urn:tongban:settlement-id) as the idempotency
key; predetermination and preauthorization preview, charging nothing.

The ClaimResponse carries the whole split (DESIGN.md §4.2) as adjudications, money always in
``amount``: per item submitted (the line's amount) and eligible (its policy-covered part) with
the line's self-paid pieces; in total submitted = medfee_sumamt, eligible = inscp_scp_amt,
deductible = act_pay_dedc, copay = inscp_scp_amt − act_pay_dedc − hifp_pay, benefit =
hifp_pay, and tongban's own categories for the rest; the ratio applied, a plain number, in
``value`` (eligpercent 65 and ratio_applied 0.65). payment.amount is what the home region
pays: hifp_pay + acct_pay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.claim import Claim
from fhir.resources.R4B.claimresponse import ClaimResponse

from tongban.domain.catalogue import BillLine, line_amount
from tongban.domain.money import parse_decimal
from tongban.entrypoints.api.fhir_wire import (
    ADJUDICATION,
    ADJUDICATION_STD,
    CATALOGUE,
    CATALOGUE_CLASS,
    CLAIM_TYPE,
    ERROR_CODE,
    EX_PAYMENT_TYPE,
    EXT_FILING,
    EXT_STATUS,
    EXT_USE_ACCOUNT,
    ID_NUMBER,
    INSTITUTION,
    SETTLEMENT_ID,
    checked,
    concept,
    day,
    extension,
    fen_of_money,
    identifier_value,
    institution_ref,
    is_fhir_id,
    moment,
    money,
    parse_resource,
    patient_ref,
    region_ref,
    unsupported,
)
from tongban.errors import Forbidden, InvalidInput
from tongban.service_layer.records import VisitStatus
from tongban.service_layer.views import Preview, SettlementView, VisitView

MAX_ITEMS = 500  # as tongban's own API
SETTLING_USE = "claim"
PREVIEW_USES = ("predetermination", "preauthorization")
_ITEM_CODE = re.compile(r"[A-Za-z0-9._-]{1,32}")  # tongban's own rule for catalogue codes
# Encounter/<visit id>, relative or as an absolute URL on this server (fhirpy writes either).
_ENCOUNTER = re.compile(r"(?:.*/)?Encounter/([A-Za-z0-9._-]{1,64})")

# The split's own pieces (tongban categories), with what they mean.
TONGBAN_CATEGORIES = {
    "fulamt_ownpay_amt": "全自费 fully self-paid (not covered)",
    "overlmt_selfpay": "超限价自费 over the price cap",
    "preselfpay_amt": "先行自付 up-front self-pay share",
    "acct_pay": "个人账户支付 paid from the personal account",
    "psn_part_amt": "个人负担 the patient's part",
    "psn_cash_pay": "个人现金支付 paid in cash at the counter",
    "balc": "个人账户余额 personal account balance after",
}
LINE_PIECES = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")


@dataclass(frozen=True, slots=True)
class ClaimSubmission:
    """What a Claim asks of tongban."""

    use: str
    settlement_id: str | None
    visit_id: str
    id_number: str
    lines: tuple[BillLine, ...]
    use_account: bool

    @property
    def settles(self) -> bool:
        return self.use == SETTLING_USE


def claim_submission(data: Any, acting_for: str) -> ClaimSubmission:
    """A Claim resource (parsed JSON, numbers as Decimal) as a bill, or a 4xx error."""
    claim = parse_resource(Claim, data)
    if claim.modifierExtension:
        raise unsupported("Claim.modifierExtension: none is understood here")
    if claim.status != "active":
        raise unsupported("Claim.status: only an active claim is adjudicated")
    if claim.use not in (SETTLING_USE, *PREVIEW_USES):
        raise unsupported("Claim.use: claim (settle) or predetermination/preauthorization")
    provider = identifier_value(claim.provider, INSTITUTION, "Claim.provider")
    if provider != acting_for:
        raise Forbidden("INSTITUTION_MISMATCH", f"you are authenticated as {acting_for}")
    id_number = identifier_value(claim.patient, ID_NUMBER, "Claim.patient")
    settlement_id = next(
        (str(i.value) for i in claim.identifier or () if i.system == SETTLEMENT_ID and i.value),
        None,
    )
    if claim.use == SETTLING_USE and settlement_id is None:
        raise unsupported(
            f"Claim.identifier: a claim to settle needs its settlement id (system "
            f"{SETTLEMENT_ID}), the key that makes a resubmission safe"
        )
    lines, visit_id = _lines(claim)
    if claim.total is not None:
        total = fen_of_money(claim.total, "Claim.total")
        computed = sum(line_amount(line, i) for i, line in enumerate(lines))
        if total != computed:
            raise InvalidInput(
                "AMOUNT_MISMATCH",
                f"Claim.total {total} fen is not the sum of the items' amounts, {computed} fen",
            )
    return ClaimSubmission(
        use=str(claim.use),
        settlement_id=settlement_id,
        visit_id=visit_id,
        id_number=id_number,
        lines=lines,
        use_account=_use_account(claim),
    )


def _lines(claim: Any) -> tuple[tuple[BillLine, ...], str]:
    items = claim.item or []
    if not 1 <= len(items) <= MAX_ITEMS:
        raise unsupported(f"Claim.item: a claim has 1 to {MAX_ITEMS} items")
    lines, visits = [], set()
    for i, item in enumerate(items):
        where = f"Claim.item[{i}]"
        if item.sequence != i + 1:
            raise unsupported(f"{where}.sequence must be {i + 1}: items go in order 1, 2, ...")
        if item.modifierExtension:
            raise unsupported(f"{where}.modifierExtension: none is understood here")
        if item.factor is not None and item.factor != 1:
            raise unsupported(f"{where}.factor: only 1 (the net is quantity × unit price)")
        codes = [c.code for c in item.productOrService.coding or () if c.system == CATALOGUE]
        if len(codes) != 1 or not isinstance(codes[0], str):
            raise unsupported(f"{where}.productOrService needs one coding of system {CATALOGUE}")
        if not _ITEM_CODE.fullmatch(codes[0]):
            raise InvalidInput("INVALID_LINE", f"line {i + 1}: not a catalogue code", line=i)
        quantity = item.quantity
        if quantity is None or quantity.value is None or quantity.comparator is not None:
            raise unsupported(f"{where}.quantity needs a value (and no comparator)")
        try:
            count = parse_decimal(quantity.value, "quantity")
        except ValueError as exc:
            raise InvalidInput("INVALID_LINE", f"line {i + 1}: {exc}", line=i) from None
        unit_price = fen_of_money(item.unitPrice, f"{where}.unitPrice")
        net = None if item.net is None else fen_of_money(item.net, f"{where}.net")
        for ref in item.encounter or ():
            found = _ENCOUNTER.fullmatch(ref.reference or "")
            if found is None:
                raise unsupported(f"{where}.encounter is a reference Encounter/<visit id>")
            visits.add(found.group(1))
        lines.append(BillLine(codes[0], count, unit_price, net))
    if len(visits) != 1:
        raise unsupported("Claim.item.encounter: the items name one Encounter, the visit")
    return tuple(lines), visits.pop()


def _use_account(claim: Any) -> bool:
    found = extension(claim, EXT_USE_ACCOUNT)
    if found is None:
        return True  # as tongban's own API: the account pays what the policy lets it
    if found.valueBoolean is None:
        raise unsupported(f"the extension {EXT_USE_ACCOUNT} takes a valueBoolean")
    return bool(found.valueBoolean)


# --- ClaimResponse ---------------------------------------------------------------------------
def settlement_response(view: SettlementView, visit: VisitView) -> dict[str, Any]:
    """A settlement, in whatever state it is, as its ClaimResponse."""
    status = view.status
    # The home's commit time when there is one; the day otherwise (a dateTime may be a date).
    created = moment(view.settled_at) if view.settled_at else day(view.settled_on)
    sid = view.settlement_id
    key = {"system": SETTLEMENT_ID, "value": sid}
    base = {
        "resourceType": "ClaimResponse",
        **({"id": sid} if is_fhir_id(sid) else {}),  # else read it by identifier only
        **_base(visit, SETTLING_USE, created),
        "identifier": [key],
        "request": {"type": "Claim", "identifier": key},
        "extension": [{"url": EXT_STATUS, "valueCode": status.value}],
    }
    if status in (VisitStatus.PENDING, VisitStatus.UNKNOWN):
        base |= {
            "outcome": "queued",
            "disposition": "the home region has not answered yet: nothing is final. Submit the "
            "same Claim again (same settlement id, same content) or read this ClaimResponse "
            "later; it is never lost and never charged twice",
        }
    elif status in (VisitStatus.REFUSED, VisitStatus.VOIDED):
        code = view.error_code or "SETTLEMENT_VOIDED"
        base |= {
            "outcome": "error",
            "disposition": view.error_detail or code,
            "error": [{"code": concept(ERROR_CODE, code)}],
        }
    else:
        assert view.split is not None
        cancelled = status is VisitStatus.CANCELLED
        disposition = {
            VisitStatus.SETTLED: "settled",
            VisitStatus.CANCELLING: "settled; a cancel is on its way to the home region",
            VisitStatus.CANCELLED: "cancelled: the home region restored what it took",
        }[status]
        base |= {
            "status": "cancelled" if cancelled else "active",
            "outcome": "complete",
            "disposition": disposition,
            **_adjudicated(view.split, view.lines),
        }
        if not cancelled:
            paid = view.split["hifp_pay"] + view.split["acct_pay"]
            base["payment"] = {
                "type": concept(EX_PAYMENT_TYPE, "complete"),
                "date": day(view.settled_on),
                "amount": money(paid),
            }
    return checked(ClaimResponse, base)


def preview_response(
    preview: Preview, visit: VisitView, submission: ClaimSubmission, now: datetime
) -> dict[str, Any]:
    """A preview (预结算) as the ClaimResponse of a predetermination: nothing was charged."""
    base = _base(visit, submission.use, moment(now))
    if submission.settlement_id:
        key = {"system": SETTLEMENT_ID, "value": submission.settlement_id}
        base["request"] = {"type": "Claim", "identifier": key}
    base |= {
        "outcome": "complete",
        "disposition": "preview (预结算): nothing was charged",
        "extension": [{"url": EXT_FILING, "valueCode": preview.filing or "none"}],
        **_adjudicated(preview.split, preview.lines),
    }
    return checked(ClaimResponse, base)


def _base(visit: VisitView, use: str, created: str) -> dict[str, Any]:
    kind = "institutional" if visit.med_type == "inpatient" else "professional"
    return {
        "resourceType": "ClaimResponse",
        "status": "active",
        "type": concept(CLAIM_TYPE, kind),
        "use": use,
        "patient": patient_ref(visit.masked_id, visit.masked_name),
        "created": created,
        "insurer": region_ref(visit.home_region),
        "requestor": institution_ref(visit.institution_code),
    }


def _adjudication(category: str, fen: int, reason: str | None = None) -> dict[str, Any]:
    if category in TONGBAN_CATEGORIES:
        coded = concept(ADJUDICATION, category, TONGBAN_CATEGORIES[category])
    else:
        coded = concept(ADJUDICATION_STD, category)
    found: dict[str, Any] = {"category": coded}
    if reason is not None:
        found["reason"] = concept(CATALOGUE_CLASS, reason)
    return {**found, "amount": money(fen)}


def _adjudicated(split: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """item[], adjudication[] (the ratio) and total[] of a split and its classified lines."""
    items = [
        {
            "itemSequence": i + 1,
            "adjudication": [
                _adjudication("submitted", line["amount"]),
                _adjudication("eligible", line["inscp_scp_amt"], line.get("class") or "none"),
                *(_adjudication(name, line[name]) for name in LINE_PIECES),
            ],
        }
        for i, line in enumerate(lines)
    ]
    copay = split["inscp_scp_amt"] - split["act_pay_dedc"] - split["hifp_pay"]
    totals = [
        _adjudication("submitted", split["medfee_sumamt"]),
        _adjudication("eligible", split["inscp_scp_amt"]),
        _adjudication("deductible", split["act_pay_dedc"]),
        _adjudication("copay", copay),
        _adjudication("benefit", split["hifp_pay"]),
        *(_adjudication(name, split[name]) for name in TONGBAN_CATEGORIES),
    ]
    ratio = Decimal(str(split["ratio_applied"]))
    ratios = [  # plain numbers, in ``value``: FHIR's percentage, and tongban's own ratio
        {"category": concept(ADJUDICATION_STD, "eligpercent"), "value": (ratio * 100).normalize()},
        {
            "category": concept(ADJUDICATION, "ratio_applied", "支付比例 the fund's ratio applied"),
            "value": ratio,
        },
    ]
    return {
        "item": items,
        "adjudication": ratios,
        "total": [{"category": t["category"], "amount": t["amount"]} for t in totals],
    }
