"""The working pages' forms: what a success changes, and that a refusal changes nothing."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import sqlalchemy as sa

from node.audit.models import AuditEntry
from node.grants.models import Grant
from node.members.models import Member, Stage
from node.orgs.models import Org
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context

from ..conftest import make_national_id
from .conftest import csrf_of, sign_in_as


def _post(client: Any, console: Any, path: str, data: dict[str, Any], form_path: str | None = None,
          **kwargs: Any) -> Any:
    page = client.get(f"/t/{console.slug}{form_path or path}")
    assert page.status_code == 200, page.text
    return client.post(f"/t/{console.slug}{path}", data={"csrf_token": csrf_of(page), **data},
                       **kwargs)


def _member(session: Any, console: Any, member_id: int) -> Member:
    with tenant_context(console.site.tenant.id):
        session.expire_all()
        return session.get(Member, member_id)


def _count(session: Any, console: Any, model: Any, *where: Any) -> int:
    with tenant_context(console.site.tenant.id):
        return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)))


def test_a_member_edits_the_self_declared_fields(client, console, session):
    sign_in_as(client, console, "member")
    member_id = console.site.plain_member.id
    card = client.get(f"/t/{console.slug}/me")
    assert card.status_code == 200 and "何秀英" in card.text and "活动证" in card.text
    done = _post(client, console, "/me/edit", {"phone": "13911112222", "email": "he@example.org",
                                               "address": "春晖路1号", "work_unit": "",
                                               "occupation": "教师"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/me")
    member = _member(session, console, member_id)
    assert (member.phone, member.email, member.work_unit) == ("13911112222", "he@example.org",
                                                               None)
    assert "信息已保存" in client.get(done.headers["Location"]).text
    assert _count(session, console, AuditEntry, AuditEntry.entity_type == "member",
                  AuditEntry.entity_id == member_id, AuditEntry.action == "member.update") == 1


def test_a_refused_self_edit_says_why_and_changes_nothing(client, console, session):
    sign_in_as(client, console, "member")
    member_id = console.site.plain_member.id
    response = _post(client, console, "/me/edit", {"phone": "not a phone", "email": "nope",
                                                   "name": "Someone else"})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.text and "not a phone" in response.text
    member = _member(session, console, member_id)
    assert member.phone == "13900000002" and member.name == "何秀英"


def test_the_printable_card(client, console):
    sign_in_as(client, console, "member")
    page = client.get(f"/t/{console.slug}/me/print")
    assert page.status_code == 200 and "data-print" in page.text and "何秀英" in page.text


def test_a_secretary_registers_a_member(client, console, session):
    sign_in_as(client, console, "secretary")
    national_id = make_national_id(4242)
    done = _post(client, console, "/console/members/new", {
        "org_id": console.site.branch.id, "name": "周晓燕", "national_id": national_id,
        "stage": "applicant", "stage_since": "2024-05-06", "phone": "13812345678"})
    assert done.status_code == 303, done.text
    detail = client.get(done.headers["Location"])
    assert detail.status_code == 200 and "周晓燕" in detail.text and "入党申请人" in detail.text
    assert national_id not in detail.text  # masked


def test_a_refused_registration_changes_nothing(client, console, session):
    sign_in_as(client, console, "secretary")
    before = _count(session, console, Member)
    for data, message in [
        ({"org_id": console.sibling.id, "name": "周晓燕", "national_id": make_national_id(4243),
          "stage": "applicant"}, "请选择您管理范围内的组织"),
        ({"org_id": console.site.branch.id, "name": "", "national_id": "123",
          "stage": "applicant"}, "必填"),
        ({"org_id": console.site.group.id, "name": "周晓燕", "national_id":
          make_national_id(4244), "stage": "full"}, "党员应编入党支部"),
    ]:
        response = _post(client, console, "/console/members/new", data)
        assert response.status_code == 400, response.text
        assert 'role="alert"' in response.text
        if message:
            assert message in response.text
    assert _count(session, console, Member) == before


def test_stage_status_and_move_forms(client, console, session):
    sign_in_as(client, console, "admin")
    member_id = console.site.plain_member.id
    path = f"/console/members/{member_id}"
    refused = _post(client, console, f"{path}/stage", {"to_stage": "applicant",
                                                       "effective_on": "2024-01-01"}, path)
    assert refused.status_code == 409 and "已是正式党员" in refused.text
    assert _member(session, console, member_id).stage == Stage.full
    future = _post(client, console, f"{path}/status", {"to_status": "floating",
                                                       "effective_on": "2999-01-01"}, path)
    assert future.status_code == 400 and "日期不能晚于今天" in future.text
    done = _post(client, console, f"{path}/status", {"to_status": "floating",
                                                     "effective_on": TODAY, "reason": "外出务工"}, path)
    assert done.status_code == 303
    assert _member(session, console, member_id).status.value == "floating"
    moved = _post(client, console, f"{path}/move", {"to_org_id": console.sibling.id,
                                                    "effective_on": TODAY}, path)
    assert moved.status_code == 303
    assert _member(session, console, member_id).org_id == console.sibling.id


def test_org_structure_needs_the_tenant_administrator(client, console, session):
    sign_in_as(client, console, "secretary")
    before = _count(session, console, Org)
    page = client.get(f"/t/{console.slug}/console/orgs/{console.site.branch.id}")
    assert page.status_code == 200 and "变更结构" not in page.text
    token = csrf_of(page)
    for path, data in [
        ("/console/orgs/new", {"parent_id": console.site.branch.id, "kind": "group",
                               "name": "第三党小组"}),
        (f"/console/orgs/{console.site.group.id}/dissolve", {"dissolved_on": "2025-01-01"}),
        (f"/console/orgs/{console.site.branch.id}/move", {"new_parent_id": console.site.root.id}),
    ]:
        response = client.post(f"/t/{console.slug}{path}", data={"csrf_token": token, **data})
        assert response.status_code == 403, (path, response.text)
        assert "组织部管理员" in response.text or "没有权限" in response.text
    assert _count(session, console, Org) == before
    assert _count(session, console, Org, Org.dissolved_on.is_not(None)) == 0


def test_the_administrator_creates_edits_and_dissolves_an_org(client, console, session):
    sign_in_as(client, console, "admin")
    branch = console.site.branch.id
    done = _post(client, console, "/console/orgs/new", {"parent_id": branch, "kind": "group",
                                                        "name": "第三党小组"},
                 f"/console/orgs/new?parent_id={branch}")
    assert done.status_code == 303, done.text
    org_id = int(done.headers["Location"].rsplit("/", 1)[1])
    bad = _post(client, console, f"/console/orgs/{org_id}/edit", {"kind": "committee",
                                                                   "name": "x"})
    assert bad.status_code == 400
    with tenant_context(console.site.tenant.id):
        assert session.get(Org, org_id).name == "第三党小组"
    gone = _post(client, console, f"/console/orgs/{org_id}/dissolve",
                 {"dissolved_on": "2025-01-01"}, f"/console/orgs/{org_id}")
    assert gone.status_code == 303
    busy = _post(client, console, f"/console/orgs/{branch}/dissolve",
                 {"dissolved_on": "2025-01-01"}, f"/console/orgs/{branch}")
    assert busy.status_code == 409 and "请先转出" in busy.text


def test_granting_above_ones_own_role_is_refused(client, console, session):
    sign_in_as(client, console, "secretary")
    before = _count(session, console, Grant)
    refused = _post(client, console, "/console/grants", {
        "account_id": console.member_account.id, "role": "tenant_admin",
        "org_id": console.site.branch.id})
    assert refused.status_code == 403
    assert "只能授予不高于自己的角色" in refused.text
    assert _count(session, console, Grant) == before
    done = _post(client, console, "/console/grants", {
        "account_id": console.member_account.id, "role": "org_viewer",
        "org_id": console.site.branch.id})
    assert done.status_code == 303
    assert _count(session, console, Grant) == before + 1


TODAY = dt.date.today().isoformat()
CSV_HEADER = "姓名,身份证号,组织编码,发展阶段\n"


def test_import_shows_the_bad_row_then_applies(client, console, session, app, tmp_path):
    app.config["IMPORT_UPLOAD_DIR"] = str(tmp_path)
    try:
        sign_in_as(client, console, "secretary")
        code = console.site.branch.code
        body = (CSV_HEADER + f"甲,{make_national_id(5001)},{code},正式党员\n"
                f"乙,12345,{code},正式党员\n" + f"丙,{make_national_id(5002)},{code},预备党员\n")
        before = _count(session, console, Member)
        page = client.get(f"/t/{console.slug}/console/import")
        checked = client.post(f"/t/{console.slug}/console/import", data={
            "csrf_token": csrf_of(page),
            "file": (io.BytesIO(body.encode()), "members.csv")},
            content_type="multipart/form-data")
        assert checked.status_code == 200, checked.text
        assert "3 行：2 行可以导入，1 行有错误" in checked.text
        assert "<th scope=\"row\">3</th>" in checked.text  # the bad row, by its line number
        assert _count(session, console, Member) == before  # a check writes nothing
        assert len(list(tmp_path.iterdir())) == 1
        refused = client.post(f"/t/{console.slug}/console/import/apply",
                              data={"csrf_token": csrf_of(checked), "mode": "all"})
        assert refused.status_code == 409
        assert _count(session, console, Member) == before
        applied = client.post(f"/t/{console.slug}/console/import/apply",
                              data={"csrf_token": csrf_of(checked), "mode": "valid_rows"})
        assert applied.status_code == 200 and "导入 2 名党员" in applied.text
        assert _count(session, console, Member) == before + 2
        assert list(tmp_path.iterdir()) == []
        again = client.post(f"/t/{console.slug}/console/import/apply",
                            data={"csrf_token": csrf_of(checked)})
        assert again.status_code == 400
        assert _count(session, console, Member) == before + 2
    finally:
        app.config.pop("IMPORT_UPLOAD_DIR", None)


def test_the_upload_is_bound_to_the_session(client, console, app, tmp_path):
    app.config["IMPORT_UPLOAD_DIR"] = str(tmp_path)
    try:
        sign_in_as(client, console, "secretary")
        other = app.test_client()
        sign_in_as(other, console, "admin")
        page = client.get(f"/t/{console.slug}/console/import")
        body = CSV_HEADER + f"甲,{make_national_id(5003)},{console.site.branch.code},正式党员\n"
        client.post(f"/t/{console.slug}/console/import", data={
            "csrf_token": csrf_of(page), "file": (io.BytesIO(body.encode()), "m.csv")},
            content_type="multipart/form-data")
        token = csrf_of(other.get(f"/t/{console.slug}/console/import"))
        response = other.post(f"/t/{console.slug}/console/import/apply",
                              data={"csrf_token": token})
        assert response.status_code == 400
    finally:
        app.config.pop("IMPORT_UPLOAD_DIR", None)


def test_tenant_settings(client, console, session):
    sign_in_as(client, console, "admin")
    refused = _post(client, console, "/console/settings", {
        "name": "新名称", "brand_color": "#ffff00", "logo_text": "",
        "branch_min_full_members": "3", "branch_max_members": "50",
        "general_branch_max_members": "100", "branch_committee_threshold": "7",
        "branch_committee_min": "3", "branch_committee_max": "7", "term_years_village": "5",
        "term_years_other": "0"})
    assert refused.status_code == 400 and refused.text.count('aria-invalid="true"') == 1
    with all_tenants():
        session.expire_all()
        assert session.get(Tenant, console.site.tenant.id).name == console.site.tenant.name
    done = _post(client, console, "/console/settings", {
        "name": "新名称", "brand_color": "#1d4ed8", "logo_text": "党建",
        "branch_min_full_members": "3", "branch_max_members": "40",
        "general_branch_max_members": "100", "branch_committee_threshold": "7",
        "branch_committee_min": "3", "branch_committee_max": "7", "term_years_village": "5",
        "term_years_other": "3"})
    assert done.status_code == 303
    with all_tenants():
        session.expire_all()
        tenant = session.get(Tenant, console.site.tenant.id)
        assert (tenant.name, tenant.brand_color, tenant.rules) == (
            "新名称", "#1d4ed8", {"branch_max_members": 40})
    home = client.get(f"/t/{console.slug}/")
    assert "brand.css?v=1d4ed8" in home.text and "党建" in home.text
    css = client.get(f"/t/{console.slug}/brand.css")
    assert css.status_code == 200 and "#1d4ed8" in css.text
    audit = client.get(f"/t/{console.slug}/console/audit?entity_type=tenant")
    assert audit.status_code == 200 and "tenant.settings" in audit.text


def test_forms_without_the_csrf_token_change_nothing(client, console, session):
    sign_in_as(client, console, "member")
    response = client.post(f"/t/{console.slug}/me/edit", data={"phone": "13000000000"})
    assert response.status_code == 400
    assert _member(session, console, console.site.plain_member.id).phone == "13900000002"


def test_the_console_home_counts_by_stage(client, console):
    sign_in_as(client, console, "secretary")
    page = client.get(f"/t/{console.slug}/console")
    assert page.status_code == 200 and 'id="stage-chart"' in page.text
    assert "echarts.min.js" in page.text
