"""Transports carry sealed envelopes (bytes) to an endpoint and bring the answer back.

One interface, two real implementations: in-process (the embedded network and tests) and
HTTP (nodes as separate processes). Both carry the same signed bytes, so the signing and
verification code is exercised either way. ``FaultyTransport`` wraps either to inject faults.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import httpx

from tongban.errors import TransportError

Handler = Callable[[bytes], bytes]
EXCHANGE_PATH = "/v1/exchange"


class Transport(Protocol):
    def send(self, endpoint: str, payload: bytes) -> bytes:
        """Deliver and return the answer; raise TransportError when there is none."""
        ...


class InProcessTransport:
    """Routes ``inproc://NAME`` endpoints to handlers registered in this process."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, endpoint: str, handler: Handler) -> None:
        self._handlers[endpoint] = handler

    def unregister(self, endpoint: str) -> None:
        self._handlers.pop(endpoint, None)

    def send(self, endpoint: str, payload: bytes) -> bytes:
        handler = self._handlers.get(endpoint)
        if handler is None:
            raise TransportError(f"no one is listening at {endpoint}")
        return handler(bytes(payload))


class HttpTransport:
    """POSTs envelopes to ``{endpoint}/v1/exchange`` over a pooled keep-alive client."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._local = threading.local()
        self._timeout = timeout

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self._timeout)
            self._local.client = client
        return client

    def send(self, endpoint: str, payload: bytes) -> bytes:
        try:
            response = self._client().post(
                endpoint.rstrip("/") + EXCHANGE_PATH,
                content=payload,
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{endpoint}: {exc.__class__.__name__}: {exc}") from exc
        # Refusals travel as signed envelopes with status 200; anything else is a broken peer.
        if response.status_code != 200:
            raise TransportError(f"{endpoint}: HTTP {response.status_code}")
        return response.content


class RoutingTransport:
    """Picks the transport by endpoint scheme (inproc:// or http(s)://)."""

    def __init__(self, inproc: InProcessTransport | None = None, http: Transport | None = None):
        self.inproc = inproc or InProcessTransport()
        self._http = http

    def send(self, endpoint: str, payload: bytes) -> bytes:
        if endpoint.startswith("inproc://"):
            return self.inproc.send(endpoint, payload)
        if self._http is None:
            self._http = HttpTransport()
        return self._http.send(endpoint, payload)


Fault = Callable[[str, bytes], bool]


class FaultyTransport:
    """Injects faults: drop a request before delivery, or deliver it and lose the answer.

    ``drop_request`` / ``drop_answer`` are predicates over (endpoint, payload); the payload is
    the sealed envelope, so a test can target one message kind or one settlement id.
    """

    def __init__(
        self,
        inner: Transport,
        drop_request: Fault | None = None,
        drop_answer: Fault | None = None,
    ) -> None:
        self.inner = inner
        # The in-process endpoints it reaches, so an embedded network registers there.
        self.inproc: InProcessTransport | None = getattr(inner, "inproc", None)
        self.drop_request = drop_request
        self.drop_answer = drop_answer
        self.dropped_requests = 0
        self.dropped_answers = 0

    def send(self, endpoint: str, payload: bytes) -> bytes:
        if self.drop_request and self.drop_request(endpoint, payload):
            self.dropped_requests += 1
            raise TransportError(f"{endpoint}: request dropped (injected)")
        answer = self.inner.send(endpoint, payload)
        if self.drop_answer and self.drop_answer(endpoint, payload):
            self.dropped_answers += 1
            raise TransportError(f"{endpoint}: answer lost (injected)")
        return answer
