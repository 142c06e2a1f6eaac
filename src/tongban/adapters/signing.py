"""Ed25519 keys and signatures (over canonical JSON, see ``tongban.canonical``); pseudonyms."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from tongban.canonical import canonical_json

__all__ = ["canonical_json", "load_or_create_key", "public_key_b64", "sign", "verify"]


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data)).decode("ascii")


def verify(public_b64: str, data: bytes, signature_b64: str) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        public.verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """A key kept with the node's data: created once (mode 0600), then always reused."""
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 key")
        return loaded
    key = new_private_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def pseudonym(locator_key: bytes, id_number: str) -> str:
    """Keyed pseudonym of an ID number for the hub's person locator (HMAC-SHA256, hex).

    The key is shared by the member nodes, never by the hub, so the hub cannot reverse it.
    """
    return hmac.new(locator_key, id_number.encode("ascii"), hashlib.sha256).hexdigest()
