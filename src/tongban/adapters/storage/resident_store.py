"""Residents' sign-in in a node's database: one-time code challenges and sessions, hashed.

Mixed into ``NodeTransaction``; implements ``service_layer.residents.ResidentTx``.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from tongban.adapters.storage import schema as t
from tongban.adapters.storage.database import read_moment, stored_moment
from tongban.service_layer.residents import ChallengeRecord, SessionRecord

_c = t.resident_challenges.c
_s = t.resident_sessions.c
R = TypeVar("R", ChallengeRecord, SessionRecord)


def _stored(record: ChallengeRecord | SessionRecord) -> dict[str, Any]:
    return {
        k: stored_moment(v) if isinstance(v, datetime) else v for k, v in asdict(record).items()
    }


def _read(cls: type[R], row: Row[Any]) -> R:
    values: dict[str, Any] = {}
    for f in fields(cls):
        value = row._mapping[f.name]
        values[f.name] = read_moment(value) if isinstance(value, datetime) else value
    return cls(**values)


class ResidentQueries:
    conn: Connection

    def add_challenge(self, record: ChallengeRecord) -> None:
        self.conn.execute(insert(t.resident_challenges).values(**_stored(record)))

    def challenge(self, challenge_id: str) -> ChallengeRecord | None:
        row = self.conn.execute(
            select(t.resident_challenges).where(_c.challenge_id == challenge_id)
        ).first()
        return _read(ChallengeRecord, row) if row else None

    def sign_ins_since(self, pseudonym: str, since: datetime) -> int:
        return int(
            self.conn.scalar(
                select(func.count())
                .select_from(t.resident_challenges)
                .where(_c.pseudonym == pseudonym, _c.created_at >= stored_moment(since))
            )
            or 0
        )

    def spend_code_attempt(self, challenge_id: str, limit: int) -> int | None:
        """Count one attempt unless ``limit`` are spent or the code was used; the new count.

        One UPDATE, so concurrent guesses cannot spend more than ``limit`` between them (it
        locks the row on PostgreSQL; SQLite has one writer).
        """
        done = self.conn.execute(
            update(t.resident_challenges)
            .where(_c.challenge_id == challenge_id, _c.attempts < limit, _c.used_at.is_(None))
            .values(attempts=_c.attempts + 1)
        )
        if done.rowcount != 1:
            return None
        return int(
            self.conn.scalar(select(_c.attempts).where(_c.challenge_id == challenge_id)) or 0
        )

    def use_challenge(self, challenge_id: str, at: datetime) -> bool:
        done = self.conn.execute(
            update(t.resident_challenges)
            .where(_c.challenge_id == challenge_id, _c.used_at.is_(None))
            .values(used_at=stored_moment(at))
        )
        return done.rowcount == 1

    def add_session(self, record: SessionRecord) -> None:
        self.conn.execute(insert(t.resident_sessions).values(**_stored(record)))

    def session(self, token_hash: str) -> SessionRecord | None:
        row = self.conn.execute(
            select(t.resident_sessions).where(_s.token_hash == token_hash)
        ).first()
        return _read(SessionRecord, row) if row else None

    def end_session(self, token_hash: str, at: datetime) -> None:
        self.conn.execute(
            update(t.resident_sessions)
            .where(_s.token_hash == token_hash, _s.revoked_at.is_(None))
            .values(revoked_at=stored_moment(at))
        )

    def purge_sign_ins(self, before: datetime) -> None:
        """Forget challenges and sessions that ended before ``before``."""
        moment = stored_moment(before)
        self.conn.execute(delete(t.resident_challenges).where(_c.expires_at < moment))
        self.conn.execute(delete(t.resident_sessions).where(_s.expires_at < moment))
