"""A node's copy of the hub-signed directory: persisted, renewed, and trusted only so long.

The hub is not on the real-time path, so a node keeps working on its cached directory while
the hub is down. But a directory also says whose keys to trust, and a member removed or re-keyed
at the hub must stop being trusted somewhere: the directory's expiry. The rules (DESIGN.md §2):

- A directory is issued for ``DIRECTORY_TTL`` (7 days, see ``service_layer.hub``). Past half its
  life a node asks the hub for a newer one whenever it uses it (at most once a minute), so a
  node that can reach the hub never gets near the expiry.
- Past its expiry the node still uses it for ``DIRECTORY_GRACE`` (3 days): a hub outage over a
  long weekend must not stop settlement. It logs a warning once.
- Past expiry + grace the node refuses to send to or accept from any other node
  (``DIRECTORY_EXPIRED``) until it gets a fresh directory. The hub's key is configured, not
  read from the directory, so the hub can always be asked for one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tongban.canonical import canonical_json
from tongban.domain.directory import DIRECTORY_GRACE, HUB, Directory, Member
from tongban.errors import MessageRejected, TongbanError, Unavailable

from .signing import verify

log = logging.getLogger("tongban.directory")

UNKNOWN_MEMBER_RETRY = timedelta(seconds=10)  # an unknown sender may have joined since
RENEW_RETRY = timedelta(minutes=1)  # past half-life: ask the hub again at most this often


class DirectoryCache:
    def __init__(
        self,
        hub_public_key: str,
        hub_endpoint: str,
        load: Callable[[], str | None],
        save: Callable[[str], None],
        clock: Callable[[], datetime],
    ) -> None:
        self.hub_public_key = hub_public_key
        self.hub_endpoint = hub_endpoint
        self._save = save
        self._clock = clock
        self._directory: Directory | None = None
        self._last_attempt: datetime | None = None
        self._warned_version: int | None = None
        self.fetch: Callable[[], dict[str, Any]] | None = None
        stored = load()
        if stored:
            self._accept(json.loads(stored), persist=False)

    def _accept(self, signed: dict[str, Any], persist: bool) -> Directory:
        document, signature = signed["directory"], signed["signature"]
        if not verify(self.hub_public_key, canonical_json(document), signature):
            raise MessageRejected("BAD_DIRECTORY", "the directory is not signed by the hub")
        directory = Directory.from_json(document)
        if self._directory is None or directory.version >= self._directory.version:
            self._directory = directory
            if persist:
                self._save(json.dumps(signed, ensure_ascii=False))
        return self._directory

    def refresh(self) -> Directory | None:
        if self.fetch is None:
            return self._directory
        self._last_attempt = self._clock()
        return self._accept(self.fetch(), persist=True)

    @property
    def current(self) -> Directory | None:
        return self._directory

    def endpoint_of(self, name: str) -> str | None:
        if name == HUB:
            return self.hub_endpoint
        try:
            member = self._member(name)
        except MessageRejected as exc:  # sending: nothing left this node
            raise Unavailable(exc.code, exc.detail) from None
        return member.endpoint if member else None

    def public_key_of(self, name: str) -> str | None:
        if name == HUB:
            return self.hub_public_key
        member = self._member(name)
        return member.public_key if member else None

    def _member(self, region: str) -> Member | None:
        now = self._clock()
        self._renew_if_due(now)
        directory = self._directory
        if directory is not None and directory.is_expired(now):
            self._refuse_if_past_grace(directory, now)
        member = directory.member(region) if directory else None
        if member is None and self._may_try(now, UNKNOWN_MEMBER_RETRY):
            self._try_refresh()
            member = self._directory.member(region) if self._directory else None
        return member

    def _renew_if_due(self, now: datetime) -> None:
        directory = self._directory
        if directory is None:
            return
        if directory.is_past_half_life(now) and self._may_try(now, RENEW_RETRY):
            self._try_refresh()

    def _refuse_if_past_grace(self, directory: Directory, now: datetime) -> None:
        if not directory.is_usable(now):
            raise MessageRejected(
                "DIRECTORY_EXPIRED",
                f"directory v{directory.version} expired at {directory.expires_at.isoformat()} "
                f"and its {DIRECTORY_GRACE.days}-day grace is over: this node needs a fresh "
                "directory from the hub before it trusts any other node again",
            )
        if self._warned_version != directory.version:
            self._warned_version = directory.version
            log.warning(
                "directory v%s expired at %s; still used until %s (grace) while the hub is away",
                directory.version,
                directory.expires_at.isoformat(),
                (directory.expires_at + DIRECTORY_GRACE).isoformat(),
            )

    def _may_try(self, now: datetime, every: timedelta) -> bool:
        return self._last_attempt is None or now - self._last_attempt >= every

    def _try_refresh(self) -> None:
        try:
            self.refresh()
        except TongbanError:  # the hub being down must not stop settlement
            self._last_attempt = self._clock()
