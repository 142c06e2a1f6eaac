"""The network directory the hub publishes: members, endpoints, public keys, services.

Like X-Road's global configuration, it is signed by the hub, carries a version and an expiry,
and nodes keep working on a cached copy while the hub is down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

HUB = "hub"  # the hub's identity as a message sender
MEDICAL_SETTLEMENT = "medical_settlement"  # 异地就医直接结算

DIRECTORY_TTL = timedelta(days=7)  # how long a published directory is valid
# After expiry a node goes on with its cached copy this long (a hub outage over a long
# weekend must not stop settlement), then refuses other nodes until it has a fresh one.
DIRECTORY_GRACE = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class Member:
    region: str
    name: str
    endpoint: str  # "inproc://330700" in the embedded network, "http://host:port" otherwise
    public_key: str  # Ed25519, raw 32 bytes, base64
    services: tuple[str, ...] = (MEDICAL_SETTLEMENT,)


@dataclass(frozen=True, slots=True)
class Directory:
    version: int
    issued_at: datetime
    expires_at: datetime
    hub_endpoint: str
    members: Mapping[str, Member] = field(default_factory=dict)

    def member(self, region: str) -> Member | None:
        return self.members.get(region)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def is_usable(self, now: datetime) -> bool:
        """Still to be trusted: before expiry, or within the grace period after it."""
        return now < self.expires_at + DIRECTORY_GRACE

    def is_past_half_life(self, now: datetime) -> bool:
        return now >= self.issued_at + (self.expires_at - self.issued_at) / 2

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "hub_endpoint": self.hub_endpoint,
            "members": [
                {
                    "region": m.region,
                    "name": m.name,
                    "endpoint": m.endpoint,
                    "public_key": m.public_key,
                    "services": list(m.services),
                }
                for m in sorted(self.members.values(), key=lambda m: m.region)
            ],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Directory:
        members = {
            m["region"]: Member(
                region=m["region"],
                name=m["name"],
                endpoint=m["endpoint"],
                public_key=m["public_key"],
                services=tuple(m.get("services", ())),
            )
            for m in data["members"]
        }
        return Directory(
            version=int(data["version"]),
            issued_at=datetime.fromisoformat(data["issued_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            hub_endpoint=data["hub_endpoint"],
            members=members,
        )
