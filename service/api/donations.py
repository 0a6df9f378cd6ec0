"""Creating a donation and reading its public status."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.base import ErrorSchema
from schemas.donations import DonationCreatedSchema, DonationCreateSchema, DonationStatusSchema

from .. import db, donations, extensions
from ..errors import ValidationFailed
from ..gift_aid import declaration_from_fields as gift_aid_declaration
from ..gift_aid import normalise_postcode
from ..rate_limits import donation_limits, over_service_rate
from .json_body import require_json_body

blp = Blueprint(
    "donations_api",
    __name__,
    url_prefix="/api/v1/donations",
    description="Donations and their status",
)
blp.before_request(require_json_body)

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# What the view reads a request with: an instance, not rebuilt per request (the donation fast path,
# service/api/donation_fast_path.py, loads with this same instance).
CREATE_SCHEMA = DonationCreateSchema()
CREATED_SCHEMA = DonationCreatedSchema()  # and answers with this one
# The WSGI environ key under which the donation fast path hands the view the exception its
# create_donation raised: the view raises it where it would have called create_donation, so the
# answer is the view's own and nothing is created or asked of Stripe a second time.
CREATE_FAILED = "donation_router.donation_create_failed"


def idempotency_key_header() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed(fields={"Idempotency-Key": ["Use 1 to 255 printable ASCII characters."]})
    return key


def donation_request(payload: dict[str, Any]) -> donations.DonationRequest:
    """The domain's request for a body ``CREATE_SCHEMA`` loaded."""
    return donations.DonationRequest(
        appeal=payload["appeal"],
        amount=payload["amount"],
        currency=payload["currency"],
        frequency=payload["frequency"],
        email=payload.get("email"),
        source=payload.get("source") or {},
        cover_fees=payload["cover_fees"],
        anonymous=payload["anonymous"],
        gift_aid=gift_aid_declaration(payload.get("gift_aid")),
        redirected_from=payload.get("redirected_from"),
        postcode=normalise_postcode(payload["postcode"]) if payload.get("postcode") else None,
        pay_by=payload["pay_by"],
    )


def create(payload: dict[str, Any], key: str | None, prefer_payment_link: bool) -> donations.Donation:
    """The donation (new, or the one ``key`` made before) for a loaded body, with its Checkout
    Session or Payment Link: what the view and the donation fast path both call, in an app context."""
    donation, _created = donations.create_donation(
        db.session(),
        extensions.stripe_gateway(),
        extensions.settings(),
        donation_request(payload),
        idempotency_key=key,
        appeals=extensions.appeal_cache(),
        prefer_payment_link=prefer_payment_link,
    )
    return donation


@blp.route("")
@donation_limits
class DonationCreate(MethodView):
    @blp.arguments(CREATE_SCHEMA)
    @blp.response(201, CREATED_SCHEMA)
    @blp.alt_response(
        422,
        schema=ErrorSchema,
        description="Invalid fields, or Idempotency-Key reused with another body",
    )
    @blp.alt_response(
        409, schema=ErrorSchema, description="The same Idempotency-Key is still being processed"
    )
    @blp.alt_response(415, schema=ErrorSchema, description="The body is not JSON")
    @blp.alt_response(502, schema=ErrorSchema, description="Stripe refused to create the Checkout Session")
    @blp.alt_response(
        503,
        schema=ErrorSchema,
        description="Stripe unavailable or rate limited; retry after Retry-After",
    )
    @blp.doc(
        parameters=[
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                # Exactly IDEMPOTENCY_KEY: printable ASCII, no spaces.
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                "description": "Repeat the key with the same body to get the first answer again.",
            }
        ]
    )
    def post(self, payload: dict[str, Any]) -> Any:
        """Create a donation and its Stripe Checkout Session.

        Answers with the Checkout URL to send the donor to. The donation is stored before Stripe
        is called; if Stripe fails the answer is 502/503 and retrying is safe.
        """
        key = idempotency_key_header()
        failed = request.environ.pop(CREATE_FAILED, None)
        if failed is not None:
            raise failed  # create_donation raised it in the fast path: answered here as always
        return create(payload, key, over_service_rate())


@blp.route("/<donation_id>")
class DonationDetail(MethodView):
    @blp.response(200, DonationStatusSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    def get(self, donation_id: str) -> Any:
        """A donation's public status (no personal data)."""
        return donations.get_donation(db.session(), donation_id)
