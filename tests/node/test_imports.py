"""Bulk import of members: file formats, per-row report, all-or-nothing, partial, dry run, CLI."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import itertools
import json
import threading
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from node.audit.models import AuditEntry
from node.audit.recording import jsonable
from node.grants.models import Role
from node.members.identity import identity
from node.members.models import Member, OrgChange, StageChange, StatusChange
from node.orgs.models import Org
from node.tenants.scoping import tenant_context

URL = "/api/imports/members"
HEADER = ["name", "national_id", "org_code", "stage", "ethnicity", "education", "applied_on",
          "admitted_on", "full_on", "phone", "email", "address", "work_unit", "occupation"]
CHINESE = ["姓名", "身份证号", "组织编码", "发展阶段", "民族", "学历", "申请日期", "入党日期",
           "转正日期", "手机", "邮箱", "地址", "工作单位", "职业"]


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    """Argon2 costs 0.5 s a hash and no test here signs in with a password."""
    monkeypatch.setattr("node.accounts.services.hash_password", lambda password: "x")
    monkeypatch.setattr("node.tenants.services.hash_password", lambda password: "x")


@pytest.fixture()
def tree(world, session):
    """Tenant t: root > c1 > (b1, b2 > group, dissolved d), root > c2 > b3; admin of c1."""
    from node.orgs.services import dissolve_org

    t = world.tenant()
    root = world.root(t)
    c1 = world.org(t, root, "committee")
    b1 = world.org(t, c1, "branch")
    b2 = world.org(t, c1, "branch")
    group = world.org(t, b2, "group")
    d = world.org(t, c1, "branch")
    c2 = world.org(t, root, "committee")
    b3 = world.org(t, c2, "branch")
    with tenant_context(t.id):
        dissolve_org(world.root_principal(t), session.get(Org, d.id),
                     dissolved_on=dt.date(2024, 1, 1))
        session.get(Org, b2.id).external_code = "EXT-B2"
        session.commit()
    account = world.account(t, [(Role.org_admin, c1)], username="importer")
    return dataclasses.make_dataclass("Tree", ["t", "root", "c1", "b1", "b2", "group", "d",
                                               "c2", "b3", "account", "admin"])(
        t, root, c1, b1, b2, group, d, c2, b3, account, world.token(account))


def csv_bytes(rows: list[list[Any]], header: list[str] = HEADER,
              encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def person(name: str, nid: str, org: Any, stage: str = "full", **extra: Any) -> list[Any]:
    """A row in HEADER order."""
    values = {"name": name, "national_id": nid, "org_code": org.code, "stage": stage, **extra}
    return [values.get(column, "") for column in HEADER]


def upload(client: Any, headers: dict[str, str], data: bytes, filename: str = "members.csv",
           query: str = "", **form: Any) -> Any:
    body = {"file": (io.BytesIO(data), filename), **{k: str(v).lower() for k, v in form.items()}}
    return client.post(URL + query, headers=headers, data=body,
                       content_type="multipart/form-data")


def counts(session: Any, tenant: Any) -> dict[str, int]:
    with tenant_context(tenant.id):
        return {model.__name__: session.scalar(sa.select(sa.func.count()).select_from(model))
                for model in (Member, StageChange, StatusChange, OrgChange, AuditEntry)}


def test_csv_import_creates_members_history_and_audit(world, tree, client, session, national_id):
    before = counts(session, tree.t)
    auto = world.member(tree.t, tree.b1)  # registered one by one: the automatic audit's shape
    rows = [
        person("王芳", national_id(1), tree.b1, "full", ethnicity="汉族", education="bachelor",
               applied_on="2010-03-01", admitted_on="2012-07-01", full_on="2013-07-01",
               phone="138 0013 8000", email="wf@example.cn", address="重庆市大渡口区",
               work_unit="重钢", occupation="工程师"),
        person("李四", national_id(2), tree.b2, "applicant", applied_on="2025-05-04"),
        person("张三", national_id(3), tree.b2, "candidate"),
    ]
    r = upload(client, tree.admin, csv_bytes(rows))
    assert r.status_code == 200, r.json
    report = r.json
    assert report | {"errors": None} == report | {
        "format": "csv", "total_rows": 3, "valid_rows": 3, "error_rows": 0, "applied": True,
        "created": 3, "dry_run": False, "all_or_nothing": True, "errors": None}
    assert report["errors"] == []
    after = counts(session, tree.t)
    assert {k: after[k] - before[k] for k in after} == {
        "Member": 4, "StageChange": 4, "StatusChange": 4, "OrgChange": 4,
        "AuditEntry": 1 + 3 + 1}  # auto member.create; 3 member.import; 1 members.import

    with tenant_context(tree.t.id):
        members = session.scalars(sa.select(Member).where(Member.id != auto.id)
                                  .order_by(Member.id)).all()
        assert [m.name for m in members] == ["王芳", "李四", "张三"]
        numbers = [m.member_number for m in members]
        assert numbers[0] == report["first_member_number"]
        assert numbers[-1] == report["last_member_number"]
        assert all(n.startswith(tree.t.code_prefix) for n in numbers)
        assert [int(n[-8:]) for n in numbers] == [int(auto.member_number[-8:]) + i
                                                  for i in (1, 2, 3)]
        wang = members[0]
        assert identity().cipher.decrypt(wang.national_id_cipher) == national_id(1)
        assert wang.national_id_masked == national_id(1)[:3] + "*" * 11 + national_id(1)[-4:]
        assert (wang.org_id, wang.org_code, wang.stage.value, wang.status.value) == (
            tree.b1.id, tree.b1.code, "full", "active")
        assert (wang.full_on, wang.education.value, wang.phone, wang.tenant_id) == (
            dt.date(2013, 7, 1), "bachelor", "138 0013 8000", tree.t.id)
        history = session.scalars(sa.select(StageChange).where(
            StageChange.member_id.in_([m.id for m in members])).order_by(StageChange.id)).all()
        assert [(h.to_stage.value, h.note) for h in history] == [
            ("full", "imported"), ("applicant", "imported"), ("candidate", "imported")]
        # The stage began on its own date when the file has it, else today.
        assert [h.effective_on for h in history] == [
            dt.date(2013, 7, 1), dt.date(2025, 5, 4), dt.date.today()]
        org_history = session.scalars(sa.select(OrgChange).where(
            OrgChange.member_id == wang.id)).one()
        assert (org_history.from_org_id, org_history.to_org_id) == (None, tree.b1.id)

        audits = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "member.import").order_by(AuditEntry.id)).all()
        assert [a.entity_id for a in audits] == [m.id for m in members]
        assert [(a.actor, a.scope_code) for a in audits] == [
            ("importer", tree.b1.code), ("importer", tree.b2.code), ("importer", tree.b2.code)]
        assert {a.actor_account_id for a in audits} == {tree.account.id}
        created = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "member.create", AuditEntry.entity_id == auto.id)).one()
        # The same safe snapshot as the automatic audit, value for value.
        assert audits[0].after == {key: jsonable(getattr(wang, key)) for key in created.after}
        assert audits[0].after["national_id_masked"] == wang.national_id_masked
        assert audits[0].after["full_on"] == "2013-07-01" and audits[0].before is None
        assert audits[1].after["education"] is None and audits[1].after["stage"] == "applicant"
        assert not {"national_id_cipher", "national_id_hash"} & set(audits[0].after)
        assert national_id(1) not in json.dumps([a.after for a in audits])
        summary = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "members.import")).one()
        assert summary.after["created"] == 3 and summary.after["file"] == "members.csv"
        assert summary.scope_code == tree.c1.code  # above both branches, within reach


def test_xlsx_with_chinese_headers_labels_and_real_dates(tree, client, session, national_id):
    header = ["姓名", "身份证号", "组织外部编码", "发展阶段", "学历", "入党日期", "转正日期", "手机"]
    rows = [
        ["赵六", national_id(11), "EXT-B2", "预备党员", "硕士", dt.datetime(2025, 1, 2), None,
         13800138000],
        ["钱七", national_id(12), "EXT-B2", "正式党员", "本科", "2001-07-01", "2002-07-01", None],
        [None, None, None, None, None, None, None, None],  # blank rows are skipped
        ["孙八", national_id(13), "EXT-B2", "入党积极分子", None, None, None, None],
    ]
    r = upload(client, tree.admin, xlsx_bytes(rows, header), "名单.xlsx")
    assert r.status_code == 200, r.json
    assert (r.json["format"], r.json["total_rows"], r.json["created"]) == ("xlsx", 3, 3)
    with tenant_context(tree.t.id):
        members = session.scalars(sa.select(Member).order_by(Member.id)).all()
        got = [(m.name, m.org_id, m.stage.value, m.education and m.education.value,
                m.admitted_on, m.full_on, m.phone) for m in members]
    assert got == [
        ("赵六", tree.b2.id, "probationary", "master", dt.date(2025, 1, 2), None, "13800138000"),
        ("钱七", tree.b2.id, "full", "bachelor", dt.date(2001, 7, 1), dt.date(2002, 7, 1), None),
        ("孙八", tree.b2.id, "activist", None, None, None, None),
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings(tree, client, session, national_id, encoding):
    data = csv_bytes([["周九", national_id(21), tree.b1.code, "积极分子", "回族", "大专"]],
                     CHINESE[:6], encoding)
    r = upload(client, tree.admin, data)
    assert r.status_code == 200, r.json
    with tenant_context(tree.t.id):
        member = session.scalars(sa.select(Member)).one()
    assert (member.name, member.ethnicity, member.education.value) == ("周九", "回族",
                                                                     "associate")


def test_template_quirks_are_accepted(tree, client, session, national_id):
    """Starred required headers, tab-separated text, trailing empty columns, legacy IDs."""
    legacy = national_id(31)[:6] + national_id(31)[8:17]  # 15 digits: the same person
    data = ("姓名*\t身份证号*\t组织编码*\t发展阶段*\t\t\n"
            f"吴十\t{legacy}\t{tree.b1.code}\tFULL\t\t\n").encode()
    r = upload(client, tree.admin, data, "名单.txt")
    assert r.status_code == 200, r.json
    workbook_rows = [["郑十一", national_id(32), tree.b1.code, "full", None, None]]
    r = upload(client, tree.admin, xlsx_bytes(workbook_rows, [*HEADER[:4], None, None]),
               "members.xlsx")
    assert r.status_code == 200, r.json
    with tenant_context(tree.t.id):
        stored = session.scalars(sa.select(Member).order_by(Member.id)).all()
    assert [identity().cipher.decrypt(m.national_id_cipher) for m in stored] == [
        national_id(31), national_id(32)]


def test_every_kind_of_row_error_is_reported_by_row_and_field(world, tree, client, session,
                                                              national_id):
    other = world.tenant()
    other_branch = world.org(other, world.root(other), "branch")
    registered = world.member(tree.t, tree.b1, national_id=national_id(99))
    nid = national_id
    bad_check = nid(40)[:17] + ("0" if nid(40)[17] != "0" else "1")
    header = [*HEADER, "org_external_code", ""]
    rows = {  # row number in the file -> (cells, expected (field, message fragment))
        2: (person("好人", nid(41), tree.b1), None),
        3: (person("", nid(42), tree.b1), ("name", "Required")),
        4: (person("名" * 61, nid(43), tree.b1), ("name", "between 1 and 60")),
        5: (person("坏号", bad_check, tree.b1), ("national_id", "check digit")),
        6: (person("坏号", "12345", tree.b1), ("national_id", "18 characters")),
        7: (person("无号", "", tree.b1), ("national_id", "Required")),
        8: (person("阶段", nid(44), tree.b1, "党员"), ("stage", "Unknown stage")),
        9: (person("学历", nid(45), tree.b1, education="幼儿园"), ("education", "Unknown level")),
        10: (person("日期", nid(46), tree.b1, admitted_on="2020-13-01"), ("admitted_on", "valid")),
        11: (person("日期", nid(47), tree.b1, admitted_on="01/02/2020"),
             ("admitted_on", "YYYY-MM-DD")),
        12: (person("未来", nid(48), tree.b1, full_on="2999-01-01"), ("full_on", "future")),
        13: (person("顺序", nid(49), tree.b1, admitted_on="2020-01-01", full_on="2019-01-01"),
             ("full_on", "Before admitted_on")),
        14: (person("邮箱", nid(50), tree.b1, email="not-an-email"), ("email", "email")),
        15: (person("手机", nid(51), tree.b1, phone="call me"), ("phone", "match")),
        16: (person("地址", nid(52), tree.b1, address="路" * 256), ("address", "maximum length")),
        17: ([*person("无组织", nid(53), tree.b1)[:2], "", "full"], ("org_code", "Required")),
        18: ([*person("未知", nid(54), tree.b1)[:2], "999999", "full"],
             ("org_code", "Unknown organization")),
        19: (person("小组", nid(55), tree.group), ("org_code", "party group")),
        20: (person("撤销", nid(56), tree.d), ("org_code", "dissolved")),
        21: (person("兄弟", nid(57), tree.b3), ("org_code", "Unknown organization")),
        22: (person("他租户", nid(58), other_branch), ("org_code", "Unknown organization")),
        23: (person("重复", nid(59), tree.b1), ("national_id", "rows 23, 24")),
        24: (person("重复", nid(59)[:6] + nid(59)[8:17], tree.b2),  # the 15-digit form
             ("national_id", "rows 23, 24")),
        25: (person("已有", nid(99), tree.b1), ("national_id", "Already registered")),
        26: ([*person("外码", nid(60), tree.b1), "EXT-B2"],
             ("org_external_code", "Does not match")),
        27: ([*person("多余", nid(61), tree.b1), "", "surplus"], (None, "no header")),
        28: (person("好人二", nid(62), tree.b2), None),
    }
    r = upload(client, tree.admin, csv_bytes([cells for cells, _ in rows.values()], header))
    assert r.status_code == 422, r.json
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["code"] == "import-rejected" and "rows" in r.json["errors"]
    report = r.json["report"]
    got = {(e["row"], e["field"]) for e in report["errors"]}
    expected = {(number, want[0]) for number, (_, want) in rows.items() if want}
    assert got == expected
    for error in report["errors"]:
        fragment = rows[error["row"]][1][1]
        assert fragment.lower() in error["message"].lower(), error
    assert (report["total_rows"], report["valid_rows"], report["error_rows"]) == (27, 2, 25)
    assert (report["applied"], report["created"]) == (False, 0)
    with tenant_context(tree.t.id):
        assert session.scalars(sa.select(Member.id)).all() == [registered.id]


def test_all_or_nothing_leaves_the_database_unchanged(tree, client, session, national_id):
    before = counts(session, tree.t)
    rows = [person(f"人{i}", national_id(100 + i), tree.b1) for i in range(5)]
    rows.append(person("错", national_id(105)[:17] + "Y", tree.b1))
    r = upload(client, tree.admin, csv_bytes(rows))
    assert r.status_code == 422
    assert r.json["report"]["errors"] == [
        {"row": 7, "field": "national_id",
         "message": "An ID number must have 18 characters (or 15 digits)."}]
    assert counts(session, tree.t) == before
    with tenant_context(tree.t.id):  # no member number was used up either
        assert session.scalar(sa.text("select next_member_seq from tenants where id = :id"),
                              {"id": tree.t.id}) == 0


def test_partial_mode_applies_only_the_valid_rows(tree, client, session, national_id):
    rows = [person("一", national_id(201), tree.b1), person("二", national_id(202), tree.b3),
            person("三", national_id(203), tree.b2, "nope"), person("四", national_id(204), tree.b2)]
    r = upload(client, tree.admin, csv_bytes(rows), all_or_nothing=False)
    assert r.status_code == 200, r.json
    assert (r.json["created"], r.json["applied"], r.json["error_rows"]) == (2, True, 2)
    assert [(e["row"], e["field"]) for e in r.json["errors"]] == [(3, "org_code"), (4, "stage")]
    with tenant_context(tree.t.id):
        assert sorted(session.scalars(sa.select(Member.name))) == sorted(["一", "四"])
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "member.import")) == 2


def test_partial_mode_with_no_valid_row_is_rejected(tree, client, national_id):
    r = upload(client, tree.admin, csv_bytes([person("二", national_id(301), tree.b3)]),
               all_or_nothing=False)
    assert r.status_code == 422 and r.json["report"]["created"] == 0


@pytest.mark.parametrize("how", ["form", "query"])
def test_dry_run_changes_nothing(tree, client, session, national_id, how):
    before = counts(session, tree.t)
    rows = [person("甲", national_id(401), tree.b1), person("乙", national_id(402), tree.b2)]
    if how == "form":
        r = upload(client, tree.admin, csv_bytes(rows), dry_run=True)
    else:
        r = upload(client, tree.admin, csv_bytes(rows), query="?dry_run=true")
    assert r.status_code == 200, r.json
    assert (r.json["dry_run"], r.json["applied"], r.json["created"], r.json["valid_rows"]) == (
        True, False, 0, 2)
    assert counts(session, tree.t) == before


def test_dry_run_reports_errors_with_200(tree, client, national_id):
    r = upload(client, tree.admin, csv_bytes([person("乙", national_id(403), tree.b3)]),
               dry_run=True)
    assert r.status_code == 200
    assert [(e["row"], e["field"]) for e in r.json["errors"]] == [(2, "org_code")]


def test_options_given_twice_must_agree(tree, client, national_id):
    data = csv_bytes([person("甲", national_id(404), tree.b1)])
    r = upload(client, tree.admin, data, query="?dry_run=false", dry_run=True)
    assert r.status_code == 422 and "dry_run" in r.json["errors"]


@pytest.mark.parametrize(("header", "fragment"), [
    ([*HEADER, "salary"], "Unknown columns: salary"),
    (["name", "national_id", "stage"], "organization column"),
    (["name", "org_code", "stage"], "Missing required columns: national_id"),
    (["name", "姓名", "national_id", "org_code", "stage"], "twice"),
])
def test_header_problems_are_file_errors(tree, client, header, fragment):
    r = upload(client, tree.admin, csv_bytes([["x"] * len(header)], header))
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    assert fragment in " ".join(r.json["errors"]["file"])


@pytest.mark.parametrize(("data", "filename", "status", "fragment"), [
    (b"just some notes", "notes.pdf", 415, ".csv or .xlsx"),
    (b"\xd0\xcf\x11\xe0" + b"\0" * 100, "old.xls", 415, ".xlsx"),
    (b"PK\x03\x04 not really a zip", "broken.xlsx", 422, "not a readable .xlsx"),
    (b"", "empty.csv", 422, "empty"),
    (b"name,national_id,org_code,stage\n", "header-only.csv", 422, "no data rows"),
    (b"name,national_id,org_code,stage\n\xff\xff\xff\xff\n", "bad.csv", 422, "UTF-8 or GB18030"),
])
def test_bad_files_are_problems(tree, client, data, filename, status, fragment):
    r = upload(client, tree.admin, data, filename)
    assert r.status_code == status, r.json
    assert r.headers["Content-Type"] == "application/problem+json"
    assert fragment in " ".join(r.json["errors"]["file"])


def test_upload_needs_a_file_part(tree, client):
    r = client.post(URL, headers=tree.admin, data={"dry_run": "true"},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.json["errors"]
    r = client.post(URL, headers=tree.admin, data={"file": "a,b"},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.json["errors"]


def test_oversize_upload_is_413(tree, client, app, monkeypatch, national_id):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 200)
    rows = [person(f"人{i}", national_id(500 + i), tree.b1) for i in range(20)]
    r = upload(client, tree.admin, csv_bytes(rows))
    assert r.status_code == 413
    assert r.headers["Content-Type"] == "application/problem+json"


def test_import_needs_an_admin_grant(world, tree, client, national_id):
    viewer = world.token(world.account(tree.t, [(Role.org_viewer, tree.c1)]))
    r = upload(client, viewer, csv_bytes([person("甲", national_id(601), tree.b1)]))
    assert r.status_code == 403
    assert client.post(URL, data={}).status_code == 401


def test_a_branch_secretary_imports_only_into_the_branch(world, tree, client, national_id):
    secretary = world.token(world.account(tree.t, [(Role.org_admin, tree.b1)]))
    rows = [person("甲", national_id(701), tree.b1), person("乙", national_id(702), tree.b2)]
    r = upload(client, secretary, csv_bytes(rows))
    assert r.status_code == 422
    assert r.json["report"]["errors"] == [
        {"row": 3, "field": "org_code", "message": "Unknown organization."}]


def test_openapi_documents_the_multipart_upload(client):
    spec = client.get("/api/openapi.json").json
    post = spec["paths"]["/api/imports/members"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    props = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"file", "dry_run", "all_or_nothing"} <= set(props)
    assert {"200", "413", "415", "422"} <= set(post["responses"])
    assert {p["name"] for p in post["parameters"] if p["in"] == "query"} == {
        "dry_run", "all_or_nothing"}


def test_ten_thousand_rows_with_errors_are_reported_and_nothing_is_applied(
        world, tree, client, session, national_id):
    """The big case: every bad row found, by row number, and not one member created."""
    registered = world.member(tree.t, tree.b1, national_id=national_id(5_000))
    orgs = [tree.b1, tree.b2]
    rows, bad = [], set()
    for i in range(10_000):
        row_number = i + 2
        cells = person(f"党员{i}", national_id(i), orgs[i % 2], ["full", "activist"][i % 2],
                       admitted_on="2015-07-01" if i % 2 == 0 else "")
        if i % 97 == 13:
            cells[1] = cells[1][:17] + ("0" if cells[1][17] != "0" else "1")  # check digit
            bad.add(row_number)
        elif i % 101 == 7:
            cells[2] = tree.b3.code  # a sibling committee's branch: outside reach
            bad.add(row_number)
        elif i % 499 == 3:
            cells[3] = "member"
            bad.add(row_number)
        elif i in (1_234, 8_765):
            cells[1] = national_id(4_321)  # both copies of person 4321 are flagged
            bad |= {row_number, 4_321 + 2}
        elif i == 5_000:
            bad.add(row_number)  # already registered (world.member above)
        rows.append(cells)
    before = counts(session, tree.t)
    r = upload(client, tree.admin, csv_bytes(rows))
    assert r.status_code == 422
    report = r.json["report"]
    assert {e["row"] for e in report["errors"]} == bad
    assert (report["total_rows"], report["error_rows"], report["valid_rows"]) == (
        10_000, len(bad), 10_000 - len(bad))
    assert (report["created"], report["errors_truncated"]) == (0, False)
    assert counts(session, tree.t) == before
    with tenant_context(tree.t.id):
        assert session.scalars(sa.select(Member.id)).all() == [registered.id]


@pytest.fixture()
def small_batches(monkeypatch):
    """Insert batches of 7 rows: the many-batch paths of a large file, with a small one."""
    monkeypatch.setattr("node.imports.services.BATCH_SIZE", 7)


@pytest.mark.parametrize("problem", ["late error", "duplicate across batches",
                                     "duplicate in a batch"])
def test_a_problem_late_in_the_file_still_writes_nothing(tree, client, session, national_id,
                                                         small_batches, problem):
    rows = [person(f"人{i}", national_id(1000 + i), [tree.b1, tree.b2][i % 2]) for i in range(30)]
    if problem == "late error":
        rows[26][3] = "nope"  # row 28, in the last batch
        bad = {(28, "stage")}
    elif problem == "duplicate across batches":
        rows[25][1] = rows[2][1]  # rows 4 and 27: the same person, batches 1 and 4
        bad = {(4, "national_id"), (27, "national_id")}
    else:
        rows[3][1] = rows[1][1]  # rows 3 and 5, both in batch 1
        bad = {(3, "national_id"), (5, "national_id")}
    before = counts(session, tree.t)
    r = upload(client, tree.admin, csv_bytes(rows))
    assert r.status_code == 422
    assert {(e["row"], e["field"]) for e in r.json["report"]["errors"]} == bad
    assert counts(session, tree.t) == before
    with tenant_context(tree.t.id):
        assert session.scalar(sa.text("select next_member_seq from tenants where id = :id"),
                              {"id": tree.t.id}) == 0


def test_many_batches_import_every_row_once(tree, client, session, national_id, small_batches):
    rows = [person(f"人{i}", national_id(1100 + i), [tree.b1, tree.b2][i % 2]) for i in range(30)]
    r = upload(client, tree.admin, csv_bytes(rows))
    assert r.status_code == 200 and r.json["created"] == 30
    with tenant_context(tree.t.id):
        members = session.scalars(sa.select(Member).order_by(Member.member_number)).all()
        assert [m.name for m in members] == [f"人{i}" for i in range(30)]
        assert [int(m.member_number[-8:]) for m in members] == list(range(1, 31))
        for model in (StageChange, StatusChange, OrgChange):
            assert sorted(session.scalars(sa.select(model.member_id))) == sorted(
                m.id for m in members)
        audited = session.scalars(sa.select(AuditEntry.entity_id).where(
            AuditEntry.action == "member.import")).all()
        assert sorted(audited) == sorted(m.id for m in members)


def test_partial_mode_over_many_batches(tree, client, session, national_id, small_batches):
    rows = [person(f"人{i}", national_id(1200 + i), tree.b1) for i in range(30)]
    for i in (3, 12, 29):
        rows[i][2] = tree.b3.code
    r = upload(client, tree.admin, csv_bytes(rows), all_or_nothing=False)
    assert r.status_code == 200
    assert [e["row"] for e in r.json["errors"]] == [5, 14, 31]
    assert r.json["created"] == 27
    with tenant_context(tree.t.id):
        assert session.scalar(sa.select(sa.func.count()).select_from(Member)) == 27


def test_prefetch_keeps_order_raises_the_helpers_error_and_stops_the_helper():
    from node.imports import bulk

    assert list(bulk.prefetch(iter(range(10)))) == list(range(10))

    def failing():
        yield 1
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        list(bulk.prefetch(failing()))
    endless = bulk.prefetch(itertools.count())
    assert next(endless) == 0
    endless.close()
    assert not [t for t in threading.enumerate() if t.name == "bulk-prefetch"]


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture()
def node_cli(app, monkeypatch):
    """`partynet node` with this test's settings in the environment."""
    from node.cli import cli

    settings = app.extensions["node"]
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        text = ",".join(value) if isinstance(value, tuple) else str(value).lower() \
            if isinstance(value, bool) else str(value)
        monkeypatch.setenv(f"NODE_{field.name.upper()}", text)
    return lambda *args: CliRunner().invoke(cli, ["members", "import", *map(str, args)])


