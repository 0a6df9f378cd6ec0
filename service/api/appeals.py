"""Public appeal listing and detail."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.appeals import AppealPublicSchema
from schemas.base import ErrorSchema

from .. import appeals, db
from ..donations import successors
from .json_body import require_json_body

blp = Blueprint(
    "appeals_api", __name__, url_prefix="/api/v1/appeals", description="Appeals open for donations"
)
blp.before_request(require_json_body)


def _with_successor(appeal: Any) -> Any:
    # What a closed appeal offers instead, for AppealPublicSchema's successor (docs/publishers.md).
    appeal.successor_offer = successors.public_offer(db.session(), appeal)
    return appeal


@blp.route("")
class AppealList(MethodView):
    @blp.response(200, AppealPublicSchema(many=True))
    def get(self) -> Any:
        """List appeals (public fields only)."""
        return [_with_successor(appeal) for appeal in appeals.list_appeals(db.session())]


@blp.route("/<slug>")
class AppealDetail(MethodView):
    @blp.response(200, AppealPublicSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    def get(self, slug: str) -> Any:
        """One appeal by its slug."""
        return _with_successor(appeals.get_appeal(db.session(), slug))
