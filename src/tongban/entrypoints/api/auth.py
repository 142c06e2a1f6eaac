"""Bearer credentials on HTTP: one parser for every caller (hospital key, resident token,
operator key) and the dependency that admits operators."""
# No "from __future__ import annotations" here: FastAPI reads the closures' Annotated types.

from typing import Annotated, Any

from fastapi import Depends, Header

from tongban.service_layer.operators import OperatorKeys


def parse_bearer(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` header; None without one."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def require_operator(operators: OperatorKeys) -> Any:
    """A route dependency: pass with a key these ``operators`` accept, else 401."""

    def operator(authorization: Annotated[str | None, Header()] = None) -> None:
        operators.authenticate(parse_bearer(authorization))

    return Depends(operator)
