"""The printable introduction letter: a one-page PDF with the stub, the letter and the receipt,
in Chinese with the font embedded; a missing font is a clear error. Both sides print it: the
sending committee from its member row, the receiving committee from the dossier it holds until
reception and from its own member row afterwards, with the receipt filled in."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader

from node.auth.principal import Principal
from node.db import db
from node.settings import NodeSettings
from node.tenants.scoping import tenant_context
from node.transfers import services
from node.transfers.letter import (
    DEFAULT_FONT,
    LetterFontMissing,
    age_on,
    chinese_date,
    render_letter,
    validity_days,
)
from node.transfers.models import State, Transfer
from shared.errors import Conflict, Forbidden

from .conftest import Clock, Pair, Side_, in_row, out_row

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


def _compact(pdf: bytes) -> str:
    return _text(pdf)[1].replace("\n", "").replace(" ", "")


def test_the_receipt_is_filled_in_after_reception():
    received = {**LETTER, "received_at": "2026-07-03T01:00:00Z",
                "received_org_name": "铜官区某某社区党支部",
                "receiver_stamp_name": "铜陵市铜官区委组织部"}
    compact = _compact(render_letter(received))
    assert "该同志已编入铜官区某某社区党支部。" in compact
    assert "中共铜陵市铜官区委组织部（盖章）2026年7月3日" in compact
    blank = _compact(render_letter(LETTER))  # before reception: to fill in by hand
    assert "该同志已编入" not in blank and "接收党委（盖章）年月日" in blank


# --- the receiving side prints (two tenants of one node) ----------------------------------------

def _issued(pair: Pair) -> Transfer:
    a, b = pair.a, pair.b
    t = a(services.apply_transfer, a.as_member(pair.member), member_id=None,
          to_tenant=b.tenant.slug, to_org_code=b.committee.code, reason="工作调动")
    a(services.approve, a.org_admin(a.branch), t.id)
    t = a(services.approve, a.org_admin(a.committee), t.id)
    assert t.state == State.issued
    return t


def _print(side: Side_, principal: Principal, t: Transfer) -> bytes:
    with tenant_context(side.tenant.id):
        return render_letter(services.printable_letter(principal, t))


def test_the_receiving_committee_prints_the_letter_it_holds(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    out = _issued(pair)
    incoming = in_row(out.uid, b.tenant.id)
    assert incoming.state == State.delivered and incoming.dossier_cipher
    with tenant_context(b.tenant.id):
        assert services.may_print(b.org_admin(b.committee), incoming)
        assert services.may_print(b.admin, incoming)  # above the addressed committee
    compact = _compact(_print(b, b.org_admin(b.committee), incoming))
    assert compact.count(f"第{out.serial}号") == 3
    assert "张三同志" in compact and f"身份证号码{pair.national_id}" in compact
    assert f"由{a.branch.name}去{b.committee.name}" in compact  # the org names of the letter
    assert f"{b.committee.name}：" in compact  # addressed to the receiving committee
    assert "接收党委（盖章）年月日" in compact and "该同志已编入" not in compact
    # the same person data as the sender's letter, from the dossier decrypted here
    with tenant_context(a.tenant.id):
        sent = services.printable_letter(a.org_admin(a.committee), out_row(out.uid, a.tenant.id))
    with tenant_context(b.tenant.id):
        held = services.printable_letter(b.org_admin(b.committee), incoming)
    assert held["dossier"] == sent["dossier"]
    # the letter carries its issuing committee's name: the receipt goes back to it, and the
    # letter's stamp line is its (both committees are 街道党工委 here; the branch is not named)
    assert held["issuer_name"] == sent["issuer_name"] == a.committee.name
    assert compact.count(f"{a.committee.name}：") == 2 and f"{a.branch.name}：" not in compact
    assert {k: held[k] for k in ("serial", "valid_until", "from_org_name", "to_org_name")} \
        == {k: sent[k] for k in ("serial", "valid_until", "from_org_name", "to_org_name")}
    # still while the branch approves (approving), and once claimed
    b(services.approve, b.org_admin(b.committee), incoming.id, branch_id=b.branch.id)
    incoming = in_row(out.uid, b.tenant.id)
    assert incoming.state == State.approving
    assert "张三同志" in _compact(_print(b, b.org_admin(b.committee), incoming))


def test_after_reception_the_receipt_is_filled_from_our_rolls(pair: Pair, clock: Clock) -> None:
    b = pair.b
    out = _issued(pair)
    incoming = in_row(out.uid, b.tenant.id)
    clock.advance(days=2)
    b(services.approve, b.org_admin(b.committee), incoming.id, branch_id=b.branch.id)
    b(services.approve, b.org_admin(b.branch), incoming.id)
    incoming = in_row(out.uid, b.tenant.id)
    assert incoming.state == State.received and incoming.dossier_cipher is None
    compact = _compact(_print(b, b.org_admin(b.committee), incoming))
    assert compact.count(f"第{out.serial}号") == 3
    assert "张三同志" in compact and f"身份证号码{pair.national_id}" in compact
    assert f"该同志已编入{b.branch.name}。" in compact
    assert f"中共{b.committee.name}（盖章）{chinese_date(clock.now)}" in compact


@pytest.mark.parametrize("who", ["branch", "viewer", "origin"])
def test_only_the_addressed_organization_prints_an_incoming_letter(
        pair: Pair, clock: Clock, who: str) -> None:
    a, b = pair.a, pair.b
    out = _issued(pair)
    incoming = in_row(out.uid, b.tenant.id)
    b(services.approve, b.org_admin(b.committee), incoming.id, branch_id=b.branch.id)
    incoming = in_row(out.uid, b.tenant.id)
    principal = {"branch": b.org_admin(b.branch), "viewer": b.viewer(b.committee),
                 "origin": a.org_admin(a.committee)}[who]
    with tenant_context(b.tenant.id):
        assert not services.may_print(principal, incoming)
        with pytest.raises(Forbidden):
            services.printable_letter(principal, incoming)


def _rejected(pair: Pair, clock: Clock) -> Transfer:
    b = pair.b
    incoming = in_row(_issued(pair).uid, b.tenant.id)
    return b(services.reject, b.org_admin(b.committee), incoming.id, reason="不是本单位")


def _cancelled(pair: Pair, clock: Clock) -> Transfer:
    a = pair.a
    out = _issued(pair)
    a(services.cancel, a.org_admin(a.committee), out.id, reason="申请人放弃")
    return in_row(out.uid, pair.b.tenant.id)


def _expired(pair: Pair, clock: Clock) -> Transfer:
    out = _issued(pair)
    clock.advance(days=31)
    with tenant_context(pair.b.tenant.id):
        services.expire_due()
        db.session.commit()
    return in_row(out.uid, pair.b.tenant.id)


@pytest.mark.parametrize("end", [_rejected, _cancelled, _expired])
def test_no_letter_to_print_once_the_incoming_letter_is_dead(pair: Pair, clock: Clock,
                                                            end: Any) -> None:
    b = pair.b
    incoming = end(pair, clock)
    assert incoming.state == {_rejected: State.rejected, _cancelled: State.cancelled,
                              _expired: State.expired}[end]
    with tenant_context(b.tenant.id):
        assert not services.may_print(b.org_admin(b.committee), incoming)
        with pytest.raises(Conflict):
            services.printable_letter(b.org_admin(b.committee), incoming)
