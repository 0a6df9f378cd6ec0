"""Which of an appeal's currencies a donor probably pays in, so the page opens in it.

Only a preselection: the page always shows the currency and links to every other one the appeal
takes. Evidence, strongest first: a currency the link names; the visitor's country from a CDN or
proxy header, believed only when the deployment names that header (``COUNTRY_HEADER``), since a
client can send any header; the regions and languages of Accept-Language, in the browser's order
("en-IE" is euros, "de" is euros, "en-GB" pounds); the appeal's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

EUROZONE = (
    "AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT", "SI", "SK",
    # Also use the euro without being members: Andorra, Monaco, San Marino, Vatican, Montenegro, Kosovo.
    "AD", "MC", "SM", "VA", "ME", "XK",
)  # fmt: skip
COUNTRY_CURRENCY: dict[str, str] = {
    **dict.fromkeys(EUROZONE, "eur"),
    "GB": "gbp", "IM": "gbp", "JE": "gbp", "GG": "gbp", "GI": "gip",
    "US": "usd", "PR": "usd", "CA": "cad", "AU": "aud", "NZ": "nzd", "CH": "chf", "LI": "chf",
    "JP": "jpy", "SE": "sek", "NO": "nok", "DK": "dkk", "PL": "pln", "CZ": "czk", "HU": "huf",
    "RO": "ron", "BG": "bgn", "UA": "uah", "IN": "inr", "SG": "sgd", "HK": "hkd", "MX": "mxn",
    "BR": "brl", "ZA": "zar", "IL": "ils", "TR": "try", "IS": "isk",
}  # fmt: skip
# A language alone, where its speakers overwhelmingly use one currency.
LANGUAGE_CURRENCY: dict[str, str] = {
    **dict.fromkeys(("de", "fr", "it", "es", "nl", "pt", "fi", "el", "sk", "sl", "et", "lv", "lt", "mt",
                     "ga", "lb", "hr", "ca", "eu", "gl"), "eur"),
    "ja": "jpy", "pl": "pln", "cs": "czk", "hu": "huf", "sv": "sek", "da": "dkk", "nb": "nok",
    "nn": "nok", "no": "nok", "uk": "uah", "ro": "ron", "bg": "bgn", "he": "ils", "tr": "try",
    "is": "isk",
}  # fmt: skip


def currency_for_country(country: str | None) -> str | None:
    code = (country or "").strip().upper()
    # Cloudflare sends XX (unknown) and T1 (Tor); neither names a country.
    return COUNTRY_CURRENCY.get(code) if len(code) == 2 and code.isalpha() else None


def currency_for_language(tag: str) -> str | None:
    parts = tag.replace("_", "-").split("-")
    region = next((p for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    if region:
        found = currency_for_country(region)
        if found:
            return found
    return LANGUAGE_CURRENCY.get(parts[0].lower())


def preferred_currency(
    currencies: Sequence[str],
    default: str,
    *,
    languages: Iterable[str] = (),
    country: str | None = None,
) -> str:
    """The appeal's currency this donor most likely uses; ``default`` when nothing points to one."""
    candidates = [currency_for_country(country)] if country else []
    candidates += [currency_for_language(tag) for tag in languages if tag and tag != "*"]
    return next((c for c in candidates if c and c in currencies), default)
