"""The hub: publishes the signed directory and runs the person locator.

It is not on the real-time path: nodes call each other directly and keep a cached
directory, so settlement goes on while the hub is down (only first-time person lookups wait).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from tongban.canonical import canonical_json
from tongban.domain.directory import DIRECTORY_TTL, Directory, Member
from tongban.errors import Forbidden, InvalidInput, NotFound
from tongban.service_layer.ports import Clock, Message


def _is_pseudonym(value: object) -> bool:
    """A keyed pseudonym: HMAC-SHA256 in lowercase hex, never anything else (an ID number)."""
    return isinstance(value, str) and len(value) == 64 and all(c in HEX for c in value)


HEX = frozenset("0123456789abcdef")


class HubStorePort(Protocol):
    def members(self) -> list[Member]: ...
    def put_member(self, member: Member) -> None: ...
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def register_pseudonyms(self, home_region: str, pseudonyms: list[str]) -> tuple[int, int]: ...
    def release_pseudonyms(self, home_region: str, pseudonyms: list[str]) -> int: ...
    def locate(self, pseudonym: str) -> str | None: ...


class Hub:
    def __init__(
        self,
        store: HubStorePort,
        endpoint: str,
        sign: Callable[[bytes], str],
        clock: Clock,
    ) -> None:
        self.store = store
        self.endpoint = endpoint
        self._sign = sign
        self.clock = clock
        self._members = {m.region: m for m in store.members()}

    def public_key_of(self, region: str) -> str | None:
        member = self._members.get(region)
        return member.public_key if member else None

    def endpoint_of(self, region: str) -> str | None:
        member = self._members.get(region)
        return member.endpoint if member else None

    def regions(self) -> list[str]:
        return sorted(self._members)

    def admit(self, members: list[Member]) -> dict[str, Any]:
        """Admit or update members, then publish a new directory version."""
        for member in members:
            self.store.put_member(member)
            self._members[member.region] = member
        return self.publish()

    def publish(self) -> dict[str, Any]:
        previous = self.store.meta("directory")
        version = json.loads(previous)["directory"]["version"] + 1 if previous else 1
        now = self.clock()
        directory = Directory(
            version=version,
            issued_at=now,
            expires_at=now + DIRECTORY_TTL,
            hub_endpoint=self.endpoint,
            members=dict(self._members),
        ).to_json()
        signed = {"directory": directory, "signature": self._sign(canonical_json(directory))}
        self.store.set_meta("directory", json.dumps(signed, ensure_ascii=False))
        return signed

    def signed_directory(self) -> dict[str, Any]:
        """The current directory; a new version once the current one is past half its life,
        so a node that can reach the hub always holds one with days to run."""
        current = self.store.meta("directory")
        if current is None:
            return self.publish()
        signed: dict[str, Any] = json.loads(current)
        if Directory.from_json(signed["directory"]).is_past_half_life(self.clock()):
            return self.publish()
        return signed

    def handle(self, message: Message) -> dict[str, Any]:
        if message.kind == "directory.get":
            return self.signed_directory()
        if message.kind in ("locator.register", "locator.release"):
            pseudonyms = message.body.get("pseudonyms")
            if not isinstance(pseudonyms, list) or not all(_is_pseudonym(p) for p in pseudonyms):
                raise InvalidInput("BAD_MESSAGE", "pseudonyms must be a list of 64-hex strings")
            # A node registers and releases only its own insured: the home region is the
            # verified sender, and a person another region holds stays with it until released.
            if message.kind == "locator.release":
                return {"released": self.store.release_pseudonyms(message.sender, pseudonyms)}
            registered, elsewhere = self.store.register_pseudonyms(message.sender, pseudonyms)
            return {"registered": registered, "held_by_another_region": elsewhere}
        if message.kind == "locator.lookup":
            home = self.store.locate(str(message.body.get("pseudonym")))
            if home is None:
                raise NotFound("PERSON_NOT_LOCATED", "no member region insures this person")
            return {"home_region": home}
        raise Forbidden("UNKNOWN_KIND", f"the hub does not answer {message.kind!r}")
