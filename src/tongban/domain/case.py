"""The offline case format of ``tongban calc`` and the golden files (DESIGN.md §4.3).

``run_case`` takes the parsed JSON of one case and returns the split as a JSON-ready dict, or
``{"error": CODE}``. A case that cannot be read at all raises ``CaseFormatError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from tongban.domain.catalogue import BillLine, CatalogueItem, CoverageClass, classify
from tongban.domain.money import format_ratio, parse_decimal, parse_fen, parse_ratio
from tongban.domain.policy import (
    AccountPiece,
    FilingCategory,
    InsuType,
    MedType,
    PersonState,
    Policy,
    Reduction,
    Split,
    compute_split,
)
from tongban.errors import InvalidInput, TongbanError


class CaseFormatError(ValueError):
    """The case is not in the §4.3 format (missing section, wrong type, unknown enum)."""


def split_as_json(split: Split) -> dict[str, Any]:
    out = asdict(split)
    out["ratio_applied"] = format_ratio(split.ratio_applied)
    return out


def _section(case: Mapping[str, Any], name: str) -> Any:
    if name not in case:
        raise CaseFormatError(f"the case has no {name!r} section")
    return case[name]


def parse_catalogue(raw: Any) -> dict[str, CatalogueItem]:
    if not isinstance(raw, Mapping):
        raise CaseFormatError("'catalog' must be an object of code -> item")
    items: dict[str, CatalogueItem] = {}
    try:
        for code, item in raw.items():
            cap = item.get("price_cap")
            name = item.get("name", "")
            if not isinstance(name, str):
                raise TypeError(f"the name of {code!r} must be a string")
            items[code] = CatalogueItem(
                code=code,
                name=name,
                coverage=CoverageClass(item["class"]),
                selfpay_ratio=parse_ratio(item.get("selfpay_ratio", "0"), "selfpay_ratio"),
                price_cap=None
                if cap is None
                else _non_negative(parse_fen(cap, "price_cap"), "price_cap"),
            )
    except (KeyError, ValueError, AttributeError, TypeError) as exc:
        raise CaseFormatError(f"catalogue item: {exc}") from None
    return items


def _non_negative(value: int, what: str) -> int:
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


def parse_policy(raw: Any) -> Policy:
    try:
        reduction = raw.get("reduction") or {}
        unfiled = reduction.get("unfiled")
        subsequent = raw.get("deductible_subsequent")
        # Strings and numbers of their own kinds, never str() or int() of something else.
        insutype, level, covers = raw["insutype"], raw.get("level"), raw.get("account_covers", [])
        if not isinstance(insutype, str) or insutype not in {t.value for t in InsuType}:
            raise ValueError(f"insutype must be '310' or '390', got {insutype!r}")
        if level is not None and (type(level) is not int or not 1 <= level <= 3):
            raise ValueError(f"level must be 1, 2 or 3, got {level!r}")
        if not isinstance(covers, list):
            raise TypeError("account_covers must be a list")
        return Policy(
            insutype=insutype,
            med_type=MedType(raw["med_type"]),
            deductible=_non_negative(parse_fen(raw["deductible"], "deductible"), "deductible"),
            ratio=parse_ratio(raw["ratio"]),
            annual_cap=_non_negative(parse_fen(raw["annual_cap"], "annual_cap"), "annual_cap"),
            reduction=Reduction(
                referral=parse_ratio(reduction.get("referral", "0"), "reduction.referral"),
                emergency=parse_ratio(reduction.get("emergency", "0"), "reduction.emergency"),
                other=parse_ratio(reduction.get("other", "0"), "reduction.other"),
                unfiled=None if unfiled is None else parse_ratio(unfiled, "reduction.unfiled"),
            ),
            account_covers=frozenset(AccountPiece(p) for p in covers),
            deductible_subsequent=(
                None
                if subsequent is None
                else _non_negative(
                    parse_fen(subsequent, "deductible_subsequent"), "deductible_subsequent"
                )
            ),
            level=level,
        )
    except (KeyError, ValueError, AttributeError, TypeError) as exc:
        raise CaseFormatError(f"policy: {exc}") from None


def parse_state(raw: Any) -> PersonState:
    try:
        values = {
            name: _non_negative(parse_fen(raw.get(name, 0), name), name)
            for name in ("deductible_used", "fund_paid", "account_balance", "admissions")
        }
        return PersonState(**values)
    except (ValueError, AttributeError) as exc:
        raise CaseFormatError(f"state: {exc}") from None


def parse_line(raw: Any, index: int) -> BillLine:
    """A bill line; values that are not numbers at all make the line INVALID_LINE."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str):
        raise InvalidInput("INVALID_LINE", f"line {index + 1}: needs a code", line=index)
    try:
        amount = raw.get("amount")
        return BillLine(
            code=raw["code"],
            quantity=parse_decimal(raw["quantity"], "quantity"),
            unit_price=parse_fen(raw["unit_price"], "unit_price"),
            amount=None if amount is None else parse_fen(amount, "amount"),
        )
    except (KeyError, ValueError) as exc:
        raise InvalidInput("INVALID_LINE", f"line {index + 1}: {exc}", line=index) from None


def run_case(case: Any) -> dict[str, Any]:
    """Compute one case: the split as JSON, or {"error": CODE} for a refusal."""
    if not isinstance(case, Mapping):
        raise CaseFormatError("a case is a JSON object")
    catalogue = parse_catalogue(_section(case, "catalog"))
    policy = parse_policy(_section(case, "policy"))
    state = parse_state(_section(case, "state"))
    visit = _section(case, "visit")
    raw_lines = _section(case, "lines")
    if not isinstance(raw_lines, list) or not isinstance(visit, Mapping):
        raise CaseFormatError("'lines' must be a list and 'visit' an object")
    try:
        category = FilingCategory(visit.get("filing", "none"))
    except ValueError:
        raise CaseFormatError(f"unknown filing category {visit.get('filing')!r}") from None
    use_account = visit.get("use_account", False)
    if not isinstance(use_account, bool):
        raise CaseFormatError("'use_account' must be true or false")
    try:
        lines = [parse_line(raw, i) for i, raw in enumerate(raw_lines)]
        bill = classify(lines, catalogue)
        split = compute_split(bill.pieces, policy, state, category, use_account)
    except TongbanError as exc:
        return {"error": exc.code}
    return split_as_json(split)
