"""The hub's translation catalogs: up to date with the portal's code and complete in Chinese."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
TRANSLATIONS = ROOT / "hub" / "translations"


def _catalog(path: Path, locale: str | None = None):  # type: ignore[no-untyped-def]
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def test_the_template_lists_every_message_of_the_portal(tmp_path):
    fresh = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).with_name("pybabel")), "-q", "extract",
                    "-F", "babel-hub.cfg", "-k", "_l", "-k", "lazy_gettext", "-o", str(fresh),
                    "."], cwd=ROOT, check=True, timeout=120)
    extracted = {m.id for m in _catalog(fresh) if m.id}
    committed = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    assert extracted == committed, "run the extract and update commands in babel-hub.cfg"


def test_every_message_is_translated_into_chinese():
    template = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    for language in ("zh_CN", "en"):
        catalog = _catalog(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", language)
        messages = {m.id: m for m in catalog if m.id}
        assert set(messages) == template, language
        assert all(m.string and not m.fuzzy for m in messages.values()), language
    chinese = _catalog(TRANSLATIONS / "zh_CN" / "LC_MESSAGES" / "messages.po", "zh_CN")
    assert chinese.get("Node directory").string == "站点名录"
    assert sum(1 for m in chinese if m.id and m.string == m.id) == 0
