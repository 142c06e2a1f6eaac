"""Shared test helpers.

Golden cases (``shared/golden/*.json``) live beside the repository, not inside it:
``<repo>/../shared/golden``, or wherever ``TONGBAN_GOLDEN_DIR`` points. When they cannot be
found, tests that need them fail under CI (``CI=true``) and are skipped with a message elsewhere.

Tests use them through two fixtures:

- ``golden_dir``: the directory (a ``Path``);
- ``golden_file``: one golden file; a test asking for it runs once per file, with the file
  name as its id.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR_ENV = "TONGBAN_GOLDEN_DIR"
_GOLDEN_MISSING_ID = "golden-dir-missing"


def shared_dir() -> Path:
    """``shared/`` beside the repository."""
    return REPO_ROOT.parent / "shared"


def golden_dir_candidate() -> Path:
    """``$TONGBAN_GOLDEN_DIR`` if set, else ``<repo>/../shared/golden``."""
    override = os.environ.get(GOLDEN_DIR_ENV)
    return Path(override) if override else shared_dir() / "golden"


def golden_file_names() -> list[str]:
    """Names of the golden files, sorted; empty when the directory is missing."""
    directory = golden_dir_candidate()
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.glob("*.json"))


def missing_shared_input(message: str) -> None:
    """Fail under CI (CI=true), skip elsewhere: shared inputs are part of the contract."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_golden_dir() -> Path:
    directory = golden_dir_candidate()
    if not directory.is_dir() or not any(directory.glob("*.json")):
        missing_shared_input(
            f"golden cases not found in {directory}: put shared/ beside the repository "
            f"or set {GOLDEN_DIR_ENV}"
        )
    return directory


def require_shared_file(relative: str) -> Path:
    path = shared_dir() / relative
    if not path.is_file():
        missing_shared_input(f"shared file not found: {path} (shared/ belongs beside the repo)")
    return path


@pytest.fixture
def golden_dir() -> Path:
    return require_golden_dir()


@pytest.fixture
def golden_file(request: pytest.FixtureRequest, golden_dir: Path) -> Path:
    return golden_dir / request.param


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "golden_file" in metafunc.fixturenames:
        # When the directory is missing, one placeholder keeps the test visible; the
        # golden_dir fixture then fails (CI) or skips with the reason.
        names = golden_file_names() or [_GOLDEN_MISSING_ID]
        metafunc.parametrize("golden_file", names, ids=names, indirect=True)


@pytest.fixture
def shared_regions_csv() -> Path:
    """``shared/data/yrd-regions.csv``: the 41 YRD cities, the source of the packaged copy."""
    return require_shared_file("data/yrd-regions.csv")
