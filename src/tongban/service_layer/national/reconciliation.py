"""3201 total and 3202 detail reconciliation (对总账 / 对明细账) over tongban's own 对账.

Counts and sums are over settle and cancel events as tongban's reconciliation keeps them:
``fixmedins_setl_cnt`` is settlements less cancels, the amounts are signed (a cancel takes
back its settle). The national 3202 sends its rows as an uploaded file (9101); tongban, which
keeps no file service, takes the same rows inline as ``input.detail`` [U].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tongban.domain import national_fields as f
from tongban.domain.ledger import EventKind
from tongban.domain.national import Envelope, fen_of_wire, wire_of_fen
from tongban.domain.reconciliation import EventLine, parse_insutype
from tongban.service_layer.national.base import NationalBase
from tongban.service_layer.reconciliation import (
    LineView,
    ReconcileDetail,
    ReconcileTotals,
    TotalsView,
)

_NOTHING = TotalsView(0, 0, 0, 0, 0, 0)


def _totals_out(view: TotalsView) -> dict[str, Any]:
    return {
        "fixmedins_setl_cnt": view.count,
        "medfee_sumamt": wire_of_fen(view.medfee_sumamt),
        "fund_pay_sumamt": wire_of_fen(view.fund_pay),
        "acct_pay": wire_of_fen(view.acct_pay),
    }


def _line_out(line: LineView | None) -> dict[str, Any] | None:
    if line is None:
        return None
    return {
        "insutype": line.insutype,
        "medfee_sumamt": wire_of_fen(line.medfee_sumamt),
        "fund_pay_sumamt": wire_of_fen(line.fund_pay),
        "acct_pay": wire_of_fen(line.acct_pay),
    }


class ReconciliationTransactions(NationalBase):
    def reconcile_totals(self, env: Envelope, digest: str) -> dict[str, Any]:
        data = f.section(env.input, "data")
        insutype = parse_insutype(f.required_text(data, "insutype", 3, "data."), "data.")
        first = f.national_date(data, "stmt_begndate")
        last = f.national_date(data, "stmt_enddate")
        mine = {
            "fixmedins_setl_cnt": f.count_of_wire(data.get("fixmedins_setl_cnt"),
                                                  "data.fixmedins_setl_cnt"),
            "medfee_sumamt": fen_of_wire(data.get("medfee_sumamt"), "data.medfee_sumamt", True),
            "fund_pay_sumamt": fen_of_wire(data.get("fund_pay_sumamt"), "data.fund_pay_sumamt",
                                           True),
            "acct_pay": fen_of_wire(data.get("acct_pay"), "data.acct_pay", True),
        }
        answer = self.reconciliation.totals(
            ReconcileTotals(first, last, ()), env.fixmedins_code
        )
        node = next((v.node for v in answer.insutypes if v.insutype == insutype), _NOTHING)
        if f.text(data, "setl_optins", required=False, max_length=6) not in (None, self.region):
            node = _NOTHING  # tongban's settlements all clear here
        ours = {"fixmedins_setl_cnt": node.count, "medfee_sumamt": node.medfee_sumamt,
                "fund_pay_sumamt": node.fund_pay, "acct_pay": node.acct_pay}
        differing = [name for name in ours if ours[name] != mine[name]]
        balanced = not differing
        unresolved = [u for u in answer.unresolved if u.insutype == insutype]
        return {"data": {
            "setl_optins": self.region,
            "stmt_rslt": f.BALANCED if balanced else f.UNBALANCED,
            "stmt_rslt_dscr": "平 (balanced)" if balanced else
            "不平 (differs in " + ", ".join(differing) + "): run 3202 for the rows",
            # tongban's own figures beside the verdict, and what still waits on a home region
            "node": _totals_out(node),
            "unresolved": [{"setl_id": u.settlement_id, "event": u.event,
                            "medfee_sumamt": wire_of_fen(u.medfee_sumamt)} for u in unresolved],
        }}

    def reconcile_detail(self, env: Envelope, digest: str) -> dict[str, Any]:
        data = f.section(env.input, "data")
        first = f.national_date(data, "stmt_begndate")
        last = f.national_date(data, "stmt_enddate")
        raw = env.input.get("detail", [])
        if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
            raise f.bad("input.detail", "is a list of rows (setl_id, insutype, medfee_sumamt, "
                        "fund_pay_sumamt, acct_pay, refd_setl_flag)")
        lines = tuple(_event_line(row, i) for i, row in enumerate(raw))
        answer = self.reconciliation.detail(
            ReconcileDetail(first, last, lines), env.fixmedins_code
        )
        rows = []
        for d in answer.differences:
            code, text = f.DETAIL_RESULTS[d.kind]
            rows.append({
                "setl_id": d.settlement_id,
                "refd_setl_flag": "1" if d.event == EventKind.CANCEL.value else "0",
                "stmt_rslt": code,
                "stmt_rslt_dscr": text,
                "fields": list(d.fields),
                "node": _line_out(d.node),
                "hospital": _line_out(d.hospital),
            })
        return {
            "data": {
                "stmt_rslt": f.BALANCED if answer.balanced else f.UNBALANCED,
                "stmt_rslt_dscr": "平 (balanced)" if answer.balanced else
                f"不平: {len(rows)} rows differ",
                "node_rows": answer.node_lines,
                "hospital_rows": answer.hospital_lines,
                "matched": answer.matched,
            },
            "detail": rows,
        }


def _event_line(row: Mapping[str, Any], index: int) -> EventLine:
    """A 3202 row; a refund row (refd_setl_flag 1) may carry its amounts negated."""
    where = f"detail[{index}]."
    refund = f.flag(row, "refd_setl_flag", False)

    def amount(name: str) -> int:
        fen = fen_of_wire(row.get(name), f"{where}{name}", allow_negative=refund)
        return abs(fen)

    return EventLine(
        settlement_id=f.required_text(row, "setl_id", 64, where),
        event=EventKind.CANCEL if refund else EventKind.SETTLE,
        insutype=parse_insutype(f.required_text(row, "insutype", 3, where), where),
        medfee_sumamt=amount("medfee_sumamt"),
        fund_pay=amount("fund_pay_sumamt"),
        acct_pay=amount("acct_pay"),
    )
