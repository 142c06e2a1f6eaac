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
    Column("settlement_id", String(64), primary_key=True),
    Column("visit_region", String(6), nullable=False),
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
)

inbox = Table(
    "inbox",
    node_metadata,
    Column("msgid", String(64), primary_key=True),
    Column("sender", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
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
