"""Adapters at the outside: storage (SQLAlchemy), signing (Ed25519), transports."""
