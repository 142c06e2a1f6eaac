"""Entry points at the edge: the ``tongban`` CLI and the HTTP APIs (node and hub)."""