def test_cli_imports_with_progress_and_summary(tree, node_cli, session, tmp_path, national_id):
    path = tmp_path / "members.xlsx"
    path.write_bytes(xlsx_bytes([person("甲", national_id(801), tree.b1),
                                 person("乙", national_id(802), tree.b3)]))
    result = node_cli(path, "--tenant", tree.t.slug)
    assert result.exit_code == 0, result.output
    assert "imported 2 members" in result.output and "2 valid, 0 with errors" in result.output
    assert "Checking rows" in result.output and "Inserting" in result.output
    with tenant_context(tree.t.id):
        audits = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action.in_(["member.import", "members.import"]))).all()
        assert {(a.actor, a.actor_account_id) for a in audits} == {("cli", None)}
        assert len(audits) == 3
        summary = next(a for a in audits if a.action == "members.import")
        assert summary.scope_code == tree.root.code  # the operator imported across committees


def test_cli_errors_exit_1_and_write_the_report(tree, node_cli, session, tmp_path, national_id):
    path = tmp_path / "members.csv"
    rows = [person("甲", national_id(811), tree.b1), person("乙", national_id(812), tree.group)]
    path.write_bytes(csv_bytes(rows))
    report_path = tmp_path / "report.json"
    before = counts(session, tree.t)
    result = node_cli(path, "--tenant", tree.t.slug, "--report", report_path)
    assert result.exit_code == 1
    assert "nothing imported" in result.output and "row 3, org_code:" in result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(3, "org_code")]
    assert counts(session, tree.t) == before

    result = node_cli(path, "--tenant", tree.t.slug, "--dry-run", "--no-progress")
    assert result.exit_code == 0 and "dry run" in result.output
    assert counts(session, tree.t) == before

    result = node_cli(path, "--tenant", tree.t.slug, "--partial")
    assert result.exit_code == 0 and "imported 1 members" in result.output
    assert "Checking rows" in result.output and "Inserting" in result.output
    assert counts(session, tree.t)["Member"] == before["Member"] + 1


def test_cli_file_errors_and_unknown_tenant_are_one_line(tree, node_cli, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(b"name,phone\n")
    result = node_cli(path, "--tenant", tree.t.slug)
    assert result.exit_code == 1 and "Missing required columns" in result.output
    assert "Traceback" not in result.output
    result = node_cli(path, "--tenant", "no-such-tenant")
    assert result.exit_code == 1 and "No tenant" in result.output
