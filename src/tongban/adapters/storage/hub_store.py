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

    def register_pseudonyms(self, home_region: str, pseudonyms: Iterable[str]) -> tuple[int, int]:
        """Record (pseudonym → home region) for people no other region holds.

        Returns (registered, held by another region). A person held by another region stays
        there: only that region can release them (a person who moved), so no region can take
        over another's insured.
        """
        wanted = list(dict.fromkeys(pseudonyms))
        loc = t.person_locator.c
        held_elsewhere = 0
        with self.db.write() as conn:
            known: dict[str, str] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    select(loc.pseudonym, loc.home_region).where(loc.pseudonym.in_(chunk))
                )
                known.update((p, region) for p, region in rows)
            held_elsewhere = sum(1 for region in known.values() if region != home_region)
            fresh = [{"pseudonym": p, "home_region": home_region} for p in wanted if p not in known]
            if fresh:
                conn.execute(insert(t.person_locator), fresh)
        return len(wanted) - held_elsewhere, held_elsewhere

    def release_pseudonyms(self, home_region: str, pseudonyms: Iterable[str]) -> int:
        """Forget people this region no longer insures; another region's are left alone."""
        wanted = list(dict.fromkeys(pseudonyms))
        loc = t.person_locator.c
        released = 0
        with self.db.write() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                done = conn.execute(
                    delete(t.person_locator).where(
                        loc.home_region == home_region, loc.pseudonym.in_(chunk)
                    )
                )
                released += done.rowcount
        return released

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
