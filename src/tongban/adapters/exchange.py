"""Signed messages between nodes and the hub (DESIGN.md §5).

Every envelope is signed with the sender's Ed25519 key over the canonical JSON of its body,
kind, sender, recipient, msgid, timestamp and in_reply_to. Receivers refuse unknown senders,
bad signatures, stale timestamps, messages for someone else and replayed msgids; answers are
signed the same way and bound to the request's msgid.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tongban.adapters.signing import sign, verify
from tongban.adapters.transport import Transport
from tongban.canonical import canonical_json
from tongban.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MessageRejected,
    NotFound,
    Refused,
    TongbanError,
    TransportError,
    Unauthenticated,
    Unavailable,
)
from tongban.service_layer.ports import Message

log = logging.getLogger("tongban.exchange")

MAX_SKEW_MS = 300_000  # messages older or newer than 5 minutes are refused as stale

Clock = Callable[[], float]  # seconds since the epoch


def signed_part(message: Message) -> bytes:
    return canonical_json(
        {
            "body": message.body,
            "in_reply_to": message.in_reply_to,
            "kind": message.kind,
            "msgid": message.msgid,
            "recipient": message.recipient,
            "sender": message.sender,
            "timestamp": message.timestamp,
        }
    )


def seal(key: Ed25519PrivateKey, message: Message) -> bytes:
    envelope = {
        "sender": message.sender,
        "recipient": message.recipient,
        "msgid": message.msgid,
        "timestamp": message.timestamp,
        "kind": message.kind,
        "body": message.body,
        "in_reply_to": message.in_reply_to,
        "signature": sign(key, signed_part(message)),
    }
    return canonical_json(envelope)


def unseal(payload: bytes) -> tuple[Message, str]:
    """Parse an envelope without trusting it yet: each field as sent, of its own JSON type.

    Anything else (not JSON, nested too deep, a field of another type, a value that cannot be
    signed such as NaN or a lone surrogate) is ``MessageRejected("BAD_ENVELOPE")``. Nothing is
    coerced: ``int(1.5)`` or ``dict([["a", 1]])`` would make a message nobody sent.
    """
    try:
        raw = json.loads(payload)
        if not isinstance(raw, dict):
            raise ValueError("an envelope is a JSON object")
        texts = {name: raw[name] for name in ("sender", "recipient", "msgid", "kind")}
        signature, timestamp, body = raw["signature"], raw["timestamp"], raw["body"]
        in_reply_to = raw.get("in_reply_to")
        if not all(isinstance(v, str) for v in (*texts.values(), signature)):
            raise ValueError("sender, recipient, msgid, kind and signature are strings")
        if type(timestamp) is not int or not isinstance(body, dict):
            raise ValueError("timestamp is an integer and body an object")
        if in_reply_to is not None and not isinstance(in_reply_to, str):
            raise ValueError("in_reply_to is a string or null")
        message = Message(timestamp=timestamp, body=body, in_reply_to=in_reply_to, **texts)
        signed_part(message)  # refuses NaN, infinities and lone surrogates here, not later
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise MessageRejected("BAD_ENVELOPE", f"not a tongban envelope: {exc}") from None
    return message, signature


PublicKeyOf = Callable[[str], str | None]

_ERROR_CLASSES: dict[int, type[TongbanError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    503: Unavailable,
}


def error_from_json(data: dict[str, Any]) -> TongbanError:
    """Rebuild a peer's refusal as the same kind of error, keeping its stable code.

    A refusal by the peer's gate (signature, staleness, replay) stays a ``MessageRejected``:
    the message was not processed, which is not the same as a business refusal.
    """
    status = int(data.get("status", 422))
    code = str(data.get("code", "PEER_ERROR"))
    detail = str(data.get("detail", code))
    if data.get("kind") == "message_rejected":
        return MessageRejected(code, detail)
    if code in {"INVALID_LINE", "AMOUNT_MISMATCH"} or (
        status == 422 and code.startswith("INVALID")
    ):
        return InvalidInput(code, detail)
    cls = _ERROR_CLASSES.get(status, Refused)
    return cls(code, detail)


def error_to_json(error: TongbanError) -> dict[str, Any]:
    out: dict[str, Any] = {"code": error.code, "status": error.status, "detail": error.detail}
    if isinstance(error, MessageRejected):
        out["kind"] = "message_rejected"
    return out


class ReplayWindow:
    """Msgids seen within the staleness window; older ones are refused as stale anyway."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def first_time(self, msgid: str, now_ms: int) -> bool:
        with self._lock:
            if len(self._seen) > 100_000:
                cutoff = now_ms - 2 * MAX_SKEW_MS
                self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
            if msgid in self._seen:
                return False
            self._seen[msgid] = now_ms
            return True


