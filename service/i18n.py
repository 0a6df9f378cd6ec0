"""Languages for donor pages and the widget: gettext catalogues read with Babel.

The ``.po`` files under ``service/translations`` are the catalogues; they are compiled in memory
at start-up (a few hundred messages take milliseconds), so there is no build step and no
compiled file to forget. The donor's language comes from ``?lang=``, then the browser's
``Accept-Language``, then English.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, g, has_app_context, has_request_context, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from . import extensions
from .constants.languages import LOCALES
from .currencies import format_amount

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DEFAULT_LOCALE = "en"
# Babel's locale for formatting numbers and money in each language we speak.
BABEL_LOCALES = {"en": "en_GB", "uk": "uk_UA"}


def load_catalogues(directory: Path = TRANSLATIONS_DIR) -> dict[str, NullTranslations]:
    catalogues: dict[str, NullTranslations] = {}
    for locale in LOCALES:
        po_path = directory / locale / "LC_MESSAGES" / "messages.po"
        if not po_path.exists():
            catalogues[locale] = NullTranslations()
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        catalogues[locale] = Translations(buffer)
    return catalogues


def pick_locale(requested: str | None, accept_language: Any | None) -> str:
    """``requested`` ('uk', 'uk-UA', 'uk_UA') if we speak it, else the browser's best, else English."""
    if requested:
        short = requested.replace("_", "-").split("-")[0].lower()
        if short in LOCALES:
            return short
    if accept_language is not None:
        best = accept_language.best_match(LOCALES)
        if best:
            return best
    return DEFAULT_LOCALE


def current_locale() -> str:
    """The donor's language: chosen once per request (``g.locale``). In an app context without a
    request (a fast path in front of Flask, service/pages/form_fast_path.py), the one it set from
    :func:`environ_locale`, else English."""
    if has_app_context():
        if "locale" not in g and has_request_context():
            g.locale = pick_locale(request.args.get("lang"), request.accept_languages)
        return str(g.get("locale", DEFAULT_LOCALE))
    return DEFAULT_LOCALE


def environ_locale(environ: Mapping[str, Any], requested: str | None = None) -> str:
    """What :func:`current_locale` picks for a request Flask has not seen: ``requested`` (the
    ``?lang=`` value as ``request.args`` would give it, or None), then ``Accept-Language`` parsed
    as Werkzeug's ``request.accept_languages`` parses it."""
    return pick_locale(requested, parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept))


def babel_locale(locale: str | None = None) -> str:
    return BABEL_LOCALES.get(locale or current_locale(), BABEL_LOCALES[DEFAULT_LOCALE])


def translations(locale: str | None = None) -> NullTranslations:
    if not has_app_context():
        return NullTranslations()
    catalogues = extensions.translations()
    return catalogues.get(locale or current_locale()) or NullTranslations()


def gettext(message: str, locale: str | None = None, **variables: Any) -> str:
    text = translations(locale).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, locale: str | None = None, **variables: Any) -> str:
    text = translations(locale).ungettext(singular, plural, n)
    return text % {"num": n, **variables}


def money(amount: int, currency: str, locale: str | None = None) -> str:
    """Money for the donor's language: 2500 gbp -> '£25' (en) or '25 GBP' (uk)."""
    return format_amount(amount, currency, babel_locale(locale))


def init_i18n(app: Flask) -> None:
    extensions.set_translations(app, load_catalogues())
    app.jinja_env.add_extension("jinja2.ext.i18n")
    # With newstyle gettext Jinja escapes and fills in %(name)s itself, so these only look up.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: translations().ugettext(message),
        lambda singular, plural, n: translations().ungettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.filters["money"] = lambda amount, currency: money(amount, currency)

    @app.context_processor
    def _locale_context() -> dict[str, Any]:
        return {"lang": current_locale(), "locales": LOCALES}
