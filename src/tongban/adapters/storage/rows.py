"""Rows to records: the one conversion every node query uses."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Row

from tongban.adapters.storage.database import read_moment
from tongban.service_layer.records import (
    HomeSettlementRecord,
    HomeStatus,
    VisitSettlementRecord,
    VisitStatus,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


_STATUS_TYPES: dict[type, type] = {
    HomeSettlementRecord: HomeStatus,
    VisitSettlementRecord: VisitStatus,
}


def record(cls: type[R], row: Row[Any]) -> R:
    data = dict(row._mapping)
    for name, value in data.items():
        # SQLite keeps no zone: every moment tongban stores is UTC, so say so.
        if isinstance(value, datetime):
            data[name] = read_moment(value)
    status_type = _STATUS_TYPES.get(cls)
    if status_type is not None:
        data["status"] = status_type(data["status"])
    return cls(**{f.name: data[f.name] for f in fields(cls)})
