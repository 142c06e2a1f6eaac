"""FHIR R4 (R4B models) on the wire: exact JSON, money, references, and validation.

Money is integer fen inside and yuan in FHIR (Money.value, currency CNY). Bodies are read with
every JSON number as a Decimal and written with every Decimal as it is ("12.30" stays 12.30),
so no float ever touches an amount; fhir.resources' own JSON output would print floats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from tongban.domain.calendar import SHANGHAI
from tongban.domain.money import Fen
from tongban.domain.national import fen_of_wire, wire_of_fen
from tongban.domain.regions import region as region_info
from tongban.entrypoints.observability import mask_ids
from tongban.errors import InvalidInput

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.3.0"  # R4B, the models of fhir.resources.R4B
CURRENCY = "CNY"

# Identifier and code systems of tongban's own values.
ID_NUMBER = "urn:tongban:id-number"  # resident ID number (身份证号), 18 characters
MASKED_ID_NUMBER = "urn:tongban:masked-id-number"  # first 6 and last 4 shown (DESIGN.md §5)
INSTITUTION = "urn:tongban:institution-code"
REGION = "urn:tongban:region"  # 6-digit region code (医保区划)
HUB = "urn:tongban:hub"
SETTLEMENT_ID = "urn:tongban:settlement-id"
VISIT_ID = "urn:tongban:visit-id"
CATALOGUE = "urn:tongban:catalogue"  # the visit region's catalogue codes
CATALOGUE_CLASS = "urn:tongban:catalogue-class"  # A / B / C, or none when not in it
ADJUDICATION = "urn:tongban:adjudication"  # the split's own field names (DESIGN.md §4.2)
MED_TYPE = "urn:tongban:med-type"  # outpatient / inpatient
INSUTYPE = "urn:tongban:insutype"  # 310 employees / 390 residents
ERROR_CODE = "urn:tongban:error-code"  # tongban's stable codes (FILING_REQUIRED, ...)
STATEMENT = "urn:tongban:statement"  # PERIOD/REGION
STATEMENT_DIGEST = "urn:tongban:statement-digest"  # SHA-256 of the signed canonical JSON
# Extensions (url = the element tongban adds).
EXT_USE_ACCOUNT = "urn:tongban:use-account"  # Claim: may the personal account pay (default)
EXT_EMERGENCY = "urn:tongban:emergency"  # CoverageEligibilityRequest: an emergency visit
EXT_FILING = "urn:tongban:filing"  # filing category (long_term/referral/emergency/other/none)
EXT_STATUS = "urn:tongban:settlement-status"  # SETTLED, UNKNOWN, CANCELLED, ...
EXT_HOME_REGION = "urn:tongban:home-region"
EXT_INSUTYPE = "urn:tongban:insutype"
EXT_ACCOUNT_BALANCE = "urn:tongban:account-balance"
EXT_SIGNATURE = "urn:tongban:hub-signature"  # Ed25519 over the statement's canonical JSON
# Standard code systems.
ADJUDICATION_STD = "http://terminology.hl7.org/CodeSystem/adjudication"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/payment-type"
EX_PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"

R = TypeVar("R", bound=Resource)


# --- exact JSON ------------------------------------------------------------------------------
def read_json(body: bytes) -> Any:
    """A request body with numbers as Decimal (the input guard has refused malformed JSON)."""
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError:  # no body at all, or one sent past the guard without a JSON type
        raise InvalidInput("INVALID_FHIR_RESOURCE", "the body is not a FHIR resource") from None


def dumps(value: Any) -> bytes:
    """JSON with each Decimal written exactly as it is; a float is a bug and refused."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("a float reached FHIR output: amounts are Decimal or int")
    return json.dumps(value, ensure_ascii=False)


def parse_resource(model: type[R], data: Any) -> R:
    """``data`` as a valid ``model`` resource of that resourceType, else 422
    INVALID_FHIR_RESOURCE naming the elements at fault (values not quoted: they may be IDs)."""
    name = model.get_resource_type()
    if not isinstance(data, dict) or data.get("resourceType") != name:
        raise InvalidInput("INVALID_FHIR_RESOURCE", f"the body must be a {name} resource")
    try:
        return model.model_validate(data)
    except (ValidationError, ValueError, TypeError) as exc:
        raise InvalidInput("INVALID_FHIR_RESOURCE", f"not a valid {name}: {_errors(exc)}") from None


def checked(model: type[Resource], data: dict[str, Any]) -> dict[str, Any]:
    """What we answer, validated as ``model`` first: a resource of ours that fails is a bug."""
    model.model_validate(data)
    return data


def _errors(exc: Exception) -> str:
    if not isinstance(exc, ValidationError):
        return mask_ids(str(exc))[:300]
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '(resource)'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False)[:10]
    ]
    return mask_ids("; ".join(parts))[:1000]


def unsupported(detail: str) -> InvalidInput:
    """Valid FHIR, but not what tongban can take (which element, and why)."""
    return InvalidInput("UNSUPPORTED_FHIR_CONTENT", detail)


# --- money -----------------------------------------------------------------------------------
def money(fen: Fen) -> dict[str, Any]:
    """Integer fen as FHIR Money: yuan with exactly two decimals."""
    return {"value": Decimal(wire_of_fen(fen)), "currency": CURRENCY}


def fen_of_money(value: Any, where: str, allow_negative: bool = False) -> Fen:
    """FHIR Money (a model with Decimal ``value``) as exact fen: more than two decimals,
    another currency or no value is refused, never rounded."""
    if value is None or value.value is None:
        raise unsupported(f"{where}: Money needs a value (yuan)")
    if value.currency not in (None, CURRENCY):
        raise unsupported(f"{where}: amounts are in {CURRENCY}, not {value.currency}")
    return fen_of_wire(value.value, where, allow_negative)


# --- references, codes, dates ----------------------------------------------------------------
def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    found = {"system": system, "code": code}
    return {**found, "display": display} if display else found


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)]}


def by_identifier(system: str, value: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"identifier": {"system": system, "value": value}}
    return {**ref, "display": display} if display else ref


def region_ref(code: str) -> dict[str, Any]:
    try:
        name = region_info(code).name_zh
    except KeyError:
        name = None
    return {"type": "Organization", **by_identifier(REGION, code, name)}


def institution_ref(code: str, name: str | None = None) -> dict[str, Any]:
    return {"type": "Organization", **by_identifier(INSTITUTION, code, name)}


def patient_ref(masked_id: str, masked_name: str | None) -> dict[str, Any]:
    """The patient as tongban answers her: masked (DESIGN.md §5), never the ID number."""
    return {"type": "Patient", **by_identifier(MASKED_ID_NUMBER, masked_id, masked_name)}


def identifier_value(ref: Any, system: str, where: str) -> str:
    """The value of a Reference's (or Identifier's) identifier of ``system``, else 422."""
    found = getattr(ref, "identifier", ref) if ref is not None else None
    if found is None or getattr(found, "system", None) != system or not found.value:
        raise unsupported(f"{where} must name its identifier with system {system}")
    return str(found.value)


def extension(resource: Any, url: str) -> Any:
    """The first extension of ``resource`` with this url, or None."""
    return next((e for e in resource.extension or () if e.url == url), None)


def moment(value: datetime) -> str:
    """A dateTime in Shanghai time, to the second."""
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


def day(value: date) -> str:
    return value.isoformat()


def is_fhir_id(value: str) -> bool:
    """FHIR ids are 1-64 of [A-Za-z0-9-.]; a settlement id may also hold '_'."""
    return 0 < len(value) <= 64 and all(c.isascii() and (c.isalnum() or c in "-.") for c in value)
