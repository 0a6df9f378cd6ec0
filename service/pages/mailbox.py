"""Development only: the mail the service would have sent, when no MAIL_URL is configured.

Messages are rendered from the outbox and the ledger as they stand, exactly as the worker renders
them for SMTP. Never registered in production (service/__init__.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select

from .. import db
from ..emails import NothingToSend, compose
from ..outbox import OutboxMessage

bp = Blueprint("mailbox", __name__)


@bp.get("/dev/mail")
def mailbox() -> Any:
    rows = db.session().scalars(select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(100))
    return render_template("dev_mailbox.html", rows=list(rows))


@bp.get("/dev/mail/<path:message_id>")
def message(message_id: str) -> Any:
    session = db.session()
    row = session.get(OutboxMessage, message_id)
    if row is None:
        abort(404)
    try:
        composed = compose(session, row, current_app.extensions["settings"])
    except NothingToSend as exc:
        return render_template("dev_mailbox.html", rows=[row], note=str(exc))
    email = composed.message
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return render_template("dev_mail_message.html", row=row, email=email, text=text, html=html)
