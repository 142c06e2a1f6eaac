"""Sample data and the simulated day for ``tongban demo``.

All parameters are SAMPLE parameters, plausible but not any city's real policy.
"""
