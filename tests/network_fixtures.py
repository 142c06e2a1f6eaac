"""A small network for integration and end-to-end tests, built through the public services.

Shanghai (310000) is the visit region with two hospitals; Jinhua (330700) and Nanjing
(320100) are home regions. The catalogue and the policy parameters are those of the golden
cases, so expected figures can be worked out by hand from DESIGN.md §4.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import uvicorn

from tongban.adapters.code_sender import MemoryCodeSender
from tongban.adapters.transport import Transport
from tongban.bootstrap import EmbeddedNetwork, utc_now
from tongban.domain.case import parse_catalogue, parse_policy
from tongban.domain.identifiers import make_id_number
from tongban.domain.policy import MedType
from tongban.service_layer.node import InsuredPerson
from tongban.service_layer.records import InstitutionRecord

SHANGHAI, JINHUA, NANJING = "310000", "330700", "320100"
RUIJIN, COMMUNITY, DISABLED = "H31000000001", "H31000000002", "H31000000003"
KEYS = {RUIJIN: "key-ruijin", COMMUNITY: "key-community", DISABLED: "key-disabled"}

GOLDEN_CATALOGUE = {
    "001102000010000": {"name": "普通门诊诊查费", "class": "A"},
    "XA01ABD075A002010100483": {"name": "地喹氯铵含片", "class": "B", "selfpay_ratio": "0.10",
                                "price_cap": 1200},
    "ZC01AAA0001000000000001": {"name": "示例丙类中成药", "class": "C"},
    "XN02BEA005A001010101234": {"name": "示例乙类药", "class": "B", "selfpay_ratio": "0.05"},
    "003101000010000": {"name": "床位费(三级)", "class": "A", "price_cap": 4000},
    "XJ01DCA001B002010100001": {"name": "示例乙类注射剂", "class": "B", "selfpay_ratio": "0.15",
                                "price_cap": 8850},
}

EMPLOYEE_OUTPATIENT = {
    "insutype": "310", "med_type": "outpatient", "deductible": 150000, "ratio": "0.85",
    "annual_cap": 30000000,
    "reduction": {"referral": "0.10", "emergency": "0.10", "other": "0.20", "unfiled": "0.20"},
    "account_covers": ["deductible", "copay", "preselfpay"],
}
EMPLOYEE_INPATIENT = {
    "insutype": "310", "med_type": "inpatient", "deductible": 120000,
    "deductible_subsequent": 60000, "ratio": "0.90", "annual_cap": 50000000,
    "reduction": {"referral": "0.10", "emergency": "0.10", "other": "0.20", "unfiled": None},
    "account_covers": ["deductible", "copay", "preselfpay", "ownpay", "overlimit"],
}
RESIDENT_OUTPATIENT = {
    "insutype": "390", "med_type": "outpatient", "deductible": 20000, "ratio": "0.55",
    "annual_cap": 400000,
    "reduction": {"referral": "0.10", "emergency": "0.10", "other": "0.15", "unfiled": None},
    "account_covers": [],
}


def policies() -> list[Any]:
    rows = []
    for body in (EMPLOYEE_OUTPATIENT, EMPLOYEE_INPATIENT, RESIDENT_OUTPATIENT):
        for level in (1, 2, 3):
            rows.append(parse_policy({**body, "level": level}))
    return rows


# Jinhua insured: an employee with 2,000 fen in her account, a resident (no account).
EMPLOYEE_ID = make_id_number("330702", date(1958, 3, 7), 12)
RESIDENT_ID = make_id_number("330782", date(1990, 6, 1), 31)
NANJING_ID = make_id_number("320102", date(1975, 1, 20), 44)
UNINSURED_ID = make_id_number("110105", date(1949, 12, 31), 2)


@dataclass
class SmallNetwork:
    network: EmbeddedNetwork
    clock: Callable[[], datetime]
    extra: dict[str, Any] = field(default_factory=dict)

    def node(self, region: str) -> Any:
        return self.network.node(region)

    def person_state(self, region: str, id_number: str, med_type: str = "outpatient"
                     ) -> dict[str, int]:
        """Accumulators and balance as the home node stores them (this year)."""
        store = self.network.nodes[region].store
        with store.read() as tx:
            person = tx.person_by_id_number(id_number)
            assert person is not None
            acc = tx.accumulator(person.person_id, self.clock().year, MedType(med_type).value)
        return {
            "deductible_used": acc.deductible_used,
            "fund_paid": acc.fund_paid,
            "admissions": acc.admissions,
            "account_balance": person.account_balance,
        }

    def sent_code(self, region: str, challenge_id: str) -> str:
        """The sign-in code the node sent for a challenge (what the resident's SMS says)."""
        sender = self.network.nodes[region].code_sender
        assert isinstance(sender, MemoryCodeSender)
        code = sender.last_code(challenge_id)
        assert code is not None, f"no code was sent for {challenge_id}"
        return code

    def close(self) -> None:
        self.network.close()


def build_small_network(
    data_dir: Path,
    db_url_for: Callable[[str], str] | None = None,
    transport: Transport | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> SmallNetwork:
    network = EmbeddedNetwork(data_dir, transport=transport, clock=clock, db_url_for=db_url_for)
    network.open([SHANGHAI, JINHUA, NANJING])
    catalogue = parse_catalogue(GOLDEN_CATALOGUE).values()
    network.node(SHANGHAI).load_reference(
        institutions=[
            (InstitutionRecord(RUIJIN, "瑞金医院", 3, True), KEYS[RUIJIN]),
            (InstitutionRecord(COMMUNITY, "枫林街道社区卫生服务中心", 1, True), KEYS[COMMUNITY]),
            (InstitutionRecord(DISABLED, "未开通异地结算的诊所", 1, False), KEYS[DISABLED]),
        ],
        catalogue=catalogue,
        policies=policies(),
    )
    for region, people in (
        (JINHUA, [InsuredPerson(EMPLOYEE_ID, "王秀英", "310", 2000),
                  InsuredPerson(RESIDENT_ID, "李建国", "390", 0)]),
        (NANJING, [InsuredPerson(NANJING_ID, "陈静", "310", 500000)]),
    ):
        pseudonyms = network.node(region).load_reference(
            catalogue=catalogue, policies=policies(), people=people
        )
        network.nodes[region].exchange.call("hub", "locator.register", {"pseudonyms": pseudonyms})
    return SmallNetwork(network, clock)


def golden_lines() -> list[dict[str, Any]]:
    """The bill of golden case 01: medfee 14,251 fen in four pieces 5,800/90/473/7,888."""
    return [
        {"code": "001102000010000", "quantity": "1", "unit_price": 2500},
        {"code": "XA01ABD075A002010100483", "quantity": "3", "unit_price": 1230},
        {"code": "ZC01AAA0001000000000001", "quantity": "1", "unit_price": 5800},
        {"code": "XN02BEA005A001010101234", "quantity": "0.5", "unit_price": 4521},
    ]


def auth(institution: str = RUIJIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[institution]}"}


def resident_auth(net: SmallNetwork, post: Callable[..., Any], id_number: str,
                  region: str = JINHUA, base: str = "") -> dict[str, str]:
    """Sign a resident in at their home node (``post``: a TestClient's or httpx's) with the
    code the node sent; the headers that act for them."""
    prefix = f"{base}/nodes/{region}/v1/residents"
    challenge = post(f"{prefix}/sign-in", json={"id_number": id_number})
    assert challenge.status_code == 202, challenge.text
    challenge_id = challenge.json()["challenge_id"]
    session = post(f"{prefix}/session",
                   json={"challenge_id": challenge_id, "code": net.sent_code(region, challenge_id)})
    assert session.status_code == 201, session.text
    return {"Authorization": f"Bearer {session.json()['token']}"}


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a background thread; its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
