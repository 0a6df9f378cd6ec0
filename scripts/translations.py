"""Keep the message catalogues in step with the code: extract, then merge into each locale.

    .venv/bin/python scripts/translations.py        # update service/translations/*/messages.po
    .venv/bin/python scripts/translations.py --check # exit 1 if a message lacks a translation

New messages arrive in every catalogue with an empty translation; fill in the Ukrainian one
(the English catalogue stays empty: English is the source language).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "service" / "translations"
LOCALES = ("en", "uk")


def extract() -> Catalog:
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    template = Catalog(project="donation-router", fuzzy=False)
    for filename, _lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, 0)], auto_comments=comments, context=context)
    return template


def catalogue_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def missing(locale: str, template: Catalog) -> list[str]:
    with catalogue_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    gaps = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        strings = found.string if found else None
        if found is None or not strings or (isinstance(strings, tuple) and not all(strings)):
            gaps.append(message.id if isinstance(message.id, str) else message.id[0])
    return gaps


def update(template: Catalog) -> None:
    for locale in LOCALES:
        path = catalogue_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as po:
                catalog = read_po(po, locale=locale)
        else:
            catalog = Catalog(
                locale=locale, project="donation-router", version="1",
                copyright_holder="Donation Router contributors", fuzzy=False,
            )  # fmt: skip
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as po:
            write_po(po, catalog, omit_header=False, no_location=True, width=100)


def main() -> int:
    template = extract()
    if "--check" in sys.argv:
        gaps = missing("uk", template)
        for gap in gaps:
            print(f"uk: no translation for {gap!r}")
        return 1 if gaps else 0
    update(template)
    return 0


if __name__ == "__main__":
    sys.exit(main())
