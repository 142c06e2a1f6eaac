"""Tables of a node (both roles) and of the hub. Money columns are BIGINT fen."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

node_metadata = MetaData()
hub_metadata = MetaData()

Money = BigInteger


def _ledger_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The double-entry ledger (nodes and hub alike): accounts and immutable transfers."""
    accounts = Table(
        "ledger_accounts",
        metadata,
        Column("account", String(100), primary_key=True),
        Column("opened_at", DateTime(timezone=True), nullable=False),
    )
    transfers = Table(
        "ledger_transfers",
        metadata,
        Column("transfer_id", String(140), primary_key=True),  # chosen by the poster
        Column("debit", String(100), nullable=False, index=True),
        Column("credit", String(100), nullable=False, index=True),
        Column("amount", Money, nullable=False),
        Column("code", String(32), nullable=False),
        Column("ref", String(64), nullable=False, index=True),
        Column("content_hash", String(64), nullable=False),
        Column("posted_at", DateTime(timezone=True), nullable=False),
    )
    return accounts, transfers


# --- node: reference data -------------------------------------------------------------------
node_meta = Table(
    "node_meta",
    node_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

institutions = Table(
    "institutions",
    node_metadata,
    Column("code", String(12), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("level", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),  # enabled for cross-region direct settlement
    Column("api_key_hash", String(64), unique=True),  # sha256 of the HIS's API key
)

catalogue = Table(
    "catalogue",
    node_metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("coverage", String(1), nullable=False),
    Column("selfpay_ratio", String(16), nullable=False),
    Column("price_cap", Money),
)

policies = Table(
    "policies",
    node_metadata,
    Column("insutype", String(3), primary_key=True),
    Column("med_type", String(16), primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("body", Text, nullable=False),  # the §4.3 policy JSON
)

# --- node: home role (参保地) -----------------------------------------------------------------
persons = Table(
    "persons",
    node_metadata,
    Column("person_id", Integer, primary_key=True, autoincrement=True),
    Column("id_number", String(18), nullable=False, unique=True),
    Column("pseudonym", String(64), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("insutype", String(3), nullable=False),
    Column("account_balance", Money, nullable=False),
)

accumulators = Table(
    "accumulators",
    node_metadata,
    Column("person_id", Integer, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("med_type", String(16), primary_key=True),
    Column("deductible_used", Money, nullable=False),
    Column("fund_paid", Money, nullable=False),
    Column("admissions", Integer, nullable=False),
)

filings = Table(
    "filings",
    node_metadata,
    Column("filing_id", String(40), primary_key=True),
    Column("person_id", Integer, nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("target_region", String(6), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    Column("revoked_on", Date),
    Column("commitment", Text, nullable=False),  # the personal commitment (承诺) as signed
    Column("created_at", DateTime(timezone=True), nullable=False),
)

home_settlements = Table(
    "home_settlements",
    node_metadata,
    # Keyed by the visit region too: hospitals choose ids unique in their own region only
    # (migration node_0005), so one region can neither collide with nor void another's.
    Column("settlement_id", String(64), primary_key=True),
    Column("visit_region", String(6), primary_key=True),
    Column("institution_code", String(12)),
    Column("person_id", Integer, index=True),
    Column("med_type", String(16)),
    Column("year", Integer),
    Column("status", String(16), nullable=False),  # COMMITTED CANCELLED REFUSED ABORTED
    Column("content_hash", String(64)),
    Column("error_code", String(40)),
    Column("split", Text),  # JSON of the split
    Column("delta", Text),  # JSON of the StateDelta committed, restored on cancel
    Column("hifp_pay", Money),
    Column("acct_pay", Money),
    Column("medfee_sumamt", Money),
    Column("settled_on", Date),
    Column("committed_at", DateTime(timezone=True)),
    Column("cancelled_at", DateTime(timezone=True)),
    # Day summaries and monthly period reports select by date (migration node_0002).
    Index("ix_home_settlements_settled_on", "settled_on"),
    # Period reports select events by the moment they happened (migration node_0003).
    Index("ix_home_settlements_committed_at", "committed_at"),
    Index("ix_home_settlements_cancelled_at", "cancelled_at"),
)

inbox = Table(
    "inbox",
    node_metadata,
    Column("msgid", String(64), primary_key=True),
    Column("sender", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# --- node: residents' sign-in (one-time codes, sessions; migration node_0004) ---------------
resident_challenges = Table(
    "resident_challenges",
    node_metadata,
    Column("challenge_id", String(40), primary_key=True),
    Column("pseudonym", String(64), nullable=False, index=True),  # of the ID number given
    Column("person_id", Integer),  # None: nobody insured here has that ID number, no code sent
    Column("code_hash", String(64), nullable=False),  # HMAC-SHA256 of the code, keyed by the id
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)

resident_sessions = Table(
    "resident_sessions",
    node_metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the bearer token
    Column("person_id", Integer, nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# --- node: visit role (就医地) ----------------------------------------------------------------
visits = Table(
    "visits",
    node_metadata,
    Column("visit_id", String(40), primary_key=True),
    Column("institution_code", String(12), nullable=False, index=True),
    Column("pseudonym", String(64), nullable=False),
    Column("masked_id", String(18), nullable=False),
    Column("masked_name", String(64), nullable=False),
    Column("home_region", String(6), nullable=False),
    Column("insutype", String(3), nullable=False),
    Column("med_type", String(16), nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("visit_date", Date, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)

visit_settlements = Table(
    "visit_settlements",
    node_metadata,
    Column("settlement_id", String(64), primary_key=True),
    Column("visit_id", String(40), nullable=False, index=True),
    Column("institution_code", String(12), nullable=False),
    Column("home_region", String(6), nullable=False),
    Column("insutype", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("commit_body", Text, nullable=False),  # the exact body sent home (outbox content)
    Column("lines", Text, nullable=False),  # classified lines, JSON
    Column("error_code", String(40)),
    Column("error_detail", Text),
    Column("split", Text),
    Column("medfee_sumamt", Money, nullable=False),
    Column("hifp_pay", Money),
    Column("acct_pay", Money),
    Column("psn_cash_pay", Money),
    Column("settled_on", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True)),
    Column("cancelled_at", DateTime(timezone=True)),
    Index("ix_visit_settlements_status", "status"),
    Index("ix_visit_settlements_settled_on", "settled_on"),
    Index("ix_visit_settlements_settled_at", "settled_at"),
    Index("ix_visit_settlements_cancelled_at", "cancelled_at"),
)

outbox = Table(
    "outbox",
    node_metadata,
    Column("outbox_id", Integer, primary_key=True, autoincrement=True),
    Column("settlement_id", String(64), nullable=False, index=True),
    Column("recipient", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True)),
    Column("outcome", String(40)),
)

locator_cache = Table(
    "locator_cache",
    node_metadata,
    Column("pseudonym", String(64), primary_key=True),
    Column("home_region", String(6), nullable=False),
)

node_ledger_accounts, node_ledger_transfers = _ledger_tables(node_metadata)

node_statements = Table(
    "statements",  # the hub-signed clearing statements this node received, and its answer
    node_metadata,
    Column("period", String(7), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("signature", String(128), nullable=False),
    Column("answer", String(16), nullable=False),  # CONFIRMED or DISPUTED
    Column("reason", Text),
    Column("answered_at", DateTime(timezone=True), nullable=False),
)

# --- hub ------------------------------------------------------------------------------------
hub_meta = Table(
    "hub_meta",
    hub_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

members = Table(
    "members",
    hub_metadata,
    Column("region", String(6), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("services", Text, nullable=False),
)

person_locator = Table(
    "person_locator",
    hub_metadata,
    Column("pseudonym", String(64), primary_key=True),  # keyed pseudonym, never an ID number
    Column("home_region", String(6), nullable=False),
)

hub_ledger_accounts, hub_ledger_transfers = _ledger_tables(hub_metadata)

periods = Table(
    "periods",
    hub_metadata,
    Column("period", String(7), primary_key=True),
    Column("status", String(16), nullable=False),  # CLEARED (statements out) or CLOSED
    Column("window_from", DateTime(timezone=True)),  # None: from the first event ever
    Column("window_to", DateTime(timezone=True), nullable=False),
    Column("matched_events", BigInteger, nullable=False),
    Column("cleared_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
)

report_events = Table(
    "report_events",  # the nodes' signed period reports, one row per event and side
    hub_metadata,
    Column("period", String(7), primary_key=True),
    Column("side", String(5), primary_key=True),  # visit | home
    Column("visit_region", String(6), primary_key=True),
    Column("settlement_id", String(64), primary_key=True),
    Column("event", String(6), primary_key=True),  # settle | cancel
    Column("home_region", String(6), nullable=False),
    Column("institution_code", String(12), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("medfee_sumamt", Money, nullable=False),
    Column("hifp_pay", Money, nullable=False),
    Column("acct_pay", Money, nullable=False),
)

report_receipts = Table(
    "report_receipts",  # which node sent which report, with the digest of what it signed
    hub_metadata,
    Column("period", String(7), primary_key=True),
    Column("region", String(6), primary_key=True),
    Column("side", String(5), primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

clearing_exceptions = Table(
    "clearing_exceptions",
    hub_metadata,
    Column("visit_region", String(6), primary_key=True),
    Column("settlement_id", String(64), primary_key=True),
    Column("event", String(6), primary_key=True),
    Column("found_in", String(7), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # VISIT_ONLY HOME_ONLY DIFFERS
    Column("visit_view", Text),  # JSON of the visit node's event, if it reported one
    Column("home_view", Text),
    Column("status", String(16), nullable=False),  # OPEN or RESOLVED
    Column("resolution", String(24)),  # MATCHED_LATER ACCEPT_VISIT ACCEPT_HOME WRITTEN_OFF
    Column("note", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("cleared_in", String(7), index=True),  # the period that cleared the resolution
    Column("home_region", String(6)),  # the accepted event (None if written off)
    Column("medfee_sumamt", Money),
    Column("hifp_pay", Money),
    Column("acct_pay", Money),
)

obligations = Table(
    "obligations",
    hub_metadata,
    Column("period", String(7), primary_key=True),
    Column("home_region", String(6), primary_key=True),
    Column("visit_region", String(6), primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("medfee_sumamt", Money, nullable=False),
    Column("hifp_pay", Money, nullable=False),
    Column("acct_pay", Money, nullable=False),
)

statements = Table(
    "statements",
    hub_metadata,
    Column("period", String(7), primary_key=True),
    Column("region", String(6), primary_key=True),
    Column("net", Money, nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON, what the signature covers
    Column("digest", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # ISSUED CONFIRMED DISPUTED
    Column("reason", Text),
    Column("answered_at", DateTime(timezone=True)),
)

# --- node: the national-interface adapter (migration node_0006) -------------------------------
national_messages = Table(
    # Every national envelope a hospital sent that did something, by its msgid: a repeat of
    # the same msgid gets the same answer, and 2601 (冲正) finds what it reverses here.
    "national_messages",
    node_metadata,
    Column("msgid", String(30), primary_key=True),
    Column("institution_code", String(12), nullable=False),
    Column("infno", String(8), nullable=False),
    Column("content_hash", String(64), nullable=False),  # "" for a reversal's tombstone
    Column("mdtrt_id", String(40), index=True),
    Column("chrg_bchno", String(40)),
    Column("answer", Text),  # the output given, JSON; None while the outcome is open
    Column("reversal", String(16)),  # None, PENDING (home away) or DONE
    Column("reversed_by", String(30)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_national_messages_reversal", "reversal"),
)

national_fee_details = Table(
    # Fee details uploaded by 2204/2301 (费用明细), settled by 2207/2304 as one bill.
    "national_fee_details",
    node_metadata,
    Column("mdtrt_id", String(40), primary_key=True),
    Column("feedetl_sn", String(30), primary_key=True),
    Column("institution_code", String(12), nullable=False),
    Column("chrg_bchno", String(40), nullable=False),
    Column("msgid", String(30), nullable=False, index=True),
    Column("code", String(50), nullable=False),
    Column("quantity", String(24), nullable=False),
    Column("unit_price", Money, nullable=False),
    Column("amount", Money, nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
)
