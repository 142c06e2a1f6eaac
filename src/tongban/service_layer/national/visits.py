"""People and visits through the national interface: 1101, 2201/2401, 2203, 2402."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from tongban.domain import national_fields as f
from tongban.domain.calendar import local_date
from tongban.domain.national import Envelope, wire_of_fen
from tongban.domain.policy import MedType
from tongban.errors import InvalidInput
from tongban.service_layer.national.base import NationalBase
from tongban.service_layer.views import PersonAtHome


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class VisitTransactions(NationalBase):
    def person_info(self, env: Envelope, digest: str) -> dict[str, Any]:
        """1101 人员信息获取: who she is (masked), where she is insured, her balance."""
        data = f.section(env.input, "data")
        id_number = f.certificate(data, "data.")
        if id_number is None:
            raise f.bad("data.mdtrt_cert_no", "send mdtrt_cert_type 02 with the ID number, or "
                        "psn_cert_type 01 with certno")
        person = self.visit.identify(id_number, env.fixmedins_code)
        self._same_home(env, person.home_region)
        return _person_output(person, local_date(self.clock()))

    def register_outpatient(self, env: Envelope, digest: str) -> dict[str, Any]:
        """2201 门诊挂号: the visit's mdtrt_id is tongban's visit id."""
        data = f.section(env.input, "data")
        visit_id, psn_no = self._register(env, data, MedType.OUTPATIENT, False, "data.")
        output = {"data": {"mdtrt_id": visit_id, "psn_no": psn_no,
                           "ipt_otp_no": f.text(data, "ipt_otp_no", required=False) or ""}}
        self._record(env, digest, output, mdtrt_id=visit_id)
        return output

    def admit(self, env: Envelope, digest: str) -> dict[str, Any]:
        """2401 入院办理: an inpatient visit (med_type 24 counts as an emergency)."""
        info = f.section(env.input, "mdtrtinfo")
        kind = f.med_type(info, where="mdtrtinfo.")
        if kind is not None and kind[0] is not MedType.INPATIENT:
            raise f.bad("mdtrtinfo.med_type", "2401 admits inpatients (21-24)", "MED_TYPE_MISMATCH")
        emergency = kind[1] if kind else False
        visit_id, psn_no = self._register(env, info, MedType.INPATIENT, emergency, "mdtrtinfo.")
        output = {"result": {"mdtrt_id": visit_id, "psn_no": psn_no,
                             "ipt_otp_no": f.text(info, "ipt_no", required=False) or ""}}
        self._record(env, digest, output, mdtrt_id=visit_id)
        return output

    def visit_info(self, env: Envelope, digest: str) -> dict[str, Any]:
        """2203 就诊信息上传: the visit's med_type; 13 (急诊) makes it an emergency visit."""
        info = f.section(env.input, "mdtrtinfo")
        mdtrt_id = f.required_text(info, "mdtrt_id", max_length=40, where="mdtrtinfo.")
        view, record = self._own_visit(env, mdtrt_id)
        self._same_person(info, record.pseudonym, "mdtrtinfo.")
        kind = f.med_type(info, where="mdtrtinfo.")
        if kind is None:
            raise f.bad("mdtrtinfo.med_type", "is required")
        if kind[0].value != view.med_type:
            raise f.bad("mdtrtinfo.med_type", f"{kind[2]} does not fit a {view.med_type} visit",
                        "MED_TYPE_MISMATCH")
        if kind[1]:
            self.visit.mark_emergency(mdtrt_id, env.fixmedins_code)
        self._record(env, digest, {}, mdtrt_id=mdtrt_id)
        return {}

    def discharge(self, env: Envelope, digest: str) -> dict[str, Any]:
        """2402 出院办理: recorded; the stay is settled by 2304 over its uploaded details."""
        info = f.section(env.input, "dscginfo")
        mdtrt_id = f.required_text(info, "mdtrt_id", max_length=40, where="dscginfo.")
        view, record = self._own_visit(env, mdtrt_id)
        self._same_person(info, record.pseudonym, "dscginfo.")
        if view.med_type != MedType.INPATIENT.value:
            raise f.bad("dscginfo.mdtrt_id", "is not an inpatient stay", "MED_TYPE_MISMATCH")
        self._record(env, digest, {}, mdtrt_id=mdtrt_id)
        return {}

    # --- helpers --------------------------------------------------------------------------
    def _register(self, env: Envelope, obj: Mapping[str, Any], med_type: MedType,
                  emergency: bool, where: str) -> tuple[str, str]:
        """Register the visit; its mdtrt_id and the person's psn_no."""
        id_number = f.certificate(obj, where)
        if id_number is None:
            raise f.bad(f"{where}mdtrt_cert_no", "send mdtrt_cert_type 02 with the ID number")
        person = self.visit.identify(id_number, env.fixmedins_code)
        self._same_home(env, person.home_region)
        self._same_person(obj, person.pseudonym, where)
        insutype = f.text(obj, "insutype", required=False, max_length=3, where=where)
        if insutype is not None and insutype != person.insutype:
            raise InvalidInput("INSUTYPE_MISMATCH", f"{where}insutype {insutype} is not the "
                               f"person's ({person.insutype})", field=f"{where}insutype")
        view = self.visit.register_person(person, med_type, emergency, env.fixmedins_code)
        return view.visit_id, f.psn_no_of(person.pseudonym)


def _person_output(person: PersonAtHome, today: date) -> dict[str, Any]:
    resident = person.resident
    return {
        "baseinfo": {
            "psn_no": f.psn_no_of(person.pseudonym),
            "psn_cert_type": f.ID_CARD_PSN_CERT,
            "certno": person.masked_id,
            "psn_name": person.masked_name,
            "gend": "2" if resident.is_female else "1",  # GB/T 2261.1: 1 男, 2 女
            "brdy": resident.birth_date.isoformat(),
            "age": _age(resident.birth_date, today),
        },
        "insuinfo": [{
            "insutype": person.insutype,
            "insuplc_admdvs": person.home_region,
            "psn_insu_stas": "1",  # 正常参保: the home region answered for her
            "balc": wire_of_fen(person.account_balance or 0),
            # tongban's own: the filing categories that cover this region today (备案)
            "filed": list(person.filed),
        }],
        "idetinfo": [],
    }
