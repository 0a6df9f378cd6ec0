"""Finance: token access, the audit log, and the reconciliation reports finance staff read.

``tokens`` issues and checks API tokens; ``auth`` turns a request into a :class:`Principal`;
``audit`` records every read and export; ``reports`` holds the plain query modules the API and
the pages share; ``csv_export`` streams rows as spreadsheet-safe CSV.
"""
