"""Arguments of the Gift Aid schedule export (finance API)."""

from __future__ import annotations

from marshmallow import fields, validate

from .finance import SLUG, DateRangeArgs


class GiftAidExportArgs(DateRangeArgs):
    """Payments received from ``from`` to ``to`` (UTC days) on gifts with a Gift Aid declaration."""

    appeal = fields.String(validate=SLUG)
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv",)))
