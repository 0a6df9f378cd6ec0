"""The languages the donor pages and emails speak (catalogues in service/translations/)."""

LOCALES = ("en", "uk")
