"""The translation catalogs: up to date with the code and complete in Chinese."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
TRANSLATIONS = ROOT / "node" / "translations"


def _catalog(path: Path, locale: str | None = None):  # type: ignore[no-untyped-def]
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def test_the_template_lists_every_message_of_the_code(tmp_path):
    fresh = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).with_name("pybabel")), "-q", "extract",
                    "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-o", str(fresh), "."],
                   cwd=ROOT, check=True, timeout=120)
    extracted = {m.id for m in _catalog(fresh) if m.id}
    committed = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    assert extracted == committed, "run the extract and update commands in babel.cfg"


def test_every_message_is_translated():
    template = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    for language in ("zh_CN", "en"):
        catalog = _catalog(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", language)
        messages = {m.id: m for m in catalog if m.id}
        assert set(messages) == template, language
        for message in messages.values():
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings) and not message.fuzzy, (language, message.id)
    chinese = _catalog(TRANSLATIONS / "zh_CN" / "LC_MESSAGES" / "messages.po", "zh_CN")
    assert chinese.get("Sign in").string == "登录"
    assert sum(1 for m in chinese if m.id and m.string == m.id) == 0  # really translated
