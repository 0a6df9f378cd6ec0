"""Small site-wide pages: the API reference, the favicon and, in development, a sample news page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, send_from_directory, url_for

from .. import appeals, db

bp = Blueprint("site", __name__)
dev_bp = Blueprint("dev", __name__)


@bp.get("/docs")
def api_reference() -> Any:
    spec = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return render_template("api_reference.html", spec=spec)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico on their own (JSON answers, old bookmarks); the pages link
    the same icon as static/favicon.svg. Chromium and Firefox read an SVG served here."""
    response = send_from_directory(
        current_app.static_folder or "static", "favicon.svg", mimetype="image/svg+xml"
    )
    response.cache_control.max_age = 86400
    response.cache_control.public = True
    return response


@dev_bp.get("/")
def index() -> Any:
    return redirect(url_for("dev.news_sample"))


@dev_bp.get("/news/sample")
def news_sample() -> Any:
    """A stand-in news article whose 'click here' link goes to each open appeal."""
    open_appeals = [a for a in appeals.list_appeals(db.session()) if a.is_open()]
    return render_template("news_sample.html", appeals=open_appeals)
