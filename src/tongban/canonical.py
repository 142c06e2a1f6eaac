"""Canonical JSON: sorted keys, no insignificant whitespace, UTF-8.

Signatures and content hashes are computed over these bytes, so both sides of an exchange get
the same result from the same content however it was serialised in between.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
