"""Storage: SQLAlchemy Core over SQLite (WAL, embedded default) or PostgreSQL (production).

One database per node and one for the hub; the same tables on both engines.
"""
