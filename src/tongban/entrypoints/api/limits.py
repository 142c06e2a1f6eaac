"""What a request must look like before any handler sees it (DESIGN.md §5: bad input of any
kind gets a clear error with a stable code, never a 500, and changes nothing).

``InputGuard``, an ASGI middleware that ``install_problem_handlers`` puts on every app, reads
each request body once, up to a limit, and refuses with a problem answer:

==== ======================== ===============================================================
413  BODY_TOO_LARGE           over 1 MB (32 MB for ``/v1/reconciliation/detail``, which takes
                              100,000 lines), counted as it arrives: chunked bodies too
415  UNSUPPORTED_MEDIA_TYPE   a body whose content-type is missing or is not JSON in UTF-8
                              (``application/json`` or ``application/*+json``)
422  MALFORMED_JSON           not UTF-8, not JSON, or ``NaN``/``Infinity`` (not JSON either)
422  DUPLICATE_KEY            an object that names a key twice (which one counts is up to the
                              parser, so neither does)
422  JSON_TOO_DEEP            nested deeper than 32 levels (ours need 4): no RecursionError
422  INVALID_TEXT             a control, format (zero-width, bidi override) or lone surrogate
                              character in a string of the body, in the path or in the query
==== ======================== ===============================================================

The signed exchange (``/v1/exchange``) answers every refusal signed, so it is not refused
here: an envelope over 4 MB or nested too deep reaches it as ``{}``, which its gate refuses,
signed, as BAD_ENVELOPE; it reads no more than that of the body.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_000_000
# A hospital's detail reconciliation: 100,000 lines of at most ~300 bytes each.
LARGE_BODIES = {"/v1/reconciliation/detail": 32_000_000}
EXCHANGE_PATH = "/v1/exchange"
MAX_EXCHANGE_BYTES = 4_000_000  # above the node's own 1 MB; the hub's locator lists are longer
MAX_JSON_DEPTH = 32
EXCHANGE_STAND_IN = b"{}"

Answer = Callable[[Request, int, str, str, str], Response]


class Refusal(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.status, self.code, self.title, self.detail = status, code, title, detail


def invalid(code: str, detail: str) -> Refusal:
    return Refusal(422, code, "Invalid input", detail)


# --- text ----------------------------------------------------------------------------------
_TEXT_CONTROLS = frozenset("\t\n\r")
_INVISIBLE = frozenset(("Cc", "Cf", "Cs"))  # controls, format characters, surrogates


def hidden_character(text: str) -> str | None:
    """The first control, format (ZWJ, RLO, BOM, ...) or surrogate character, if any."""
    if text.isprintable():  # the fast path: every id, code and date
        return None
    for char in text:
        if char not in _TEXT_CONTROLS and unicodedata.category(char) in _INVISIBLE:
            return char
    return None


def _text_refusal(where: str, char: str) -> Refusal:
    name = unicodedata.name(char, "a control or surrogate character")
    return invalid(
        "INVALID_TEXT",
        f"{where} contains U+{ord(char):04X} ({name}): ids, codes and names must be visible "
        "text, without control, zero-width, direction or surrogate characters",
    )


def check_target(scope: Scope) -> None:
    """The path and the query, as decoded for the handlers."""
    char = hidden_character(str(scope.get("path", "")))
    if char:
        raise _text_refusal("the path", char)
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        char = hidden_character(name) or hidden_character(value)
        if char:
            raise _text_refusal(f"the query parameter {name[:40]!a}", char)


# --- JSON ----------------------------------------------------------------------------------
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'"[]{}')  # every other byte
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(body: bytes) -> int:
    """How deep the brackets outside strings nest: what a recursive parser would descend.

    Escaped backslashes, then escaped quotes, go first; then everything but quotes and
    brackets. Quotes still alternate open/close, so dropping two adjacent ones keeps that
    (an empty string goes, or two strings merge) and what is between odd and even quotes is
    inside a string. All of it runs in C but the final count over the brackets.
    """
    skeleton = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = skeleton.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = b"".join(skeleton.split(b'"')[::2]) if b'"' in skeleton else skeleton
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def _no_constant(name: str) -> Any:
    raise invalid("MALFORMED_JSON", f"{name} is not a JSON number (RFC 8259)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise invalid("DUPLICATE_KEY", f"the key {key[:40]!a} appears twice in one object")
            seen.add(key)
    return out


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN or Infinity, no key twice, at most MAX_JSON_DEPTH deep, no
    hidden character in a string."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise invalid("JSON_TOO_DEEP", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid("MALFORMED_JSON", f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except ValueError as exc:  # JSONDecodeError, or a number too long to convert
        reason = str(exc).split(":")[0] if "digits" in str(exc) else str(exc)
        raise invalid("MALFORMED_JSON", f"the body is not valid JSON: {reason}") from None
    if not _plain(text):
        check_strings(value)
    return value


def _plain(text: str) -> bool:
    """No string of this (valid) JSON text can hold a hidden character: all ASCII, and no
    escape that makes one (raw control characters are not valid JSON in a string, but DEL is)."""
    return text.isascii() and not any(s in text for s in ("\\u", "\\b", "\\f", "\x7f"))


def check_strings(value: Any) -> None:
    """Refuse hidden characters in any key or string, naming where (never the value)."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            char = hidden_character(item)
            if char:
                raise _text_refusal(_location(where), char)
        elif isinstance(item, dict):
            for key, inner in item.items():
                char = hidden_character(key)
                if char:
                    raise _text_refusal(f"a key of {_location(where)}", char)
                stack.append((inner, (where, key)))
        elif isinstance(item, list):
            stack.extend((inner, (where, i)) for i, inner in enumerate(item))


