"""Why a bill was split the way it was, step by step, for the resident who paid it.

Pure: from the visit region's classified lines (DESIGN §4.1) and the home region's split
(§4.2) it lists the steps in the order the rules apply them. Each step is a small dict of a
``step`` name and amounts in fen; the console words them (in Chinese or English). Nothing is
recomputed by another rule: every amount is one the settlement recorded, or the difference of
two of them, so the steps always add up to the bill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LINE_PIECES = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")


def _fen(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def lines_agree(split: Mapping[str, Any], lines: object) -> bool:
    """Are these well-formed lines whose pieces add up to the split's? Lines come from another
    region: anything else (garbled, floats, another bill's lines) is not shown at all."""
    if not isinstance(lines, list) or not all(isinstance(line, Mapping) for line in lines):
        return False
    for line in lines:
        if not all(_fen(line.get(key)) for key in ("amount", *LINE_PIECES)):
            return False
        if int(line["amount"]) != sum(int(line[piece]) for piece in LINE_PIECES):
            return False
    return all(
        sum(int(line[piece]) for line in lines) == split.get(piece) for piece in LINE_PIECES
    )


def explain(
    split: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]] | None,
    catalogue: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The steps: one ``line`` per bill line (when the lines are known), then ``pieces`` (what
    the catalogue left to the person before any policy), ``deductible``, ``ratio``, ``account``
    and ``cash``. ``catalogue`` may add each code's self-pay ratio and price cap."""
    steps: list[dict[str, Any]] = []
    for line in lines or ():
        entry = (catalogue or {}).get(str(line.get("code")), {})
        steps.append(
            {
                "step": "line",
                "code": line.get("code"),
                "name": line.get("name"),
                "class": line.get("class"),
                "quantity": line.get("quantity"),
                "unit_price": line.get("unit_price"),
                "amount": int(line["amount"]),
                **{piece: int(line[piece]) for piece in LINE_PIECES},
                "selfpay_ratio": entry.get("selfpay_ratio"),
                "price_cap": entry.get("price_cap"),
            }
        )
    inscp = int(split["inscp_scp_amt"])
    deductible = int(split["act_pay_dedc"])
    fund = int(split["hifp_pay"])
    base = inscp - deductible
    steps.append(
        {
            "step": "pieces",
            "medfee": int(split["medfee_sumamt"]),
            "ownpay": int(split["fulamt_ownpay_amt"]),
            "overlimit": int(split["overlmt_selfpay"]),
            "preselfpay": int(split["preselfpay_amt"]),
            "covered": inscp,
        }
    )
    steps.append({"step": "deductible", "amount": deductible, "covered": inscp})
    steps.append(
        {
            "step": "ratio",
            "base": base,
            "ratio": split.get("ratio_applied"),
            "fund": fund,
            "copay": base - fund,
        }
    )
    steps.append({"step": "account", "amount": int(split["acct_pay"])})
    steps.append({"step": "cash", "amount": int(split["psn_cash_pay"])})
    return steps
