"""Operators (运维/经办人员): who may read a node's settlements and flows, or the hub's clearing.

An operator key (``tbo_...``) is a bearer secret like a hospital's API key, stored only as a
sha256 in the node's (or hub's) meta table under ``operator_keys``. A region keeps its own
keys; the network operator's key is installed at every member. A hospital's key or a
resident's session token is never an operator key: they live in other tables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable

from tongban.errors import Unauthenticated
from tongban.service_layer.ports import NodeStore

META_KEY = "operator_keys"
PREFIX = "tbo_"


def new_operator_key() -> str:
    return PREFIX + secrets.token_urlsafe(24)


def hash_operator_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class OperatorKeys:
    """Reads the accepted hashes at every check, so a key added or removed counts at once."""

    def __init__(
        self, read_meta: Callable[[str], str | None], write_meta: Callable[[str, str], None]
    ) -> None:
        self._read = read_meta
        self._write = write_meta

    def hashes(self) -> list[str]:
        stored = self._read(META_KEY)
        return list(json.loads(stored)) if stored else []

    def add(self, key: str) -> None:
        if not key.startswith(PREFIX) or len(key) < 20:
            raise ValueError("an operator key starts with tbo_ and has at least 16 characters")
        digest = hash_operator_key(key)
        hashes = self.hashes()
        if digest not in hashes:
            self._write(META_KEY, json.dumps([*hashes, digest]))

    def authenticate(self, key: str | None) -> None:
        """Pass, or raise 401: no key at all, or one this member does not accept."""
        if not key:
            raise Unauthenticated(
                "OPERATOR_KEY_REQUIRED", "send an operator key as a bearer token (tbo_...)"
            )
        digest = hash_operator_key(key)
        if not any(hmac.compare_digest(digest, h) for h in self.hashes()):
            raise Unauthenticated("UNAUTHENTICATED", "unknown operator key")


def node_operator_keys(store: NodeStore) -> OperatorKeys:
    def read(key: str) -> str | None:
        with store.read() as tx:
            return tx.meta(key)

    def write(key: str, value: str) -> None:
        with store.write() as tx:
            tx.set_meta(key, value)

    return OperatorKeys(read, write)