def _location(where: tuple[Any, ...]) -> str:
    """'the body at lines[0].code' from the nested (parent, key) pairs."""
    parts: list[str] = []
    while where:
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key[:40]}")
    text = "".join(reversed(parts)).lstrip(".")
    return f"the body at {text}" if text else "the body"


def _media_type(scope: Scope) -> tuple[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind, _, params = value.decode("latin-1").partition(";")
            charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", params, re.IGNORECASE)
            return kind.strip().lower(), charset.group(1).lower() if charset else "utf-8"
    return "", ""


def check_media_type(scope: Scope) -> None:
    kind, charset = _media_type(scope)
    is_json = kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )
    if not is_json or charset not in ("utf-8", "utf8"):
        said = f"content-type {kind}; charset={charset}" if kind else "no content-type"
        raise Refusal(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Unsupported media type",
            f"a request body is JSON in UTF-8 (content-type: application/json); got {said}",
        )


# --- the middleware ------------------------------------------------------------------------
def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes ``limit`` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _Disconnected(Exception):
    pass


def _replaying(body: bytes, receive: Receive) -> Receive:
    """Hand the app the body already read, then whatever the server says next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _served_by_mount(scope: Scope) -> bool:
    """A mounted app (a node inside the embedded network) guards its own requests."""
    routes = getattr(scope.get("app"), "routes", ())
    return any(isinstance(r, Mount) and r.matches(scope)[0] is Match.FULL for r in routes)


class InputGuard:
    """Refuse hostile requests before routing; ``answer`` builds (and counts) the problem."""

    def __init__(self, app: ASGIApp, answer: Answer) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _served_by_mount(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await checked_body(scope, receive)
        except _Disconnected:
            return  # the client went away: nothing to answer, nothing was done
        except Refusal as refusal:
            response = self.answer(
                Request(scope), refusal.status, refusal.code, refusal.title, refusal.detail
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)


async def checked_body(scope: Scope, receive: Receive) -> bytes:
    """The request's body once it passed every check above (raises ``Refusal``)."""
    path = str(scope.get("path", ""))
    if path.endswith(EXCHANGE_PATH):
        too_large = (_declared_length(scope) or 0) > MAX_EXCHANGE_BYTES
        body = None if too_large else await _read_body(receive, MAX_EXCHANGE_BYTES)
        if body is None or json_depth(body) > MAX_JSON_DEPTH:
            return EXCHANGE_STAND_IN  # refused by the gate, signed: see the module's docstring
        return body
    check_target(scope)
    limit = next((n for end, n in LARGE_BODIES.items() if path.endswith(end)), MAX_BODY_BYTES)
    too_large = (_declared_length(scope) or 0) > limit
    body = None if too_large else await _read_body(receive, limit)
    if body is None:
        detail = f"a request body here is at most {limit:,} bytes"
        raise Refusal(413, "BODY_TOO_LARGE", "Body too large", detail)
    if body:
        check_media_type(scope)
        parse_json(body)
    return body
