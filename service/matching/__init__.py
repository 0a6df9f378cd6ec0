"""Match funding: a funder's promise to match eligible gifts to an appeal, kept as a ledger.

``models`` holds the tables (a rule per funder and appeal, a cap per currency with what is used,
an allocation per rule and payment, matched or not and why); ``rules`` loads the rules from an
appeal's definition; ``ledger`` decides each paid gift against the rules, idempotently, inside
the webhook ledger's transaction; ``report`` is the funder's report and CSV.
"""
