"""The golden cases (shared/golden/*.json) are the contract of the calculator (DESIGN.md §4)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tongban.domain.case import run_case


def test_each_golden_case_computes_exactly_its_expected_output(golden_file: Path) -> None:
    golden = json.loads(golden_file.read_text(encoding="utf-8"), parse_float=Decimal)

    assert run_case(golden["case"]) == golden["expected"]