def _claimed(payload: bytes) -> tuple[str, str | None]:
    """Who an unverifiable envelope claims to come from, so a refusal can name its request."""
    try:
        claimed, _ = unseal(payload)
    except MessageRejected:
        return "", None
    return claimed.sender, claimed.msgid


class Gate:
    """The receiving side: verify an inbound envelope, and sign the answer."""

    def __init__(
        self,
        identity: str,
        key: Ed25519PrivateKey,
        public_key_of: PublicKeyOf,
        clock: Clock = time.time,
    ) -> None:
        self.identity = identity
        self._key = key
        self._public_key_of = public_key_of
        self._clock = clock
        self._replays = ReplayWindow()

    def open(self, payload: bytes) -> Message:
        message, signature = unseal(payload)
        public = self._public_key_of(message.sender)
        if public is None:
            raise MessageRejected("UNKNOWN_SENDER", f"{message.sender!r} is not in the directory")
        if not verify(public, signed_part(message), signature):
            raise MessageRejected("BAD_SIGNATURE", f"signature of {message.msgid} does not verify")
        if message.recipient != self.identity:
            raise MessageRejected("WRONG_RECIPIENT", f"message is for {message.recipient}")
        now_ms = int(self._clock() * 1000)
        if abs(now_ms - message.timestamp) > MAX_SKEW_MS:
            raise MessageRejected("STALE_MESSAGE", f"timestamp of {message.msgid} is out of window")
        if not self._replays.first_time(message.msgid, now_ms):
            raise MessageRejected("REPLAYED_MESSAGE", f"{message.msgid} was already received")
        return message

    def answer(
        self,
        to: Message | None,
        result: dict[str, Any] | None,
        error: TongbanError | None,
        payload: bytes = b"",
    ) -> bytes:
        body: dict[str, Any] = (
            {"ok": False, "error": error_to_json(error)}
            if error
            else {"ok": True, "result": result}
        )
        recipient, in_reply_to = (to.sender, to.msgid) if to else _claimed(payload)
        reply = Message(
            sender=self.identity,
            recipient=recipient,
            msgid=uuid.uuid4().hex,
            timestamp=int(self._clock() * 1000),
            kind="reply",
            body=body,
            in_reply_to=in_reply_to,
        )
        return seal(self._key, reply)

    def serve(self, handler: Callable[[Message], dict[str, Any]]) -> Callable[[bytes], bytes]:
        """Wrap a message handler as a transport handler: bytes in, signed bytes out."""

        def handle(payload: bytes) -> bytes:
            message: Message | None = None
            try:
                message = self.open(payload)
                return self.answer(message, handler(message), None)
            except TongbanError as exc:
                return self.answer(message, None, exc, payload)
            except Exception:
                # A fault here (database down, a bug) rolled its transaction back: to the
                # caller it is as if no answer came, so the outcome stays recoverable.
                log.exception("fault while handling %s", message.kind if message else "message")
                fault = Unavailable("PEER_FAULT", f"{self.identity} could not process it")
                return self.answer(message, None, fault, payload)

        return handle


class Exchange:
    """The sending side: seal, send, verify the answer, return its result or raise its error."""

    def __init__(
        self,
        identity: str,
        key: Ed25519PrivateKey,
        endpoint_of: Callable[[str], str | None],
        public_key_of: PublicKeyOf,
        transport: Transport,
        clock: Clock = time.time,
    ) -> None:
        self.identity = identity
        self._key = key
        self._endpoint_of = endpoint_of
        self._public_key_of = public_key_of
        self.transport = transport
        self._clock = clock

    def call(self, recipient: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._endpoint_of(recipient)
        if endpoint is None:
            raise Unavailable("UNKNOWN_PEER", f"{recipient} is not in the directory")
        request = Message(
            sender=self.identity,
            recipient=recipient,
            msgid=uuid.uuid4().hex,
            timestamp=int(self._clock() * 1000),
            kind=kind,
            body=body,
        )
        try:
            payload = self.transport.send(endpoint, seal(self._key, request))
        except TransportError as exc:
            raise Unavailable("PEER_UNREACHABLE", f"{recipient} did not answer: {exc}") from exc
        reply, signature = unseal(payload)
        public = self._public_key_of(recipient)
        if (
            public is None
            or reply.sender != recipient
            or not verify(public, signed_part(reply), signature)
        ):
            raise MessageRejected("BAD_SIGNATURE", f"the answer from {recipient} does not verify")
        # Bound to this request: an old signed answer (even a refusal) cannot stand in for it.
        if reply.in_reply_to != request.msgid or reply.recipient != self.identity:
            raise MessageRejected("WRONG_REPLY", f"{recipient} answered another message")
        if not reply.body.get("ok"):
            raise error_from_json(reply.body.get("error", {}))
        result = reply.body.get("result")
        return result if isinstance(result, dict) else {}
