"""Languages of the server-rendered pages, for node and hub alike (Flask-Babel).

Simplified Chinese is the default, English on request. The language is chosen, in order, by
`?lang=` on any page (remembered in a cookie), the cookie, what the app's own selector adds
(the node: the signed-in account's language) and the default `zh_CN`. Each app has its own
catalogs folder (`node/translations`, `hub/translations`) and its own `PageBabel`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel import support
from flask import Flask, Response, has_request_context, request
from flask_babel import Babel, Domain, get_locale

#: The languages offered, with their names in themselves (for the switch).
LANGUAGES: dict[str, str] = {"zh_CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
_ALIASES = {"zh": "zh_CN", "zh-cn": "zh_CN", "zh_cn": "zh_CN", "zh-hans": "zh_CN",
            "en": "en", "en-us": "en", "en_us": "en", "en-gb": "en"}
log = logging.getLogger("partynet.i18n")


class CatalogDomain(Domain):
    """Loads the catalog named like our languages (`zh_CN`), whatever Babel calls the locale.

    Babel spells zh_CN with its script (`zh_Hans_CN`), under which gettext would look for a
    `zh_Hans_CN` or `zh` folder; the catalogs are named after the languages offered instead.
    """

    def __init__(self, translations: Path, domain: str = "messages") -> None:
        super().__init__(translation_directories=[str(translations)], domain=domain)
        self.translations = translations

    def get_translations(self) -> support.NullTranslations:
        if not has_request_context() or get_locale() is None:
            return support.NullTranslations()
        language = current_language()
        key = (language, self.domain[0])
        if key not in self.cache:
            self.cache[key] = support.Translations.load(str(self.translations), [language],
                                                        self.domain[0])
        translations: support.NullTranslations = self.cache[key]
        return translations


class PageBabel(Babel):  # type: ignore[misc]
    """Flask-Babel for one app's catalogs folder (one instance per app)."""

    def __init__(self, translations: Path) -> None:
        super().__init__()
        self.translations = translations

    @cached_property
    def domain_instance(self) -> Domain:
        return CatalogDomain(self.translations, domain=self.domain)


def parse_language(value: str | None) -> str | None:
    """A supported locale for a `lang` value (`en`, `zh-CN`, ...), or None."""
    if not value or len(value) > 10:
        return None
    return _ALIASES.get(value.strip().lower())


def explicit_language() -> str | None:
    """The language the person chose (`?lang=` now, or the cookie from before), if any."""
    if not has_request_context():
        return None
    return parse_language(request.args.get(COOKIE)) or parse_language(request.cookies.get(COOKIE))


def language_choice() -> str | None:
    """The language this request explicitly asks for with `?lang=`, if any."""
    return parse_language(request.args.get(COOKIE)) if has_request_context() else None


def select_locale() -> str:
    """The explicit choice, else the default (an app may add its own step in between)."""
    return explicit_language() or DEFAULT_LOCALE


def current_language() -> str:
    """The page's language as a catalog name (`zh_CN`, `en`)."""
    locale = get_locale()
    if locale is None:
        return DEFAULT_LOCALE
    # Babel spells zh_CN as zh_Hans_CN: compare languages, our catalogs have one each.
    return next((code for code in LANGUAGES if code.split("_")[0] == locale.language),
                DEFAULT_LOCALE)


def html_lang() -> str:
    """The page's language as a BCP 47 tag for `<html lang>` (`zh-CN`, `en`)."""
    return current_language().replace("_", "-")


def language_links() -> list[dict[str, Any]]:
    """One link per language to this same page (other query parameters kept)."""
    current = current_language()
    args = [(key, value) for key, value in request.args.items(multi=True) if key != COOKIE]
    links = []
    for code, name in LANGUAGES.items():
        query = urlencode([*args, (COOKIE, code)])
        links.append({"code": code, "tag": code.replace("_", "-"), "name": name,
                      "url": f"{request.script_root}{request.path}?{query}",
                      "current": code == current})
    return links


def remember_language(response: Response, *, secure: bool) -> Response:
    """Keep an explicit `?lang=` choice in a cookie for the next pages."""
    choice = language_choice()
    if choice and request.cookies.get(COOKIE) != choice:
        response.set_cookie(COOKIE, choice, max_age=COOKIE_MAX_AGE, secure=secure,
                            httponly=True, samesite="Lax")
    return response


def compile_catalogs(translations: Path) -> list[Path]:
    """Compile each catalog whose `.mo` is missing or older than its `.po` (what `make setup`
    does with `pybabel compile`); returns the files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(translations.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source)
        with mo.open("wb") as target:
            write_mo(target, catalog)
        written.append(mo)
    return written


def init_app(app: Flask, babel: PageBabel,
             locale_selector: Callable[[], str] = select_locale) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(babel.translations))
    babel.init_app(app, locale_selector=locale_selector)
    missing = [code for code in LANGUAGES
               if not (babel.translations / code / "LC_MESSAGES" / "messages.mo").exists()]
    if missing:
        log.warning("translations not compiled for %s: run `make setup` or `pybabel compile "
                    "-d %s`", ", ".join(missing), babel.translations)
