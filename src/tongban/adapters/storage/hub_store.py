"""The hub's storage: members and the person locator (keyed pseudonyms only)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import delete, insert, select, update

from tongban.adapters.storage import schema as t
from tongban.adapters.storage.database import Database
from tongban.domain.directory import Member


class HubStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def members(self) -> list[Member]:
        with self.db.read() as conn:
            rows = conn.execute(select(t.members).order_by(t.members.c.region)).all()
        return [
            Member(r.region, r.name, r.endpoint, r.public_key, tuple(json.loads(r.services)))
            for r in rows
        ]

    def put_member(self, member: Member) -> None:
        values = {
            "name": member.name,
            "endpoint": member.endpoint,
            "public_key": member.public_key,
            "services": json.dumps(list(member.services)),
        }
        with self.db.write() as conn:
            done = conn.execute(
                update(t.members).where(t.members.c.region == member.region).values(**values)
            )
            if done.rowcount == 0:
                conn.execute(insert(t.members).values(region=member.region, **values))

    def meta(self, key: str) -> str | None:
        with self.db.read() as conn:
            return conn.scalar(select(t.hub_meta.c.value).where(t.hub_meta.c.key == key))

    def set_meta(self, key: str, value: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(t.hub_meta).where(t.hub_meta.c.key == key))
            conn.execute(insert(t.hub_meta).values(key=key, value=value))

    def register_pseudonyms(self, home_region: str, pseudonyms: Iterable[str]) -> int:
        """Record (pseudonym → home region); a person who moved is re-pointed to the new home."""
        wanted = list(dict.fromkeys(pseudonyms))
        with self.db.write() as conn:
            loc = t.person_locator.c
            known: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                known.update(conn.scalars(select(loc.pseudonym).where(loc.pseudonym.in_(chunk))))
                moved = [p for p in chunk if p in known]
                if moved:
                    conn.execute(
                        update(t.person_locator)
                        .where(loc.pseudonym.in_(moved))
                        .values(home_region=home_region)
                    )
            fresh = [{"pseudonym": p, "home_region": home_region} for p in wanted if p not in known]
            if fresh:
                conn.execute(insert(t.person_locator), fresh)
        return len(wanted)

    def locate(self, pseudonym: str) -> str | None:
        with self.db.read() as conn:
            return conn.scalar(
                select(t.person_locator.c.home_region).where(
                    t.person_locator.c.pseudonym == pseudonym
                )
            )


def open_hub_store(url: str, migrate: bool = True) -> HubStore:
    """Open the hub's database; ``migrate=False`` refuses one whose schema is behind."""
    db = Database(url, t.hub_metadata)
    db.prepare("hub", migrate)
    return HubStore(db)
