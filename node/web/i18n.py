"""Languages of the node's pages: Simplified Chinese by default, English on request.

The machinery is shared with the hub (`shared.web.i18n`); the node adds its catalogs
(`node/translations/`, compiled by `make setup` with `pybabel compile -d node/translations`)
and one step to the choice: after `?lang=` and the cookie, the signed-in account's language.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, has_request_context

from shared.web import i18n as pages_i18n
from shared.web.i18n import (
    COOKIE,
    DEFAULT_LOCALE,
    LANGUAGES,
    PageBabel,
    current_language,
    explicit_language,
    html_lang,
    language_choice,
    language_links,
    parse_language,
    remember_language,
)

__all__ = ["COOKIE", "DEFAULT_LOCALE", "LANGUAGES", "TRANSLATIONS", "babel", "compile_catalogs",
           "current_language", "explicit_language", "html_lang", "init_app", "language_choice",
           "language_links", "parse_language", "remember_language", "select_locale"]

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
babel = PageBabel(TRANSLATIONS)


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT_LOCALE
    chosen = explicit_language()
    if chosen:
        return chosen
    account = g.get("session_account")
    if account is not None and account.locale in LANGUAGES:
        return str(account.locale)
    return DEFAULT_LOCALE


def compile_catalogs() -> list[Path]:
    """Compile the node's catalogs whose `.mo` is missing or stale (as `make setup` does)."""
    return pages_i18n.compile_catalogs(TRANSLATIONS)


def init_app(app: Flask) -> None:
    pages_i18n.init_app(app, babel, select_locale)
