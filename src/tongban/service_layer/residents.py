"""Residents at their home node (参保地): sign-in with a one-time code, and their own filings.

A resident proves who they are with a 6-digit code sent to them (by SMS in production); the
session token that buys is bound to that one person, so every filing call acts for them only.
Codes and tokens are stored hashed, so a copy of the database signs no one in. Signing in with
an ID number nobody here is insured under answers exactly like a real sign-in (no code is
sent), so the endpoint tells no one who is insured.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from tongban.domain.calendar import local_date
from tongban.domain.identifiers import mask_id_number, parse_id_number
from tongban.errors import Forbidden, NotFound, TooManyRequests, Unauthenticated
from tongban.service_layer.commands import FileRecord, RevokeFiling
from tongban.service_layer.home_side import HomeSide, mask_name
from tongban.service_layer.ports import Clock
from tongban.service_layer.records import FilingRecord, PersonRecord

CODE_TTL = timedelta(minutes=5)
SESSION_TTL = timedelta(minutes=30)
MAX_ATTEMPTS = 5  # wrong codes that burn a challenge
# Challenges per ID number per window: with MAX_ATTEMPTS this bounds guessing at 25 codes in
# 15 minutes (of a million), for known and unknown ID numbers alike.
MAX_SIGN_INS = 5
SIGN_IN_WINDOW = timedelta(minutes=15)
KEEP_SIGN_INS = timedelta(days=1)  # challenges and sessions older than this are deleted


@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    challenge_id: str
    pseudonym: str  # keyed pseudonym of the ID number given: counts sign-ins per person
    person_id: int | None  # None: nobody insured here, no code was sent
    code_hash: str
    attempts: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    token_hash: str
    person_id: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class ResidentTx(Protocol):
    """What sign-in needs of one node transaction (``NodeTransaction`` provides it)."""

    def person(self, person_id: int) -> PersonRecord | None: ...

    def person_by_id_number(self, id_number: str) -> PersonRecord | None: ...

    def add_challenge(self, record: ChallengeRecord) -> None: ...

    def challenge(self, challenge_id: str) -> ChallengeRecord | None: ...

    def sign_ins_since(self, pseudonym: str, since: datetime) -> int: ...

    def spend_code_attempt(self, challenge_id: str, limit: int) -> int | None: ...

    def use_challenge(self, challenge_id: str, at: datetime) -> bool: ...

    def add_session(self, record: SessionRecord) -> None: ...

    def session(self, token_hash: str) -> SessionRecord | None: ...

    def end_session(self, token_hash: str, at: datetime) -> None: ...

    def purge_sign_ins(self, before: datetime) -> None: ...


class ResidentStore(Protocol):
    def write(self) -> AbstractContextManager[ResidentTx]: ...

    def read(self) -> AbstractContextManager[ResidentTx]: ...


class CodeSender(Protocol):
    """Delivers a one-time code to the person (SMS to the phone on record, in production).

    Raises ``Unavailable`` when it cannot deliver; the resident then signs in again.
    """

    delivery: str  # how the code travels, told to the resident: "sms"

    def send(self, person: PersonRecord, challenge_id: str, code: str) -> None: ...

    def demo_code(self, challenge_id: str) -> str | None:
        """The code to show in the sign-in answer: only a demo adapter ever returns one."""
        ...


@dataclass(frozen=True, slots=True)
class Challenge:
    challenge_id: str
    expires_at: datetime
    delivery: str
    demo_code: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ResidentView:
    masked_id: str
    masked_name: str
    insutype: str
    account_balance: int  # fen


@dataclass(frozen=True, slots=True)
class ResidentFiling:
    """A filing as a signed-in resident asks for it; the ID number, if given, must be theirs."""

    kind: str
    target_region: str
    start_date: date | None = None
    months: int | None = None
    commitment: bool = False
    id_number: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _code_hash(challenge_id: str, code: str) -> str:
    # Keyed by the challenge: one code's hash says nothing about another challenge's.
    return hmac.new(challenge_id.encode(), code.encode(), hashlib.sha256).hexdigest()


class Residents:
    def __init__(
        self,
        store: ResidentStore,
        home: HomeSide,
        sender: CodeSender,
        clock: Clock,
    ) -> None:
        self.store = store
        self.home = home
        self.sender = sender
        self.clock = clock

    # --- sign-in --------------------------------------------------------------------------
    def sign_in(self, id_number: str) -> Challenge:
        """Start a sign-in: a code goes to the person if they are insured here."""
        now = self.clock()
        resident = parse_id_number(id_number, local_date(now))
        challenge_id = secrets.token_hex(16)
        code = f"{secrets.randbelow(1_000_000):06d}"
        with self.store.write() as tx:
            tx.purge_sign_ins(now - KEEP_SIGN_INS)
            pseudonym = self.home.pseudonym_of(resident.number)
            if tx.sign_ins_since(pseudonym, now - SIGN_IN_WINDOW) >= MAX_SIGN_INS:
                raise TooManyRequests(
                    "TOO_MANY_SIGN_INS",
                    f"at most {MAX_SIGN_INS} sign-ins per "
                    f"{SIGN_IN_WINDOW.seconds // 60} minutes: try again later",
                )
            person = tx.person_by_id_number(resident.number)
            # Nobody insured here: a challenge all the same (same answers later), whose code
            # is a secret never sent, so no code can match it.
            secret = code if person is not None else secrets.token_hex(16)
            tx.add_challenge(
                ChallengeRecord(
                    challenge_id=challenge_id,
                    pseudonym=pseudonym,
                    person_id=person.person_id if person else None,
                    code_hash=_code_hash(challenge_id, secret),
                    attempts=0,
                    created_at=now,
                    expires_at=now + CODE_TTL,
                )
            )
        if person is not None:
            self.sender.send(person, challenge_id, code)
        return Challenge(
            challenge_id, now + CODE_TTL, self.sender.delivery, self.sender.demo_code(challenge_id)
        )

    def open_session(self, challenge_id: str, code: str) -> Session:
        """Exchange a challenge's code for a session token (once; 5 wrong codes burn it)."""
        now = self.clock()
        token = secrets.token_urlsafe(32)
        refusal: Unauthenticated | None = None
        with self.store.write() as tx:
            challenge = tx.challenge(challenge_id)
            if challenge is None:
                raise NotFound("CHALLENGE_NOT_FOUND", "no such sign-in: sign in again")
            if challenge.used_at is not None:
                raise Unauthenticated("CODE_USED", "this code was used already: sign in again")
            if challenge.expires_at <= now:
                raise Unauthenticated("CODE_EXPIRED", "the code has expired: sign in again")
            attempts = tx.spend_code_attempt(challenge_id, MAX_ATTEMPTS)
            if attempts is None:
                raise _attempts_exceeded()
            matches = hmac.compare_digest(challenge.code_hash, _code_hash(challenge_id, code))
            if challenge.person_id is None or not matches:
                # The spent attempt must be committed, so the refusal is raised afterwards.
                left = MAX_ATTEMPTS - attempts
                refusal = (
                    _attempts_exceeded()
                    if left <= 0
                    else Unauthenticated(
                        "CODE_INVALID", f"wrong code: {left} attempts left", attempts_left=left
                    )
                )
            else:
                if not tx.use_challenge(challenge_id, now):  # a concurrent exchange won
                    raise Unauthenticated("CODE_USED", "this code was used already")
                tx.add_session(
                    SessionRecord(hash_token(token), challenge.person_id, now, now + SESSION_TTL)
                )
        if refusal is not None:
            raise refusal
        return Session(token, now + SESSION_TTL)

    def authenticate(self, token: str | None) -> PersonRecord:
        """The person a session token is bound to."""
        if not token:
            raise Unauthenticated(
                "UNAUTHENTICATED", "sign in and send the session token as a bearer token"
            )
        with self.store.read() as tx:
            session = tx.session(hash_token(token))
            if session is None:
                raise Unauthenticated("UNAUTHENTICATED", "unknown session token")
            if session.revoked_at is not None:
                raise Unauthenticated("SESSION_ENDED", "signed out: sign in again")
            if session.expires_at <= self.clock():
                raise Unauthenticated("SESSION_EXPIRED", "the session has expired: sign in again")
            person = tx.person(session.person_id)
        if person is None:  # people are never deleted; were one, their token would die too
            raise Unauthenticated("UNAUTHENTICATED", "unknown session token")
        return person

    def sign_out(self, token: str | None) -> None:
        """End the session (again: no change). Its token is refused from then on."""
        if not token:
            raise Unauthenticated("UNAUTHENTICATED", "send the session token to sign out")
        digest = hash_token(token)
        with self.store.write() as tx:
            session = tx.session(digest)
            if session is None:
                raise Unauthenticated("UNAUTHENTICATED", "unknown session token")
            if session.revoked_at is None:
                tx.end_session(digest, self.clock())

    # --- the signed-in resident -----------------------------------------------------------
    def me(self, person: PersonRecord) -> ResidentView:
        return ResidentView(
            masked_id=mask_id_number(person.id_number),
            masked_name=mask_name(person.name),
            insutype=person.insutype,
            account_balance=person.account_balance,
        )

    def filings(self, person: PersonRecord, id_number: str | None = None) -> list[FilingRecord]:
        _same_person(person, id_number)
        return self.home.filings(person.id_number)

    def file(self, person: PersonRecord, request: ResidentFiling) -> FilingRecord:
        _same_person(person, request.id_number)
        return self.home.file(
            FileRecord(
                person.id_number,
                request.kind,
                request.target_region,
                request.start_date,
                request.months,
                request.commitment,
            )
        )

    def revoke(self, person: PersonRecord, filing_id: str) -> FilingRecord:
        """Someone else's filing is FILING_NOT_FOUND, as an unknown one: no oracle."""
        return self.home.revoke(RevokeFiling(person.id_number, filing_id))


def _same_person(person: PersonRecord, id_number: str | None) -> None:
    if id_number is not None and parse_id_number(id_number).number != person.id_number:
        raise Forbidden("NOT_YOUR_RECORD", "a signed-in resident acts only for themselves")


def _attempts_exceeded() -> Unauthenticated:
    return Unauthenticated(
        "CODE_ATTEMPTS_EXCEEDED", f"{MAX_ATTEMPTS} wrong codes: sign in again for a new code"
    )
