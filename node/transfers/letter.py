"""The printable introduction letter (介绍信) with its stub (存根) and receipt (回执), as PDF.

One A4 page in the customary three parts, separated by cut lines: the stub the issuing
committee keeps, the letter addressed to the receiving organization, and the receipt the
receiving committee sends back. The text is the official Chinese wording (the document is a
Chinese form whatever the reader's page language); names and numbers come from a plain dict —
the `letter` step's body of the transfer contract plus display names — so rendering does not
depend on the state machine.

Chinese needs a CJK font embedded in the PDF: `NODE_PDF_FONT` names a TrueType font or
collection (default WenQuanYi Micro Hei, Debian package `fonts-wqy-microhei`); only the glyphs
used are embedded (fpdf2 subsets).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from node.meetings.models import LOCAL_TZ
from shared.errors import DomainError

DEFAULT_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
GENDERS = {"male": "男", "female": "女"}
STAGES = {"full": "正式", "probationary": "预备"}
_FAMILY = "cjk"
_LEFT, _WIDTH = 18.0, 174.0  # A4 is 210 mm wide


class LetterFontMissing(DomainError):
    """The configured PDF font cannot be read: an installation problem, said plainly."""

    status = 503
    code = "pdf-font-missing"
    title = "The font for printing letters is not installed"


def _time(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(12), tzinfo=LOCAL_TZ)
    else:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def chinese_date(value: Any) -> str:
    """`2026年11月21日` in China time, or a blank to fill in by hand."""
    moment = _time(value)
    if moment is None:
        return "    年    月    日"
    day = moment.astimezone(LOCAL_TZ).date()
    return f"{day.year}年{day.month}月{day.day}日"


def dues_month(value: str | None) -> str:
    if not value:
        return "    年    月"
    year, month = value.split("-")[:2]
    return f"{int(year)}年{int(month)}月"


def validity_days(letter: Mapping[str, Any]) -> int | None:
    issued, until = _time(letter.get("issued_at")), _time(letter.get("valid_until"))
    if issued is None or until is None:
        return None
    return max(0, round((until - issued).total_seconds() / 86400))


def age_on(birth_date: Any, moment: Any) -> int | None:
    if not birth_date:
        return None
    born = dt.date.fromisoformat(str(birth_date)[:10])
    when = _time(moment)
    day = when.astimezone(LOCAL_TZ).date() if when else dt.date.today()
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _blank(value: Any, width: int = 6) -> str:
    text = str(value).strip() if value not in (None, "") else ""
    return text or " " * width


class _Letter(FPDF):
    def __init__(self, font_path: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        path = Path(font_path)
        if not path.is_file():
            raise LetterFontMissing(
                f"The PDF font {font_path} is missing: install fonts-wqy-microhei or set "
                "NODE_PDF_FONT to a TrueType font with Chinese characters.")
        try:
            self.add_font(_FAMILY, "", str(path))
        except Exception as exc:  # fontTools: not a font, or a collection without index 0
            raise LetterFontMissing(f"The PDF font {font_path} cannot be read ({exc}).") from None
        self.set_auto_page_break(False)
        self.set_margins(_LEFT, 12, 210 - _LEFT - _WIDTH)
        self.add_page()

    def heading(self, text: str, size: float = 16) -> None:
        self.set_font(_FAMILY, size=size)
        self.cell(_WIDTH, 9, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def line_right(self, text: str, size: float = 10.5) -> None:
        self.set_font(_FAMILY, size=size)
        self.cell(_WIDTH, 6, text, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def paragraph(self, text: str, size: float = 11.5, height: float = 7.5) -> None:
        self.set_font(_FAMILY, size=size)
        self.multi_cell(_WIDTH, height, text, align="L", new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)

    def cut_line(self, y: float, label: str) -> None:
        self.set_draw_color(120)
        self.set_dash_pattern(dash=2, gap=1.5)
        self.line(8, y, 202, y)
        self.set_dash_pattern()
        self.set_font(_FAMILY, size=8)
        self.set_text_color(110)
        self.set_xy(0, y - 2)
        self.cell(210, 4, f"（{label}）", align="C", fill=True)
        self.set_fill_color(255)
        self.set_text_color(0)


def render_letter(letter: Mapping[str, Any], *, font_path: str = DEFAULT_FONT) -> bytes:
    """The letter as PDF bytes.

    `letter` is the `letter` step body (serial, issued_at, valid_until, dues_paid_up_to,
    from_org_name, to_org_name, dossier{name, gender, birth_date, ethnicity, national_id,
    stage, phone}) with optional display names: `issuer_name` (the issuing committee, who
    stamps the letter), `receiver_name` (whom the letter is addressed to, default
    `to_org_name`), `issuer_address`, `issuer_phone`, `uid` (printed for verification).
    The receiving side fills the receipt once the member is received: `received_at`,
    `received_org_name` (the organization the member joined) and `receiver_stamp_name` (the
    receiving committee, who stamps the receipt); left blank, they are filled in by hand.
    """
    person = letter.get("dossier") or {}
    serial = str(letter.get("serial") or "")
    name = _blank(person.get("name"))
    gender = GENDERS.get(str(person.get("gender")), "  ")
    age = age_on(person.get("birth_date"), letter.get("issued_at"))
    ethnicity = _blank(person.get("ethnicity"), 4)
    stage = STAGES.get(str(person.get("stage")), "  ")
    national_id = _blank(person.get("national_id"), 18)
    from_org = _blank(letter.get("from_org_name"), 12)
    to_org = _blank(letter.get("to_org_name"), 12)
    receiver = _blank(letter.get("receiver_name") or letter.get("to_org_name"), 12)
    issuer = _blank(letter.get("issuer_name") or letter.get("from_org_name"), 12)
    days = validity_days(letter)
    days_text = f"{days}" if days is not None else "    "
    issued = chinese_date(letter.get("issued_at"))
    until = chinese_date(letter.get("valid_until"))
    dues = dues_month(letter.get("dues_paid_up_to"))
    age_text = f"{age}" if age is not None else "   "

    pdf = _Letter(font_path)
    pdf.set_title(f"中国共产党党员组织关系介绍信 {serial}")
    pdf.set_creator("partynet")
    pdf.set_fill_color(255)

    # 1. the stub (存根), kept by the issuing committee
    pdf.set_y(12)
    pdf.heading("中国共产党党员组织关系介绍信（存根）", 14)
    pdf.line_right(f"第 {serial} 号")
    pdf.paragraph(
        f"{name} 同志（{gender}，{age_text} 岁，{ethnicity}），系中共{stage}党员，"
        f"身份证号码 {national_id}，由 {from_org} 去 {to_org}。"
        f"党费已交到 {dues}。有效期 {days_text} 天（至 {until}）。", size=10.5, height=6.5)
    pdf.line_right(f"开具日期：{issued}", size=10)
    pdf.cut_line(78, "沿此线剪开，存根由开具介绍信的党委留存")

    # 2. the letter (介绍信), carried to the receiving organization
    pdf.set_y(84)
    pdf.heading("中国共产党党员组织关系介绍信", 17)
    pdf.line_right(f"第 {serial} 号")
    pdf.paragraph(f"{receiver}：")
    pdf.paragraph(
        f"    兹介绍 {name} 同志（{gender}，{age_text} 岁，{ethnicity}），系中共{stage}党员，"
        f"身份证号码 {national_id}，由 {from_org} 去 {to_org}，请转接组织关系。"
        f"该同志党费已交到 {dues}。")
    pdf.paragraph(f"    （有效期 {days_text} 天，至 {until}止）")
    pdf.ln(4)
    stamp = issuer if issuer.startswith("中共") else f"中共{issuer}"
    pdf.line_right(f"{stamp}（盖章）", size=11.5)
    pdf.line_right(issued, size=11.5)
    pdf.ln(3)
    contact = [f"党员联系电话：{_blank(person.get('phone'), 12)}"]
    if letter.get("issuer_address") or letter.get("issuer_phone"):
        contact.append(f"党员原所在基层党委通讯地址：{_blank(letter.get('issuer_address'), 16)}"
                       f"    联系电话：{_blank(letter.get('issuer_phone'), 12)}")
    if letter.get("uid"):
        contact.append(f"网上转接编号（供核验）：{letter['uid']}")
    pdf.paragraph("\n".join(contact), size=9.5, height=5.5)
    pdf.cut_line(218, "沿此线剪开，回执由接收党委填写后寄回")

    # 3. the receipt (回执), returned by the receiving committee
    pdf.set_y(224)
    pdf.heading("中国共产党党员组织关系介绍信回执", 14)
    pdf.line_right(f"第 {serial} 号")
    pdf.paragraph(f"{issuer}：")
    pdf.paragraph(f"    {name} 同志的党员组织关系已转达我处，特此回执。")
    if letter.get("received_org_name"):
        pdf.paragraph(f"    该同志已编入 {letter['received_org_name']}。")
    pdf.ln(3)
    receiver_stamp = str(letter.get("receiver_stamp_name") or "").strip()
    if receiver_stamp and not receiver_stamp.startswith("中共"):
        receiver_stamp = f"中共{receiver_stamp}"
    pdf.line_right(f"{receiver_stamp or '接收党委'}（盖章）", size=11.5)
    pdf.line_right(chinese_date(letter.get("received_at")), size=11.5)
    return bytes(pdf.output())
