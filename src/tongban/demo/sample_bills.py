"""Sample bills (费用明细) for the simulated day.

A bill starts from a random budget (log-normal, mean ``mean_fen``) and is filled with lines that
look like a real visit: an outpatient bill is usually a 诊查费 and then drugs or tests (1-6
lines); an inpatient bill has bed, nursing and 住院诊查费 per day, then injections, tests,
drugs and sometimes an operation (5-15 lines). Each line is priced near the item's typical unit
price (services exactly at it, drugs within ±8%) and its quantity is chosen to use up the
line's share of the budget, so the average total over many bills is close to ``mean_fen``.

Money stays integer fen and quantities ``Decimal``; floats appear only as random draws.
``amount`` is left out of every line (the visit side computes it).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal

from tongban.demo.sample_catalogue import ItemKind, item_kind, typical_unit_price
from tongban.domain.catalogue import BillLine, CatalogueItem, CoverageClass
from tongban.domain.money import Fen
from tongban.domain.policy import MedType

OUTPATIENT_MEAN_FEN: Fen = 23_500  # about 235 yuan per outpatient visit
INPATIENT_MEAN_FEN: Fen = 1_500_000  # about 15,000 yuan per admission

_K = ItemKind
# Most units of one item on one line (packs of a drug, vials, repeated tests...): an outpatient
# visit gets each test once; an admission repeats tests and injections over its days.
_MAX_QTY_OUT: Mapping[ItemKind, int] = {
    _K.DRUG: 6, _K.TCM: 4, _K.INJECTION: 6, _K.LAB: 1, _K.EXAM: 1, _K.TREATMENT: 3,
    _K.SURGERY: 1, _K.OUTPATIENT_CONSULT: 1, _K.INPATIENT_CONSULT: 1, _K.BED: 1, _K.NURSING: 1,
}  # fmt: skip
_MAX_QTY_IN: Mapping[ItemKind, int] = {
    _K.DRUG: 8, _K.TCM: 6, _K.INJECTION: 42, _K.LAB: 3, _K.EXAM: 2, _K.TREATMENT: 14,
    _K.SURGERY: 1, _K.OUTPATIENT_CONSULT: 1, _K.INPATIENT_CONSULT: 30, _K.BED: 30,
    _K.NURSING: 30,
}  # fmt: skip
# Relative chance of picking a fitting item by class: 丙类 items are billed far less often.
_CLASS_WEIGHT = {CoverageClass.A: 6, CoverageClass.B: 6, CoverageClass.C: 1}
_DIVISIBLE = frozenset({_K.DRUG, _K.TCM})  # drugs may be dispensed as half a pack (拆零)
_PRICED_EXACTLY = frozenset(k for k in ItemKind if k not in (_K.DRUG, _K.TCM, _K.INJECTION))

# Kinds of the lines after the fixed ones, with relative weights.
_OUTPATIENT_KINDS = {_K.DRUG: 45, _K.TCM: 15, _K.LAB: 20, _K.EXAM: 12, _K.TREATMENT: 6,
                     _K.INJECTION: 2}  # fmt: skip
_INPATIENT_KINDS = {_K.INJECTION: 35, _K.LAB: 20, _K.EXAM: 12, _K.DRUG: 10, _K.TREATMENT: 10,
                    _K.TCM: 5}  # fmt: skip

_OUTPATIENT_SIGMA = 0.8  # spread of the log-normal budget
_INPATIENT_SIGMA = 0.7
_DAILY_COST: Fen = 160_000  # inpatient budget per bed day, to derive the length of stay

_Pools = dict[ItemKind, list[tuple[CatalogueItem, Fen]]]
# The pools of the last tuple catalogue seen: a simulated day draws thousands of bills from the
# same (immutable) regional catalogue. One (catalogue, pools) pair, swapped as a whole.
_last: list[tuple[tuple[CatalogueItem, ...], _Pools] | None] = [None]


def _pools(catalogue: Sequence[CatalogueItem]) -> _Pools:
    """Items grouped by kind, cheapest first."""
    last = _last[0]
    if last is not None and last[0] is catalogue:
        return last[1]
    pools: _Pools = {}
    for item in catalogue:
        pools.setdefault(item_kind(item), []).append((item, typical_unit_price(item)))
    for entries in pools.values():
        entries.sort(key=lambda entry: (entry[1], entry[0].code))
    if isinstance(catalogue, tuple):
        _last[0] = (catalogue, pools)
    return pools


def _budget(rng: random.Random, mean_fen: Fen, sigma: float) -> Fen:
    """A log-normal draw whose expected value is ``mean_fen``."""
    mu = math.log(max(mean_fen, 1)) - sigma * sigma / 2
    return max(1, int(rng.lognormvariate(mu, sigma)))


def _weighted_kind(
    rng: random.Random, weights: dict[ItemKind, int], pools: _Pools, budget: Fen
) -> ItemKind:
    """A kind by weight, among those with an item the budget affords (a CT never costs 20 yuan)."""
    kinds = [k for k in weights if pools.get(k)] or [k for k in pools if pools[k]]
    affordable = [k for k in kinds if pools[k][0][1] * 4 <= budget * 5]
    if affordable:
        kinds = affordable
    return rng.choices(kinds, weights=[weights.get(k, 1) for k in kinds])[0]


def _units(budget: Fen, price: Fen, max_qty: int) -> int:
    """Whole units nearest to budget / price, within 1..max_qty."""
    return min(max_qty, max(1, (2 * budget + price) // (2 * max(price, 1))))


def _line(
    pools: _Pools,
    kind: ItemKind,
    budget: Fen,
    rng: random.Random,
    used: set[str],
    limits: Mapping[ItemKind, int],
    quantity: int | None = None,
) -> BillLine:
    """One line of ``kind`` spending about ``budget`` fen (or exactly ``quantity`` units)."""
    pool = [entry for entry in pools[kind] if entry[0].code not in used] or pools[kind]
    max_qty = limits[kind]
    if quantity is not None:
        item, typical = rng.choice(pool)
    else:
        fits = [e for e in pool if budget <= e[1] * max_qty and e[1] * 4 <= budget * 5]
        if fits:
            weights = [_CLASS_WEIGHT[e[0].coverage] for e in fits]
            item, typical = rng.choices(fits, weights=weights)[0]
        else:  # nothing fits well: the item that comes nearest to the budget
            item, typical = min(
                pool, key=lambda e: abs(_units(budget, e[1], max_qty) * e[1] - budget)
            )
    used.add(item.code)
    price = typical if kind in _PRICED_EXACTLY else typical * rng.randint(92, 108) // 100
    price = max(price, 1)
    if quantity is not None:
        qty = Decimal(quantity)
    elif kind in _DIVISIBLE and budget * 4 < price * 3 and rng.random() < 0.5:
        qty = Decimal("0.5")
    else:
        qty = Decimal(_units(budget, price, max_qty))
    return BillLine(code=item.code, quantity=qty, unit_price=price)


def _amount(line: BillLine) -> Fen:
    return int(line.quantity * line.unit_price)  # only to steer the budget; rounding is moot


def _spread(
    pools: _Pools,
    kinds: dict[ItemKind, int],
    budget: Fen,
    count: int,
    rng: random.Random,
    used: set[str],
    limits: Mapping[ItemKind, int],
    room: int = 0,
) -> list[BillLine]:
    """``count`` lines sharing ``budget``; what one line misses carries over to the next.

    Up to ``room`` more lines are added while a tenth of the budget or more is still unspent
    (a large budget can outrun the most units of the dearest item of a kind).
    """
    weights = [rng.random() + 0.3 for _ in range(count)]
    total_weight = sum(weights)
    lines: list[BillLine] = []
    carry = 0
    for weight in weights:
        share = max(1, int(budget * weight / total_weight) + carry)
        line = _line(pools, _weighted_kind(rng, kinds, pools, share), share, rng, used, limits)
        carry = share - _amount(line)
        lines.append(line)
    while room > 0 and carry * 10 > budget:
        line = _line(pools, _weighted_kind(rng, kinds, pools, carry), carry, rng, used, limits)
        carry -= _amount(line)
        lines.append(line)
        room -= 1
    return lines


def _outpatient(pools: _Pools, rng: random.Random, mean_fen: Fen) -> list[BillLine]:
    budget = _budget(rng, mean_fen, _OUTPATIENT_SIGMA)
    # Lines after the 诊查费: more for a bigger budget, at most 5 (6 with the 诊查费).
    count = rng.randint(1, 2) + (budget > 15_000) + (budget > 40_000) + (budget > 100_000)
    used: set[str] = set()
    lines: list[BillLine] = []
    consults = pools.get(_K.OUTPATIENT_CONSULT)
    if consults and rng.random() < 0.9:  # most visits bill a 诊查费 first; cheaper ones likelier
        weights = [(100_000 // max(price, 1)) ** 2 + 1 for _, price in consults]
        item, price = rng.choices(consults, weights=weights)[0]
        used.add(item.code)
        lines.append(BillLine(code=item.code, quantity=Decimal(1), unit_price=price))
        budget -= price
        if budget <= 0:
            return lines  # the 诊查费 alone used up the budget: a consultation only
    lines += _spread(pools, _OUTPATIENT_KINDS, budget, count, rng, used, _MAX_QTY_OUT)
    return lines


def _inpatient(pools: _Pools, rng: random.Random, mean_fen: Fen) -> list[BillLine]:
    budget = _budget(rng, mean_fen, _INPATIENT_SIGMA)
    days = min(30, max(2, budget // _DAILY_COST + rng.randint(0, 2)))
    used: set[str] = set()
    lines: list[BillLine] = []
    for kind in (_K.BED, _K.NURSING, _K.INPATIENT_CONSULT):  # one line each, per bed day
        pool = pools.get(kind)
        if pool:
            # Ordinary wards and 二级护理 are the rule: keep to the cheaper half of the list.
            common = {kind: pool[: max(1, (len(pool) + 1) // 2)]}
            line = _line(common, kind, 0, rng, used, _MAX_QTY_IN, quantity=days)
            lines.append(line)
            budget -= _amount(line)
    extra = min(15 - len(lines), rng.randint(3, 7) + (budget > 1_000_000) * 3)
    surgeries = pools.get(_K.SURGERY)
    if surgeries and budget > 800_000 and rng.random() < 0.5:
        share = budget * rng.randint(25, 45) // 100
        line = _line(pools, _K.SURGERY, share, rng, used, _MAX_QTY_IN)
        lines.append(line)
        budget -= _amount(line)
        extra -= 1
    extra = max(extra, 5 - len(lines), 1)
    room = 15 - len(lines) - extra
    budget = max(budget, 1)
    lines += _spread(pools, _INPATIENT_KINDS, budget, extra, rng, used, _MAX_QTY_IN, room)
    return lines


def sample_bill(
    catalogue: Sequence[CatalogueItem], med_type: MedType, rng: random.Random, mean_fen: Fen
) -> list[BillLine]:
    """A plausible bill of valid lines (quantity > 0, unit price >= 0, no ``amount``).

    Outpatient bills have 1-6 lines, inpatient bills 5-15; totals average about ``mean_fen``
    (``OUTPATIENT_MEAN_FEN``, ``INPATIENT_MEAN_FEN``). All randomness comes from ``rng``.
    """
    if not catalogue:
        raise ValueError("sample_bill needs a non-empty catalogue")
    pools = _pools(catalogue)
    if med_type is MedType.OUTPATIENT:
        return _outpatient(pools, rng, mean_fen)
    return _inpatient(pools, rng, mean_fen)
