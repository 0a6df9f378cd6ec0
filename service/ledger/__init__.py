"""The webhook ledger: every Stripe event verified, stored, then applied exactly once.

``receiving`` verifies and stores deliveries and runs each stored event once; ``dispatch`` picks
the apply function for an event type; the ``apply_*`` modules hold one idempotent function per
Stripe object; ``sync`` and ``sweeper`` recover what webhooks missed; ``views`` and ``cli`` are the
thin HTTP and command-line entry points.
"""
