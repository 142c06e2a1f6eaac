"""Use cases around the domain: each method is one transaction-bounded step of the protocol.

- ``visit_side``: the visit node (就医地): register, preview, settle, cancel, status, recovery.
- ``home_side``: the home node (参保地): person info, quote, commit, cancel, resolve; filings.
- ``hub``: the directory and the person locator.
- ``ports``: what the services need from storage and the exchange (implemented in adapters).
"""
