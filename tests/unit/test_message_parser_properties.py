"""Parsers of whole messages and files, fed anything: signed envelopes, period-report events,
calc cases, a hospital's reconciliation file, residents' filings (issue 5, hostile input).

As in test_parser_properties.py: each returns a value that is right and reads back to itself,
or raises its documented error with a stable code — never another exception, never a value
coerced out of something else.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tongban.adapters.exchange import seal, signed_part, unseal
from tongban.adapters.signing import public_key_b64, verify
from tongban.domain.case import CaseFormatError, parse_policy, run_case
from tongban.domain.clearing import SettlementEvent
from tongban.domain.filing import FilingKind, validity_end
from tongban.domain.identifiers import make_id_number
from tongban.domain.ledger import EventKind
from tongban.domain.reconciliation import EventLine
from tongban.domain.regions import yrd_regions
from tongban.entrypoints.reconcile_cli import COLUMNS, Failure, line_json, read_events
from tongban.errors import InvalidInput, MessageRejected, NotFound
from tongban.service_layer import wire
from tongban.service_layer.commands import FileRecord
from tongban.service_layer.home_side import HomeSide
from tongban.service_layer.ports import Message
from tongban.service_layer.records import PersonRecord

properties = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

YRD = sorted(r.code for r in yrd_regions())
LIMIT = 10**15
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1,
                     max_size=2)
json_values = st.recursive(
    scalars | surrogates,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(datetime(1901, 1, 1), datetime(2998, 12, 31), timezones=offsets)
settlement_ids = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)


# --------------------------------------------------------------------------- signed envelopes
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = public_key_b64(KEY)
safe_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)
messages = st.builds(
    Message, st.text(max_size=8), st.text(max_size=8), st.text(max_size=8),
    st.integers(-(2**63), 2**63), st.text(max_size=8),
    st.dictionaries(st.text(max_size=6), safe_json, max_size=4), st.none() | st.text(max_size=8),
)
ENVELOPE = ("sender", "recipient", "msgid", "timestamp", "kind", "body", "in_reply_to",
            "signature")


def unsealed_or_refused(payload: bytes) -> Message | None:
    """What unseal made of it: a well-typed message that can be verified, or BAD_ENVELOPE."""
    try:
        message, signature = unseal(payload)
    except MessageRejected as refused:
        assert refused.code == "BAD_ENVELOPE"
        return None
    texts = (message.sender, message.recipient, message.msgid, message.kind, signature)
    assert all(type(t) is str for t in texts) and type(message.timestamp) is int
    assert type(message.body) is dict and type(message.in_reply_to) in (str, type(None))
    signed_part(message)  # what a receiver verifies can be computed: no NaN, no lone surrogate
    return message


@properties
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_an_envelope_or_a_bad_envelope(payload: bytes) -> None:
    unsealed_or_refused(payload)


@properties
@given(messages, st.sampled_from(ENVELOPE), json_values, st.booleans())
@example(Message("a", "b", "c", 1, "k", {}), "timestamp", float("inf"), False)
@example(Message("a", "b", "c", 1, "k", {}), "timestamp", 1.5, False)
@example(Message("a", "b", "c", 1, "k", {}), "body", [["a", 1]], False)
@example(Message("a", "b", "c", 1, "k", {}), "body", {"x": float("nan")}, False)
def test_an_envelope_with_any_field_replaced_is_read_as_sent_or_refused_as_bad_envelope(
    message: Message, field: str, value: Any, drop: bool
) -> None:
    envelope = json.loads(seal(KEY, message))
    if drop:
        envelope.pop(field)
    else:
        envelope[field] = value
    payload = json.dumps(envelope).encode()
    got = unsealed_or_refused(payload)
    if got is not None:  # nothing was coerced: each field is what the envelope holds
        sent = json.loads(payload)  # (a surrogate pair travels as one character)
        assert all(getattr(got, f) == sent.get(f) for f in ENVELOPE[:-1])


def test_deeply_nested_json_is_a_bad_envelope_not_a_crash() -> None:
    for payload in (b"[" * 100_000, b'{"body":' * 50_000):
        assert unsealed_or_refused(payload) is None


@properties
@given(messages)
def test_a_sealed_message_unseals_to_itself_and_its_signature_verifies(message: Message) -> None:
    got, signature = unseal(seal(KEY, message))
    assert got == message and verify(PUBLIC, signed_part(got), signature)


# --------------------------------------------------------------------------- period-report events
institutions = st.builds("H{}{:05d}".format, st.sampled_from(YRD), st.integers(0, 99_999))
events = st.builds(
    SettlementEvent, st.sampled_from(YRD), settlement_ids, st.sampled_from(EventKind),
    st.sampled_from(YRD), institutions, moments, *[st.integers(0, LIMIT - 1)] * 3,
)
EXAMPLE_EVENT = SettlementEvent("310000", "s-1", EventKind.SETTLE, "330700", "H31000000001",
                                datetime(2026, 11, 20, tzinfo=UTC), 14251, 5000, 2000)
EVENT_FIELDS = ("visit_region", "settlement_id", "event", "home_region", "institution_code",
                "occurred_at", "medfee_sumamt", "hifp_pay", "acct_pay")


@properties
@given(events)
def test_a_settlement_event_reads_back_from_its_wire_form(event: SettlementEvent) -> None:
    assert wire.event_from_json(json.loads(json.dumps(wire.event_to_json(event)))) == event


@properties
@given(events, st.sampled_from(EVENT_FIELDS), json_values | moments.map(str), st.booleans())
@example(EXAMPLE_EVENT, "occurred_at", "0001-01-01T00:00:00+01:00", False)
@example(EXAMPLE_EVENT, "visit_region", None, False)
def test_a_report_event_with_any_field_replaced_is_read_as_sent_or_refused_as_bad_report(
    event: SettlementEvent, field: str, value: Any, drop: bool
) -> None:
    data = wire.event_to_json(event)
    if drop:
        data.pop(field)
    else:
        data[field] = value
    try:
        got = wire.event_from_json(data)
    except InvalidInput as refused:
        assert refused.code == "BAD_REPORT"
        return
    assert wire.event_from_json(wire.event_to_json(got)) == got
    assert got.visit_region in YRD and got.home_region in YRD
    assert all(0 <= getattr(got, f) < LIMIT for f in EVENT_FIELDS[6:])
    for name in ("visit_region", "settlement_id", "home_region", "institution_code"):
        assert getattr(got, name) == data[name]  # a string as sent, never str() of another type


@properties
@given(json_values)
def test_anything_else_is_a_bad_report(data: Any) -> None:
    try:
        wire.event_from_json(data)
    except InvalidInput as refused:
        assert refused.code == "BAD_REPORT"


# --------------------------------------------------------------------------- calc cases
CASE = {
    "catalog": {"A1": {"name": "诊查费", "class": "A"},
                "B1": {"name": "乙类药", "class": "B", "selfpay_ratio": "0.10", "price_cap": 1200}},
    "policy": {"insutype": "310", "med_type": "outpatient", "deductible": 1000, "ratio": "0.85",
               "annual_cap": 30000000, "deductible_subsequent": None, "level": 3,
               "reduction": {"referral": "0.10", "emergency": "0.10", "other": "0.20",
                             "unfiled": "0.20"},
               "account_covers": ["deductible", "copay"]},
    "state": {"deductible_used": 0, "fund_paid": 0, "account_balance": 2000, "admissions": 0},
    "visit": {"filing": "none", "use_account": True},
    "lines": [{"code": "A1", "quantity": "1", "unit_price": 2500},
              {"code": "B1", "quantity": "3", "unit_price": 1230, "amount": 3690}],
}
PATHS = [("catalog",), ("catalog", "B1"), ("catalog", "B1", "class"),
         ("catalog", "B1", "selfpay_ratio"), ("catalog", "B1", "price_cap"),
         ("catalog", "B1", "name"), ("policy",), ("policy", "reduction"),
         ("policy", "reduction", "unfiled"), ("state",), ("visit",), ("visit", "filing"),
         ("visit", "use_account"), ("lines",), ("lines", 1), ("lines", 1, "code"),
         ("lines", 1, "quantity"), ("lines", 1, "unit_price"), ("lines", 1, "amount")]
PATHS += [("policy", k) for k in CASE["policy"]] + [("state", k) for k in CASE["state"]]
SPLIT = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")


def replaced(case: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(case)
    *parents, last = path
    holder = out
    for step in parents:
        holder = holder[step]
    holder[last] = value
    return out


@properties
@given(st.sampled_from(PATHS), json_values | st.decimals() | st.sampled_from(["C", "inpatient"]))
@example(("catalog", "B1", "price_cap"), 10**40)
@example(("lines", 1, "quantity"), "999999999999999")
@example(("lines", 1, "quantity"), Decimal("1E+999999999"))  # a JSON number, as calc reads it
def test_a_case_with_any_value_replaced_gives_a_split_a_refusal_code_or_a_format_error(
    path: tuple[Any, ...], value: Any
) -> None:
    try:
        out = run_case(replaced(CASE, path, value))
    except CaseFormatError:
        return
    if "error" in out:
        assert out["error"] in {"INVALID_LINE", "AMOUNT_MISMATCH", "FILING_REQUIRED"}
        return
    assert all(type(out[k]) is int for k in (*SPLIT, "hifp_pay", "acct_pay", "psn_cash_pay"))
    assert out["medfee_sumamt"] == sum(out[k] for k in SPLIT)
    assert out["hifp_pay"] + out["acct_pay"] + out["psn_cash_pay"] == out["medfee_sumamt"]


@properties
@given(st.sampled_from(["insutype", "level", "account_covers", "med_type"]), json_values)
def test_a_policy_holds_only_values_of_its_own_kinds(field: str, value: Any) -> None:
    try:
        policy = parse_policy({**CASE["policy"], field: value})
    except CaseFormatError:
        return
    assert policy.insutype in ("310", "390") and policy.level in (None, 1, 2, 3)
    assert type(policy.level) is not bool


# --------------------------------------------------------------------------- reconciliation files
event_lines = st.builds(EventLine, settlement_ids, st.sampled_from(EventKind),
                        st.sampled_from(["310", "390"]), *[st.integers(0, LIMIT - 1)] * 3)


@contextmanager
def his_file(content: bytes, suffix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"his{suffix}"
        path.write_bytes(content)
        yield path


cells = st.text(st.characters(codec="utf-8") | st.sampled_from(',"\n\x00'), max_size=8)
csv_texts = st.lists(st.lists(cells, min_size=5, max_size=7), max_size=4).map(
    lambda rows: "\n".join([",".join(COLUMNS), *(",".join(r) for r in rows)]))


@properties
@given(st.one_of(st.binary(max_size=200), csv_texts.map(str.encode),
                 json_values.map(lambda v: json.dumps(v).encode()),
                 st.integers(1, 3).map(lambda n: b"[" * 10**n * 100)),
       st.sampled_from([".csv", ".json"]))
@example(b"settlement_id\x00", ".csv")
@example(b"[" + b"1" * 5000 + b"]", ".json")
def test_a_hospital_file_is_read_into_events_or_refused_with_a_code(
    content: bytes, suffix: str
) -> None:
    with his_file(content, suffix) as path:
        try:
            got = read_events(path)
        except (Failure, InvalidInput) as refused:
            assert refused.code.isupper()
            return
    assert all(isinstance(e, EventLine) for e in got)
    assert len({e.key for e in got}) == len(got)


@properties
@given(st.lists(event_lines, max_size=6, unique_by=lambda e: e.key), st.booleans())
def test_a_hospital_listing_written_as_csv_or_json_reads_back_the_same(
    lines: list[EventLine], as_json: bool
) -> None:
    if as_json:
        content = json.dumps([line_json(e) for e in lines]).encode()
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(line_json(e) for e in lines)
        content = out.getvalue().encode("utf-8-sig")  # with the BOM spreadsheets write
    with his_file(content, ".json" if as_json else ".csv") as path:
        assert read_events(path) == lines


# --------------------------------------------------------------------------- filings
@properties
@given(st.sampled_from(FilingKind), st.dates(), st.none() | st.integers(-3, 240))
@example(FilingKind.OTHER, date(9999, 12, 1), None)
def test_a_filing_is_valid_until_a_later_day_until_revoked_or_refused(
    kind: FilingKind, start: date, months: int | None
) -> None:
    try:
        end = validity_end(kind, start, months)
    except InvalidInput as refused:
        assert refused.code == "INVALID_FILING"
        return
    if kind.is_long_term:
        assert end is None and months is None
    else:
        assert end is not None and end > start and end.day <= start.day
        span = (end.year - start.year) * 12 + end.month - start.month
        assert span == (6 if months is None else months) >= 6


class _Tx:
    def __init__(self) -> None:
        self.added: list[Any] = []

    def person_by_id_number(self, number: str) -> PersonRecord | None:
        insured = number.startswith("3307")
        return PersonRecord(1, number, "p" * 64, "王秀英", "310", 0) if insured else None

    def add_filings(self, records: list[Any]) -> None:
        self.added.extend(records)


class _Store:
    def __init__(self) -> None:
        self.tx = _Tx()

    @contextmanager
    def write(self) -> Iterator[_Tx]:
        yield self.tx


NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
ids = st.builds(make_id_number, st.sampled_from(["330702", "320102"]),
                st.dates(date(1920, 1, 1), date(2020, 1, 1)), st.integers(0, 999))


@properties
@given(ids | st.text(max_size=18), st.sampled_from([k.value for k in FilingKind]) | st.text(),
       st.sampled_from([*YRD, "320000", "110000"]) | st.text(max_size=6),
       st.none() | st.dates(), st.none() | st.integers(-2, 240), st.booleans())
@example(make_id_number("330702", date(1950, 1, 1), 1), "other", "310000", date(9999, 12, 1), 6,
         True)
def test_a_filing_command_makes_a_record_or_is_refused_with_a_code_and_changes_nothing(
    id_number: str, kind: str, target: str, start: date | None, months: int | None,
    commitment: bool,
) -> None:
    store = _Store()
    home = HomeSide("330700", store, None, str, lambda: NOW)  # type: ignore[arg-type]
    try:
        record = home.file(FileRecord(id_number, kind, target, start, months, commitment))
    except (InvalidInput, NotFound) as refused:
        assert refused.code.isupper() and store.tx.added == []
        return
    assert store.tx.added == [record] and commitment and id_number.strip().startswith("3307")
    assert record.target_region == target != "330700" and FilingKind(record.kind).value == kind
    assert record.start_date == (start or date(2026, 11, 20))
