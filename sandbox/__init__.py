"""A local, Stripe-compatible server for tests, demos and benchmarks.

The real stripe-python client talks to it over HTTP; see sandbox/README.md.
"""

API_VERSION = "2026-10-28.endive"
