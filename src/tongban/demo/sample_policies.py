"""Sample home-side policies (参保地政策) for every YRD region: 12 rows each.

Rows are insutype {310 职工, 390 城乡居民} × med_type {门诊, 住院} × institution level {1, 2, 3}.
Values are SAMPLE parameters in plausible ranges, varied a little per region from SHA-256 of
the region code, so each city differs but every run gives the same numbers:

- higher institution level → lower ratio (支付比例) and, for inpatients, a higher 起付线;
- outpatient deductible is per year, so it is the same for the three levels of one insutype;
- employees who go without filing (未备案) are settled with a reduction; residents are refused
  (``unfiled=None`` → FILING_REQUIRED);
- the personal account (个人账户) exists for employees only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from functools import cache

from tongban.domain.identifiers import parse_region_code
from tongban.domain.money import Fen
from tongban.domain.policy import AccountPiece, InsuType, MedType, Policy, Reduction

SAMPLE_NOTICE = "sample parameters for demonstration, not any region's published policy"

LEVELS = (1, 2, 3)


def _pick(region: str, what: str, n: int) -> int:
    """A deterministic choice in 0..n-1 for this region and parameter."""
    digest = hashlib.sha256(f"policy|{region}|{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def _d(text: str) -> Decimal:
    return Decimal(text)


# Ratio choices per level, highest level last: a region picks one value per level. Ranges
# of neighbouring levels touch but do not cross, so a higher level never pays a higher ratio.
_RatioChoices = Mapping[int, tuple[str, ...]]
_EMPLOYEE_OUT_RATIO: _RatioChoices = {
    1: ("0.85", "0.90"), 2: ("0.80", "0.85"), 3: ("0.70", "0.75", "0.80"),
}  # fmt: skip
_EMPLOYEE_IN_RATIO: _RatioChoices = {
    1: ("0.88", "0.90"), 2: ("0.85", "0.88"), 3: ("0.80", "0.85"),
}  # fmt: skip
_RESIDENT_OUT_RATIO: _RatioChoices = {
    1: ("0.60", "0.65", "0.70"), 2: ("0.55", "0.60"), 3: ("0.50", "0.55"),
}  # fmt: skip
_RESIDENT_IN_RATIO: _RatioChoices = {
    1: ("0.65", "0.70"), 2: ("0.60", "0.65"), 3: ("0.50", "0.55"),
}  # fmt: skip

# Inpatient deductible per admission (fen), (lowest, step) per level; 8 steps per region.
_EMPLOYEE_IN_DEDUCTIBLE = {1: (30000, 2500), 2: (60000, 5000), 3: (100000, 7000)}
_RESIDENT_IN_DEDUCTIBLE = {1: (30000, 2500), 2: (60000, 5000), 3: (100000, 5000)}

_EMPLOYEE_OUT_ACCOUNT = frozenset(
    {AccountPiece.DEDUCTIBLE, AccountPiece.COPAY, AccountPiece.PRESELFPAY}
)
_EMPLOYEE_IN_ACCOUNT = frozenset(AccountPiece)


def _half(fen: Fen) -> Fen:
    """About half, in whole yuan: 起付线 from the 2nd admission of the year."""
    return fen // 200 * 100


def _ratio(region: str, key: str, choices: _RatioChoices, level: int) -> Decimal:
    options = choices[level]
    return _d(options[_pick(region, f"{key}-ratio-{level}", len(options))])


def _reductions(region: str) -> tuple[Reduction, Reduction]:
    """(employees, residents). 转诊 and 急诊 take 10 points, 其他临时外出 15 or 20."""
    other = _d(("0.15", "0.20")[_pick(region, "other", 2)])
    unfiled = max(other, _d(("0.20", "0.25")[_pick(region, "unfiled", 2)]))
    ten = _d("0.10")
    employees = Reduction(referral=ten, emergency=ten, other=other, unfiled=unfiled)
    residents = Reduction(referral=ten, emergency=ten, other=other, unfiled=None)
    return employees, residents


@cache
def sample_policies(region_code: str) -> tuple[Policy, ...]:
    """The 12 sample policy rows of a home region (参保地), in a fixed order."""
    region = parse_region_code(region_code)
    employee_reduction, resident_reduction = _reductions(region)
    # Per-region yearly figures, in fen; outpatient caps 10,000-50,000 yuan for employees.
    emp_out_deductible = 100000 + 10000 * _pick(region, "emp-out-ded", 9)  # 1,000-1,800 yuan
    emp_out_cap = 1000000 + 500000 * _pick(region, "emp-out-cap", 9)  # 10,000-50,000 yuan
    emp_in_cap = 30000000 + 5000000 * _pick(region, "emp-in-cap", 7)  # 300,000-600,000 yuan
    res_out_deductible = 10000 + 5000 * _pick(region, "res-out-ded", 5)  # 100-300 yuan
    res_out_cap = 200000 + 50000 * _pick(region, "res-out-cap", 9)  # 2,000-6,000 yuan
    res_in_cap = 15000000 + 2500000 * _pick(region, "res-in-cap", 7)  # 150,000-300,000 yuan

    rows: list[Policy] = []
    for level in LEVELS:
        low, step = _EMPLOYEE_IN_DEDUCTIBLE[level]
        emp_in_deductible = low + step * _pick(region, f"emp-in-ded-{level}", 8)
        low, step = _RESIDENT_IN_DEDUCTIBLE[level]
        res_in_deductible = low + step * _pick(region, f"res-in-ded-{level}", 8)
        rows += [
            Policy(
                insutype=InsuType.EMPLOYEE.value,
                med_type=MedType.OUTPATIENT,
                deductible=emp_out_deductible,
                ratio=_ratio(region, "emp-out", _EMPLOYEE_OUT_RATIO, level),
                annual_cap=emp_out_cap,
                reduction=employee_reduction,
                account_covers=_EMPLOYEE_OUT_ACCOUNT,
                level=level,
            ),
            Policy(
                insutype=InsuType.EMPLOYEE.value,
                med_type=MedType.INPATIENT,
                deductible=emp_in_deductible,
                ratio=_ratio(region, "emp-in", _EMPLOYEE_IN_RATIO, level),
                annual_cap=emp_in_cap,
                reduction=employee_reduction,
                account_covers=_EMPLOYEE_IN_ACCOUNT,
                deductible_subsequent=_half(emp_in_deductible),
                level=level,
            ),
            Policy(
                insutype=InsuType.RESIDENT.value,
                med_type=MedType.OUTPATIENT,
                deductible=res_out_deductible,
                ratio=_ratio(region, "res-out", _RESIDENT_OUT_RATIO, level),
                annual_cap=res_out_cap,
                reduction=resident_reduction,
                level=level,
            ),
            Policy(
                insutype=InsuType.RESIDENT.value,
                med_type=MedType.INPATIENT,
                deductible=res_in_deductible,
                ratio=_ratio(region, "res-in", _RESIDENT_IN_RATIO, level),
                annual_cap=res_in_cap,
                reduction=resident_reduction,
                deductible_subsequent=_half(res_in_deductible),
                level=level,
            ),
        ]
    order = (MedType.OUTPATIENT, MedType.INPATIENT)
    return tuple(sorted(rows, key=lambda p: (p.insutype, order.index(p.med_type), p.level or 0)))


def policy_for(region_code: str, insutype: str, med_type: MedType, level: int) -> Policy:
    """The one sample row for (insutype, med_type, level); KeyError if there is none."""
    for policy in sample_policies(region_code):
        if (policy.insutype, policy.med_type, policy.level) == (insutype, med_type, level):
            return policy
    raise KeyError((region_code, insutype, med_type, level))
