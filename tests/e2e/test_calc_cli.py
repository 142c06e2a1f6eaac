"""`tongban calc` as an analyst runs it: the real console script, in a subprocess (DESIGN.md §4.3).

Exit status: 0 every case produced a split, 1 some case was refused, 2 unreadable input.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

TONGBAN = Path(sys.executable).with_name("tongban")

# A small case of our own (independent of the golden files): 2 × 2500 fen of a class A item,
# outpatient, deductible already used, ratio 0.85, long-term filing, no account.
CASE: dict[str, Any] = {
    "catalog": {"001102000010000": {"name": "普通门诊诊查费", "class": "A"}},
    "policy": {
        "insutype": "310",
        "med_type": "outpatient",
        "deductible": 150000,
        "ratio": "0.85",
        "annual_cap": 30000000,
        "reduction": {"referral": "0.10", "emergency": "0.10", "other": "0.20", "unfiled": None},
        "account_covers": ["deductible", "copay", "preselfpay"],
    },
    "state": {"deductible_used": 150000, "fund_paid": 0, "account_balance": 0, "admissions": 0},
    "visit": {"filing": "long_term", "use_account": False},
    "lines": [{"code": "001102000010000", "quantity": "2", "unit_price": 2500}],
}


def calc(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert TONGBAN.exists(), f"console script not installed next to {sys.executable}"
    env = {**os.environ, "COLUMNS": "1000", "NO_COLOR": "1"}  # no wrapping of messages
    return subprocess.run(
        [str(TONGBAN), "calc", *map(str, paths)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
        check=False,
    )


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)


def output_lines(stdout: str) -> list[Any]:
    return [json.loads(line, parse_float=Decimal) for line in stdout.splitlines()]


def write_case(tmp_path: Path, name: str, case: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    return path


def test_all_golden_cases_in_one_call_print_their_expected_outputs_in_order(golden_dir: Path):
    # Given in reverse name order, so the output order can only come from the arguments.
    files = sorted(golden_dir.glob("*.json"), reverse=True)
    expected = [load(f)["expected"] for f in files]

    result = calc(*files)

    assert output_lines(result.stdout) == expected
    assert any("error" in e for e in expected)  # some golden cases are refusals...
    assert result.returncode == 1, result.stderr  # ...so the run exits 1


def test_a_run_where_every_case_produces_a_split_exits_zero(golden_dir: Path):
    files = [f for f in sorted(golden_dir.glob("*.json")) if "error" not in load(f)["expected"]]
    assert files, "no split-producing golden case"

    result = calc(*files)

    assert result.returncode == 0, result.stderr
    assert output_lines(result.stdout) == [load(f)["expected"] for f in files]


def test_a_bare_case_file_is_computed_too(tmp_path: Path):
    result = calc(write_case(tmp_path, "case.json", CASE))

    assert result.returncode == 0, result.stderr
    [split] = output_lines(result.stdout)
    # 2 × 2500 = 5000, all policy-covered; deductible used up; fund 5000 × 0.85 = 4250
    assert split["medfee_sumamt"] == 5000
    assert split["hifp_pay"] == 4250
    assert split["psn_cash_pay"] == 750  # 5000 − 4250
    assert split["ratio_applied"] == "0.85"


def test_a_refused_case_prints_its_error_code_and_exits_one(tmp_path: Path):
    unfiled = copy.deepcopy(CASE)
    unfiled["visit"]["filing"] = "none"  # the policy refuses unfiled visits

    result = calc(write_case(tmp_path, "ok.json", CASE), write_case(tmp_path, "no.json", unfiled))

    assert result.returncode == 1
    ok, refused = output_lines(result.stdout)
    assert "error" not in ok
    assert refused == {"error": "FILING_REQUIRED"}


def test_a_case_that_is_not_json_exits_two_with_a_message_and_no_output(tmp_path: Path):
    good = write_case(tmp_path, "good.json", CASE)
    bad = tmp_path / "broken-case.json"
    bad.write_text('{"catalog": {', encoding="utf-8")

    result = calc(good, bad)

    assert result.returncode == 2
    assert result.stdout == ""  # nothing half-printed, not even the good case
    assert "broken-case.json" in result.stderr
    assert "JSON" in result.stderr


def test_a_case_missing_its_policy_section_exits_two(tmp_path: Path):
    case = copy.deepcopy(CASE)
    del case["policy"]

    result = calc(write_case(tmp_path, "no-policy.json", case))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "policy" in result.stderr


def test_a_missing_file_exits_two(tmp_path: Path):
    result = calc(tmp_path / "does-not-exist.json")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "does-not-exist.json" in result.stderr


def test_an_absurd_quantity_gets_a_clear_answer_not_a_traceback(tmp_path: Path):
    case = copy.deepcopy(CASE)
    case["lines"][0]["quantity"] = "1e30"

    result = calc(write_case(tmp_path, "huge.json", case))

    assert "Traceback" not in result.stderr
    if result.returncode == 1:
        assert output_lines(result.stdout) == [{"error": "INVALID_LINE"}]
    else:
        assert result.returncode == 2
        assert result.stdout == ""


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [("policy", "deductible", -500), ("state", "account_balance", -100)],
    ids=["negative-deductible", "negative-balance"],
)
def test_a_case_with_negative_money_is_not_settled(tmp_path: Path, section, field, value):
    case = copy.deepcopy(CASE)
    case["policy"]["med_type"] = "inpatient"
    case["visit"]["use_account"] = True
    case[section][field] = value

    result = calc(write_case(tmp_path, "negative.json", case))

    assert result.returncode in (1, 2)
    for line in output_lines(result.stdout):
        assert all(v >= 0 for k, v in line.items() if k not in ("error", "ratio_applied"))
