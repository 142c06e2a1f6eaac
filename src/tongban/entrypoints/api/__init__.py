"""HTTP APIs (FastAPI): the node's hospital-facing and exchange endpoints, and the hub's."""
