"""The printable introduction letter: a one-page PDF with the stub, the letter and the receipt,
in Chinese with the font embedded; a missing font is a clear error."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader

from node.settings import NodeSettings
from node.transfers.letter import (
    DEFAULT_FONT,
    LetterFontMissing,
    age_on,
    chinese_date,
    render_letter,
    validity_days,
)

LETTER: dict[str, Any] = {
    "serial": "500104-2026-000012", "attempt": 1, "issued_at": "2026-06-30T02:00:00Z",
    "valid_until": "2026-09-28T02:00:00Z", "dues_paid_up_to": "2026-06",
    "reason": "毕业分配", "from_node": "chongqing-1", "from_tenant": "dadukou",
    "from_org_code": "500104001001", "from_org_name": "中共重庆大学机械学院学生第一支部委员会",
    "to_tenant": "tongguan", "to_org_code": "340705001",
    "to_org_name": "中共铜陵市铜官区委组织部", "issuer_name": "中共重庆市大渡口区委员会",
    "uid": "01930f2e-7c1a-7b9e-8f00-123456789abc",
    "dossier": {"name": "何秀英", "gender": "female", "birth_date": "2002-07-15",
                "ethnicity": "土家族", "national_id": "500104200207150024",
                "stage": "probationary", "phone": "13900000002"},
}


def _text(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_the_letter_has_its_three_parts_in_chinese():
    reader, text = _text(render_letter(LETTER))
    assert len(reader.pages) == 1
    assert reader.metadata.title == "中国共产党党员组织关系介绍信 500104-2026-000012"
    compact = text.replace("\n", "").replace(" ", "")
    assert compact.count("第500104-2026-000012号") == 3  # stub, letter, receipt
    assert "中国共产党党员组织关系介绍信（存根）" in compact
    assert "中国共产党党员组织关系介绍信回执" in compact
    assert "中共铜陵市铜官区委组织部：" in compact  # the letter is addressed to the receiver
    assert "兹介绍何秀英同志（女，23岁，土家族），系中共预备党员" in compact
    assert "身份证号码500104200207150024" in compact
    assert "由中共重庆大学机械学院学生第一支部委员会去中共铜陵市铜官区委组织部" in compact
    assert "党费已交到2026年6月" in compact
    assert "有效期90天，至2026年9月28日止" in compact
    assert "中共重庆市大渡口区委员会（盖章）" in compact  # no doubled 中共
    assert "中共重庆市大渡口区委员会：" in compact  # the receipt goes back to the issuer
    assert "同志的党员组织关系已转达我处，特此回执" in compact
    assert LETTER["uid"] in compact


def test_the_chinese_font_is_embedded_as_a_subset():
    reader, _ = _text(render_letter(LETTER))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    descriptors = [font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                   for font in fonts.values()]
    assert descriptors and all("/FontFile2" in d.get_object() for d in descriptors)
    assert all("WenQuanYi" in str(d.get_object()["/FontName"]) for d in descriptors)


def test_blanks_are_left_to_fill_in_by_hand():
    letter = {**LETTER, "dues_paid_up_to": None, "dossier": {"name": "何秀英"},
              "issued_at": None, "valid_until": None, "uid": None, "issuer_name": None}
    _, text = _text(render_letter(letter))
    compact = text.replace("\n", "").replace(" ", "")
    assert "党费已交到年月" in compact and "开具日期：年月日" in compact
    assert "网上转接编号" not in text


def test_a_missing_font_is_a_clear_error(tmp_path):
    with pytest.raises(LetterFontMissing) as caught:
        render_letter(LETTER, font_path=str(tmp_path / "none.ttc"))
    assert "fonts-wqy-microhei" in str(caught.value.detail)
    assert caught.value.status == 503
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font")
    with pytest.raises(LetterFontMissing):
        render_letter(LETTER, font_path=str(bogus))


def test_the_font_is_a_setting_defaulting_to_wenquanyi():
    assert NodeSettings().pdf_font == DEFAULT_FONT
    env = {"NODE_PDF_FONT": "/fonts/x.ttf", "NODE_SECRET_KEY": "s" * 20,
           "NODE_PII_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
           "NODE_IDENTITY_HASH_KEY": "h" * 20}
    assert NodeSettings.from_env(env).pdf_font == "/fonts/x.ttf"


def test_dates_ages_and_validity():
    assert chinese_date("2026-12-31T17:00:00Z") == "2027年1月1日"  # China time
    assert chinese_date(None).strip() == "年    月    日"
    assert validity_days(LETTER) == 90
    assert validity_days({"issued_at": None}) is None
    assert age_on("2002-07-15", "2026-07-14T02:00:00Z") == 23
    assert age_on("2002-07-15", "2026-07-15T02:00:00Z") == 24
