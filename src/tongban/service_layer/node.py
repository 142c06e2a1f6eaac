"""A node: one region playing both roles, home (参保地) and visit (就医地).

It answers signed messages from other nodes (home role), serves its hospitals (visit role),
authenticates hospitals by API key, and keeps the reference data (catalogue, policies) in
memory because every preview and settlement reads them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tongban.domain.catalogue import CatalogueItem
from tongban.domain.policy import Policy
from tongban.errors import Forbidden, Unauthenticated
from tongban.service_layer.back_office import BackOffice
from tongban.service_layer.home_side import HomeSide
from tongban.service_layer.ports import Caller, Clock, Message, NodeStore
from tongban.service_layer.reconciliation import Reconciliation
from tongban.service_layer.records import FilingRecord, InstitutionRecord
from tongban.service_layer.region_view import catalogue_out
from tongban.service_layer.visit_side import VisitSide


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class InsuredPerson:
    id_number: str
    name: str
    insutype: str
    account_balance: int


class NodeService:
    def __init__(
        self,
        region: str,
        store: NodeStore,
        caller: Caller,
        pseudonym_of: Callable[[str], str],
        clock: Clock,
        hub_signed: Callable[[bytes, str], bool] = lambda _data, _signature: False,
    ) -> None:
        self.region = region
        self.store = store
        self.caller = caller
        self.pseudonym_of = pseudonym_of
        self.clock = clock
        self._lock = threading.Lock()
        self._catalogue: dict[str, CatalogueItem] = {}
        self._policies: dict[tuple[str, str, int], Policy] = {}
        self._keys: dict[str, str] = {}  # api key hash -> institution code (cache)
        self._institutions: dict[str, InstitutionRecord] = {}
        self.reload_reference()
        self.home = HomeSide(region, store, self._policies, pseudonym_of, clock)
        self.visit = VisitSide(
            region,
            store,
            caller,
            pseudonym_of,
            lambda: self._catalogue,
            self._institutions.get,
            clock,
        )
        self.reconciliation = Reconciliation(region, store, clock)
        self.back_office = BackOffice(region, store, clock, hub_signed)

    # --- inbound messages (home role, and the hub's clearing requests) ----------------------
    def handle(self, message: Message) -> dict[str, Any]:
        handler = {
            "person": self.home.person_info,
            "quote": self.home.quote,
            "commit": self.home.commit,
            "cancel": self.home.cancel,
            "resolve": self.home.resolve,
            "status": self.home.status,
            "lines": self.settlement_lines,
            "report": self.back_office.handle,
            "report.recheck": self.back_office.handle,
            "statement": self.back_office.handle,
            "period.closed": self.back_office.handle,
        }.get(message.kind)
        if handler is None:
            raise Forbidden("UNKNOWN_KIND", f"a node does not answer {message.kind!r}")
        return handler(message)

    def settlement_lines(self, message: Message) -> dict[str, Any]:
        """Visit role: the classified lines of one settlement, for the patient's own home
        region asking with the patient's pseudonym (the resident's explained split)."""
        settlement_id = str(message.body.get("settlement_id"))
        pseudonym = str(message.body.get("pseudonym"))
        with self.store.read() as tx:
            stored = tx.visit_lines_for(settlement_id, message.sender, pseudonym)
        if stored is None:
            return {"lines": None}
        lines = json.loads(stored)
        codes = {str(line.get("code")) for line in lines}
        return {
            "lines": lines,
            "catalogue": {
                code: catalogue_out(self._catalogue[code])
                for code in sorted(codes)
                if code in self._catalogue
            },
        }

    # --- hospitals ------------------------------------------------------------------------
    def authenticate(self, api_key: str | None) -> str:
        """The institution code an API key is bound to."""
        if not api_key:
            raise Unauthenticated(
                "UNAUTHENTICATED", "send the institution's API key as a bearer token"
            )
        digest = hash_api_key(api_key)
        code = self._keys.get(digest)
        if code is None:
            with self.store.read() as tx:
                institution = tx.institution_by_key_hash(digest)
            if institution is None:
                raise Unauthenticated("UNAUTHENTICATED", "unknown API key")
            code = self._keys[digest] = institution.code
        return code

    # --- reference data -------------------------------------------------------------------
    def reload_reference(self) -> None:
        with self.store.read() as tx:
            catalogue, policies = tx.catalogue(), tx.policies()
            institutions = {i.code: i for i in tx.institutions()}
        with self._lock:
            self._institutions.clear()
            self._institutions.update(institutions)
            self._catalogue.clear()
            self._catalogue.update(catalogue)
            self._policies.clear()
            self._policies.update(policies)

    def load_reference(
        self,
        institutions: Iterable[tuple[InstitutionRecord, str | None]] = (),
        catalogue: Iterable[CatalogueItem] = (),
        policies: Iterable[Policy] = (),
        people: Iterable[InsuredPerson] = (),
        filings: Iterable[tuple[str, FilingRecord]] = (),
    ) -> list[str]:
        """Bulk-load reference data and insured people; returns the new people's pseudonyms.

        ``institutions`` pairs each institution with the plain API key of its HIS (stored
        hashed). ``filings`` pairs an ID number with a filing record (person_id is filled in).
        """
        people = list(people)
        rows: list[dict[str, Any]] = [
            {
                "id_number": p.id_number,
                "pseudonym": self.pseudonym_of(p.id_number),
                "name": p.name,
                "insutype": p.insutype,
                "account_balance": p.account_balance,
            }
            for p in people
        ]
        with self.store.write() as tx:
            tx.put_institutions((i, hash_api_key(key) if key else None) for i, key in institutions)
            tx.put_catalogue(catalogue)
            tx.put_policies(policies)
            tx.put_persons(rows)
            tx.open_person_accounts((str(r["pseudonym"]) for r in rows), self.clock())
            resolved = []
            for id_number, filing in filings:
                person = tx.person_by_id_number(id_number)
                if person is not None:
                    resolved.append(replace(filing, person_id=person.person_id))
            tx.add_filings(resolved)
        self.reload_reference()
        return [str(r["pseudonym"]) for r in rows]

    @property
    def catalogue(self) -> Mapping[str, CatalogueItem]:
        return self._catalogue

    @property
    def policies(self) -> Mapping[tuple[str, str, int], Policy]:
        return self._policies
