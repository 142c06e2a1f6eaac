"""tongban (通办): cross-region public services for the Yangtze River Delta.

The first service is direct settlement of medical bills away from home (异地就医直接结算):
the visit region's catalogue decides what is covered, the home region's policy how much the
fund pays (DESIGN.md §4). The package is layered, dependencies pointing inward:

- ``tongban.domain``: pure money rules and identifiers (no I/O);
- ``tongban.service_layer``: use cases of the visit node, the home node and the hub;
- ``tongban.adapters``: storage (SQLite/PostgreSQL), signing (Ed25519), transports;
- ``tongban.entrypoints``: the ``tongban`` CLI and the HTTP APIs.

The small public API below is what an analyst or an integrator needs from Python.
"""

from tongban.domain.case import CaseFormatError, run_case
from tongban.domain.catalogue import BillLine, BillPieces, CatalogueItem, CoverageClass, classify
from tongban.domain.policy import (
    FilingCategory,
    MedType,
    PersonState,
    Policy,
    Reduction,
    Split,
    compute_split,
)
from tongban.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Refused,
    TongbanError,
    Unauthenticated,
    Unavailable,
)

__version__ = "0.1.0"

__all__ = [
    "BillLine",
    "BillPieces",
    "CaseFormatError",
    "CatalogueItem",
    "Conflict",
    "CoverageClass",
    "FilingCategory",
    "Forbidden",
    "InvalidInput",
    "MedType",
    "NotFound",
    "PersonState",
    "Policy",
    "Reduction",
    "Refused",
    "Split",
    "TongbanError",
    "Unauthenticated",
    "Unavailable",
    "classify",
    "compute_split",
    "run_case",
]
