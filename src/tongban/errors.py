"""Every error tongban reports, in one place.

Each error carries a stable ``code`` (what integrators match on), an HTTP ``status`` and a
human ``detail``. Entry points turn them into RFC 9457 problem+json or CLI messages; nothing
else decides how an error looks.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TongbanError(Exception):
    """Base of all expected errors. Anything else escaping to an entry point is a bug."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Request refused"

    def __init__(self, code: str, detail: str = "", **extra: Any) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail or code
        self.extra = extra


class InvalidInput(TongbanError):
    """The request itself is wrong (malformed, bad checksum, bad line): nothing was changed."""

    status = 422
    title = "Invalid input"


class Unauthenticated(TongbanError):
    status = 401
    title = "Not authenticated"


class Forbidden(TongbanError):
    """Authenticated, but acting for someone else (another institution, another region)."""

    status = 403
    title = "Forbidden"


class NotFound(TongbanError):
    status = 404
    title = "Not found"


class Conflict(TongbanError):
    """The id is taken by different content, or the object is in a state that forbids this."""

    status = 409
    title = "Conflict"


class Refused(TongbanError):
    """A business rule refuses the request (e.g. FILING_REQUIRED); final for its id."""

    status = 422
    title = "Refused by policy"


class TooManyRequests(TongbanError):
    """Too many attempts in a while (e.g. sign-ins for one ID number): try again later."""

    status = 429
    title = "Too many requests"


class Unavailable(TongbanError):
    """A peer did not answer. For a settlement this means UNKNOWN, never lost."""

    status = 503
    title = "Peer unavailable"


class MessageRejected(TongbanError):
    """A signed exchange message failed verification (signature, sender, staleness, replay)."""

    status = 401
    title = "Message rejected"


class TransportError(Exception):
    """Raised by transports when a message could not be delivered or its answer was lost.

    Deliberately not a TongbanError: callers must decide what an unanswered message means.
    """
