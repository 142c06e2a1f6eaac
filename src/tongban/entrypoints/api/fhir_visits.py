"""FHIR Encounter ↔ a visit (门诊挂号 / 入院), and CoverageEligibilityRequest/Response ↔ the
eligibility check (docs/fhir.md).

Encounter.class AMB is an outpatient visit, IMP an admission, EMER an outpatient emergency;
priority EM flags any visit as an emergency (急诊, DESIGN.md §4.4). The patient is named by
her ID number (identifier system urn:tongban:id-number); tongban answers with her masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.coverageeligibilityrequest import CoverageEligibilityRequest
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.encounter import Encounter

from tongban.domain.policy import InsuType, MedType
from tongban.entrypoints.api.fhir_wire import (
    ACT_CODE,
    ACT_PRIORITY,
    ADJUDICATION,
    EXT_ACCOUNT_BALANCE,
    EXT_EMERGENCY,
    EXT_FILING,
    EXT_HOME_REGION,
    EXT_INSUTYPE,
    ID_NUMBER,
    INSTITUTION,
    INSUTYPE,
    MED_TYPE,
    VISIT_ID,
    by_identifier,
    checked,
    coding,
    concept,
    day,
    extension,
    identifier_value,
    institution_ref,
    moment,
    money,
    parse_resource,
    patient_ref,
    region_ref,
    unsupported,
)
from tongban.errors import Forbidden
from tongban.service_layer.commands import RegisterVisit
from tongban.service_layer.eligibility import CheckEligibility, Coverage
from tongban.service_layer.views import VisitView

CLASSES = {"AMB": ("outpatient", False), "IMP": ("inpatient", False), "EMER": ("outpatient", True)}
CLASS_NAMES = {"AMB": "ambulatory", "IMP": "inpatient encounter", "EMER": "emergency"}
INSUTYPE_NAMES = {
    InsuType.EMPLOYEE.value: "职工基本医疗保险",
    InsuType.RESIDENT.value: "城乡居民基本医疗保险",
}
NOT_COVERED = {
    "PERSON_NOT_LOCATED": "no member region of the network insures this person",
    "PERSON_NOT_FOUND": "the region the network names no longer insures this person",
    "NOT_CROSS_REGION": "insured in this region: settle locally, not across regions",
    "INSTITUTION_NOT_ENABLED": "this institution is not enabled for cross-region settlement",
}


# --- Encounter -------------------------------------------------------------------------------
def encounter_registration(data: Any, acting_for: str) -> RegisterVisit:
    encounter = parse_resource(Encounter, data)
    if encounter.modifierExtension:
        raise unsupported("Encounter.modifierExtension: none is understood here")
    if encounter.status in ("cancelled", "entered-in-error", "finished"):
        raise unsupported(
            f"Encounter.status {encounter.status}: a visit is registered as it starts"
        )
    kind = encounter.class_fhir
    if kind.system not in (None, ACT_CODE) or kind.code not in CLASSES:
        raise unsupported(f"Encounter.class is AMB, IMP or EMER of {ACT_CODE}")
    med_type, emergency = CLASSES[str(kind.code)]
    priorities = encounter.priority.coding or () if encounter.priority else ()
    emergency = emergency or any(c.system == ACT_PRIORITY and c.code == "EM" for c in priorities)
    id_number = identifier_value(encounter.subject, ID_NUMBER, "Encounter.subject")
    institution = acting_for
    if encounter.serviceProvider is not None:
        institution = identifier_value(
            encounter.serviceProvider, INSTITUTION, "Encounter.serviceProvider"
        )
    return RegisterVisit(institution, id_number, med_type, emergency)


def encounter_of(visit: VisitView) -> dict[str, Any]:
    """A visit as an Encounter: masked patient, the home region and filings as extensions."""
    if visit.med_type == MedType.INPATIENT.value:
        kind = "IMP"
    else:
        kind = "EMER" if visit.emergency else "AMB"
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": visit.visit_id,
        "extension": [
            {"url": EXT_HOME_REGION, "valueCode": visit.home_region},
            {"url": EXT_INSUTYPE, "valueCode": visit.insutype},
            *({"url": EXT_FILING, "valueCode": category} for category in visit.filed),
        ],
        "identifier": [{"system": VISIT_ID, "value": visit.visit_id}],
        "status": "in-progress",
        "class": coding(ACT_CODE, kind, CLASS_NAMES[kind]),
        "subject": patient_ref(visit.masked_id, visit.masked_name),
        "period": {"start": day(visit.visit_date)},
        "serviceProvider": institution_ref(visit.institution_code),
    }
    if visit.emergency:
        resource["priority"] = concept(ACT_PRIORITY, "EM", "emergency")
    return checked(Encounter, resource)


# --- CoverageEligibilityRequest / Response ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class EligibilityAsked:
    command: CheckEligibility
    purpose: list[str]
    request: dict[str, Any]  # the Reference to the request the response answers


def eligibility_request(data: Any, acting_for: str) -> EligibilityAsked:
    asked = parse_resource(CoverageEligibilityRequest, data)
    if asked.modifierExtension:
        raise unsupported("CoverageEligibilityRequest.modifierExtension: none is understood")
    if asked.status != "active":
        raise unsupported("CoverageEligibilityRequest.status: only an active request is answered")
    id_number = identifier_value(asked.patient, ID_NUMBER, "CoverageEligibilityRequest.patient")
    institution = acting_for
    if asked.provider is not None:
        institution = identifier_value(
            asked.provider, INSTITUTION, "CoverageEligibilityRequest.provider"
        )
    if institution != acting_for:
        raise Forbidden("INSTITUTION_MISMATCH", f"you are authenticated as {acting_for}")
    med_types: list[MedType] = []
    for i, item in enumerate(asked.item or ()):
        codes = (
            [c.code for c in (item.category.coding or ()) if c.system == MED_TYPE]
            if (item.category)
            else []
        )
        if len(codes) != 1 or codes[0] not in {m.value for m in MedType}:
            raise unsupported(
                f"CoverageEligibilityRequest.item[{i}].category is outpatient or inpatient "
                f"of {MED_TYPE}"
            )
        med_types.append(MedType(str(codes[0])))
    if asked.servicedPeriod is not None:
        raise unsupported("CoverageEligibilityRequest.servicedPeriod: ask for one servicedDate")
    flag = extension(asked, EXT_EMERGENCY)
    if flag is not None and flag.valueBoolean is None:
        raise unsupported(f"the extension {EXT_EMERGENCY} takes a valueBoolean")
    command = CheckEligibility(
        institution_code=institution,
        id_number=id_number,
        med_types=tuple(dict.fromkeys(med_types)) or (MedType.OUTPATIENT, MedType.INPATIENT),
        on=asked.servicedDate,
        emergency=bool(flag.valueBoolean) if flag is not None else False,
    )
    request: dict[str, Any] = {"type": "CoverageEligibilityRequest", "display": "the request"}
    if asked.id:
        request["reference"] = f"CoverageEligibilityRequest/{asked.id}"
    keys = [i for i in asked.identifier or () if i.system and i.value]
    if keys:
        request["identifier"] = {"system": keys[0].system, "value": keys[0].value}
    return EligibilityAsked(command, [str(p) for p in asked.purpose or ()], request)


def eligibility_response(
    coverage: Coverage, asked: EligibilityAsked, acting_for: str, now: datetime
) -> dict[str, Any]:
    """inforce: may settle directly here; per med_type, whether the home would refuse it
    without a filing (excluded, authorizationRequired) and the ratio it would apply."""
    home = coverage.home_region
    reason = coverage.reason
    disposition = (
        NOT_COVERED.get(reason or "", reason)
        if reason
        else (f"insured in {home}: direct settlement here on {coverage.on.isoformat()}")
    )
    insurance: dict[str, Any] = {
        "coverage": _coverage_ref(coverage),
        "inforce": coverage.covered,
        "extension": [{"url": EXT_FILING, "valueCode": category} for category in coverage.filed]
        or [{"url": EXT_FILING, "valueCode": "none"}],
    }
    if coverage.account_balance is not None:
        insurance["extension"].append(
            {"url": EXT_ACCOUNT_BALANCE, "valueMoney": money(coverage.account_balance)}
        )
    if coverage.benefits:
        insurance["item"] = [_benefit_item(b) for b in coverage.benefits]
    resource = {
        "resourceType": "CoverageEligibilityResponse",
        "status": "active",
        "purpose": asked.purpose,
        "patient": patient_ref(coverage.masked_id, coverage.masked_name),
        "servicedDate": day(coverage.on),
        "created": moment(now),
        "request": asked.request,
        "outcome": "complete",
        "disposition": disposition,
        "insurer": region_ref(home) if home else {"display": "no member region insures them"},
        "requestor": institution_ref(acting_for),
        "insurance": [insurance],
    }
    return checked(CoverageEligibilityResponse, resource)


def _coverage_ref(coverage: Coverage) -> dict[str, Any]:
    if coverage.insutype is None:
        return {"type": "Coverage", "display": "no cross-region coverage found"}
    name = INSUTYPE_NAMES.get(coverage.insutype)
    return {"type": "Coverage", **by_identifier(INSUTYPE, coverage.insutype, name)}


def _benefit_item(benefit: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "extension": [{"url": EXT_FILING, "valueCode": benefit.filing}],
        "category": concept(MED_TYPE, benefit.med_type.value),
        "excluded": benefit.refused is not None,
    }
    if benefit.refused == "FILING_REQUIRED":
        item["authorizationRequired"] = True  # a filing (备案) first, as a prior authorisation
        item["description"] = "refused without a filing (备案): file at the home region first"
    elif benefit.refused:
        item["description"] = f"not settled directly here ({benefit.refused})"
    else:
        item["authorizationRequired"] = False
        item["description"] = (
            f"the fund pays {benefit.ratio} of the policy-covered part above the deductible"
        )
        item["benefit"] = [
            {
                "type": concept(ADJUDICATION, "ratio_applied", "支付比例 the fund's ratio"),
                "allowedString": str(benefit.ratio),
            }
        ]
    return item
