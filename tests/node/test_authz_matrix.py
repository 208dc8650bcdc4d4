"""The authorization and tenant-isolation matrix, generated from the route map.

Every rule under /api in `app.url_map` (methods minus HEAD/OPTIONS) is joined with `POLICY`,
which says how to build a request against a target record and who may succeed. Each cell is
one test: principal × target, where the target lies in the principal's own branch B1, in the
sibling branch B2, or in another tenant. A route with no policy entry fails its own cell, so
every new endpoint must be classified here.

Besides the status code, each cell checks the database: a successful write must change the
records it names, and a refused request (or any read) must change nothing at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import secrets
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask

from federation.delivery.consumer import PING, envelope_record
from federation.delivery.models import FederationModel, QuarantinedMessage
from federation.envelope import Envelope
from node.accounts.models import Account
from node.app import create_app
from node.audit.models import AuditEntry
from node.auth.models import Token, token_digest
from node.bus.services import create_signing_key
from node.content.models import Article, ArticleKind, ArticleStatus, Attachment, Visibility
from node.db import NodeModel, db
from node.directives.models import Audience, Directive, DirectiveKind, Priority
from node.dues.models import DuesLine, DuesReduction, ReductionKind
from node.dues.services import local_today
from node.floating.models import FloatingCertificate
from node.grants.models import Grant, Role
from node.meetings.models import Attendance as MeetingAttendance
from node.meetings.models import (
    AttendanceStatus,
    Meeting,
    MeetingAttachment,
    MeetingKind,
    MeetingStatus,
    ReviewStatus,
)
from node.members.identity import identity
from node.members.models import Gender, Member, Stage, Status
from node.orgs.models import Officer, OfficerPosition, Org, OrgKind
from node.reports.models import MemberReport
from node.settings import NodeSettings
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants
from node.transfers.models import Transfer, TransferApproval
from shared import identity as nid

PASSWORD = "correct-horse-1"
TODAY = dt.date.today().isoformat()
SCOPES = ("own", "sibling", "other")
TENANT_PRINCIPALS = ("member", "viewer_b1", "admin_b1", "admin_c1", "tenant_admin")
NOT_FOUND_REF = frozenset({404, 422})  # a body reference outside reach: refused, not revealed

#: The strongest role each in-tenant principal holds over the target branch of each scope.
#: "own" is B1, "sibling" is B2 (both under committee C1); nobody reaches another tenant.
REACH: dict[str, dict[str, Role | None]] = {
    "member": {"own": None, "sibling": None},
    "viewer_b1": {"own": Role.org_viewer, "sibling": None},
    "admin_b1": {"own": Role.org_admin, "sibling": None},
    "admin_c1": {"own": Role.org_admin, "sibling": Role.org_admin},
    "tenant_admin": {"own": Role.tenant_admin, "sibling": Role.tenant_admin},
}
#: Principals holding an administrator role somewhere (audit log, account list).
ADMINS = frozenset({"admin_b1", "admin_c1", "tenant_admin"})


def reaches(principal: str, scope: str, role: Role) -> bool:
    held = REACH.get(principal, {}).get(scope)
    return held is not None and held.at_least(role)


# --- the world ------------------------------------------------------------------------------
#
# Built with a dozen bulk INSERT ... RETURNING statements rather than the `world` factories,
# which commit and refresh after every object (~300 statements for this world): the matrix has
# a thousand cells, each with its own world.


@dataclasses.dataclass(frozen=True)
class Scope:
    """The records of one target scope: a branch and what hangs off it."""

    name: str
    branch: int
    code: str  # the branch's code
    group: int  # an empty party group under the branch (dissolvable)
    member: int  # an applicant with no account
    account: int  # an account linked to another member of the branch
    grant: int  # that account's org_viewer grant on the branch
    officer: int
    article: int = 0  # a published, members-only article of the branch
    draft: int = 0  # a draft of the branch
    attachment: int = 0  # a file attached to `article`
    quarantined: int = 0  # a held message claiming the scope's tenant (releasable)
    directive: int = 0  # a study item from the hub for the scope's tenant (all members)
    meeting: int = 0  # a meeting of the branch open for check-in (B1's: the member invited)
    held_meeting: int = 0  # a held meeting of the branch with minutes (may be submitted)
    submitted: int = 0  # a held meeting awaiting review by the committee above
    meeting_file: int = 0  # a file attached to `meeting`
    dues_line: int = 0  # this month's unpaid dues line of `member`
    reduction: int = 0  # a hardship request for `member`, awaiting the committee above
    # transfers of `member` (rows as the saga leaves them): an application awaiting the
    # branch, a letter received for the branch awaiting assignment, a letter rejected, one
    # expired and one out (issued by the committee above the branch)
    transfer: int = 0
    incoming: int = 0
    rejected: int = 0
    expired: int = 0
    issued: int = 0
    slug: str = ""  # the scope's tenant
    to_code: str = ""  # where its transfers go: the other branch of the tenant
    # floating certificates: `member`'s (home side, pending), one hosted by the branch
    # (pending) and one hosted by the branch and active (participation may be recorded)
    floating: int = 0
    hosted: int = 0
    hosting: int = 0


@dataclasses.dataclass(frozen=True)
class Matrix:
    root: int
    scopes: dict[str, Scope]
    accounts: dict[str, int]  # principal -> account id
    self_member: int  # the member linked to the "member" principal
    headers: dict[str, dict[str, str]]  # principal -> headers
    national_id: Callable[[int], str]

    def headers_for(self, principal: str, method: str) -> dict[str, str]:
        if principal == "wrong_scope":
            return self.headers["read_only" if method != "GET" else "write_only"]
        return self.headers[principal]


#: One real argon2 hash with cheap parameters, shared by every account (the default costs
#: ~0.2 s per hash).
PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)


def _insert(model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert, ids in row order (one statement on SQLite and PostgreSQL)."""
    stmt = sa.insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(db.session.scalars(stmt, rows))


def _org(tenant_id: int, code: str, kind: OrgKind, parent: int | None = None,
         children: int = 0) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "parent_id": parent, "code": code, "kind": kind,
            "name": f"{kind.value} {code}", "depth": (len(code) - 9) // 3,
            "next_child_seq": children}


def _member(tenant_id: int, number: str, org: int, code: str, raw: str,
            stage: Stage) -> dict[str, Any]:
    tools = identity()
    return {"tenant_id": tenant_id, "member_number": number, "org_id": org, "org_code": code,
            "name": f"党员{number[-3:]}", "gender": Gender(nid.gender(raw)),
            "birth_date": nid.birth_date(raw), "national_id_cipher": tools.cipher.encrypt(raw),
            "national_id_hash": tools.hasher.hash(raw),
            "national_id_masked": nid.mask_national_id(raw), "stage": stage,
            "status": Status.active}


def _token(tenant_id: int, account: int, scope: str) -> tuple[dict[str, Any], dict[str, str]]:
    raw = secrets.token_urlsafe(24)
    row = {"access_token_hash": token_digest(raw), "tenant_id": tenant_id,
           "account_id": account, "scope": scope,
           "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}
    return row, {"Authorization": f"Bearer {raw}"}


ATTACHMENT = b"attached file"


def _article(tenant_id: int, org: int, code: str, status: ArticleStatus) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"tenant_id": tenant_id, "org_id": org, "org_code": code,
            "kind": ArticleKind.article, "title": "支部文章", "summary": "", "body": "正文",
            "visibility": Visibility.members, "status": status, "created_at": now,
            "updated_at": now, "published_at": now if status == ArticleStatus.published
            else None}


@pytest.fixture()
def matrix(connection: sa.Connection, national_id: Callable[[int], str], app: Flask,
           tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Matrix]:
    """Tenant A: root > C1 > {B1, B2}, each branch with a group; tenant B: root > BX > group."""
    sha = hashlib.sha256(ATTACHMENT).hexdigest()
    blobs = tmp_path / "attachments"
    (blobs / sha[:2]).mkdir(parents=True)
    (blobs / sha[:2] / sha).write_bytes(ATTACHMENT)
    app.config["CONTENT_ATTACHMENTS_DIR"] = str(blobs)
    app.config["MEETINGS_ATTACHMENTS_DIR"] = str(blobs)
    # The node's consumer (quarantine release and discard) needs the node's signing key.
    settings = dataclasses.replace(app.extensions["node"],
                                   signing_key_file=str(tmp_path / "node.key"),
                                   # online dues: the sandbox provider (never called here)
                                   pay_provider="sandbox", pay_sandbox_url="http://127.0.0.1:9",
                                   pay_sandbox_secret=PAY_SECRET)
    create_signing_key(settings)
    monkeypatch.setitem(app.extensions, "node", settings)
    pa, pb = (f"{region}{secrets.randbelow(900) + 100}" for region in ("500101", "500102"))
    with all_tenants():
        a, b = _insert(Tenant, [
            {"slug": f"m{pa}", "name": "A", "code_prefix": pa, "rules": {"meeting_review": 1},
             "next_member_seq": 5},
            {"slug": f"m{pb}", "name": "B", "code_prefix": pb, "rules": {},
             "next_member_seq": 2}])
        root, root_b = _insert(Org, [_org(a, pa, OrgKind.committee, children=1),
                                     _org(b, pb, OrgKind.committee, children=1)])
        c1, bx = _insert(Org, [_org(a, pa + "001", OrgKind.committee, root, children=2),
                               _org(b, pb + "001", OrgKind.branch, root_b, children=1)])
        b1, b2, gx = _insert(Org, [
            _org(a, pa + "001001", OrgKind.branch, c1, children=1),
            _org(a, pa + "001002", OrgKind.branch, c1, children=1),
            _org(b, pb + "001001", OrgKind.group, bx)])
        g1, g2 = _insert(Org, [_org(a, pa + "001001001", OrgKind.group, b1),
                               _org(a, pa + "001002001", OrgKind.group, b2)])
        tenant = {"own": a, "sibling": a, "other": b}
        branch = {"own": (b1, pa + "001001"), "sibling": (b2, pa + "001002"),
                  "other": (bx, pb + "001")}
        numbers = iter([f"{pa}{n:08d}" for n in range(1, 6)] + [f"{pb}{n:08d}" for n in (1, 2)])
        placed = [(s, stage) for s in SCOPES for stage in (Stage.applicant, Stage.full)]
        placed.insert(2, ("own", Stage.full))  # the "member" principal's own record, in B1
        member_ids = _insert(Member, [
            _member(tenant[s], next(numbers), *branch[s], national_id(500 + i), stage)
            for i, (s, stage) in enumerate(placed)])
        self_member = member_ids.pop(2)
        members = {s: member_ids[2 * i] for i, s in enumerate(SCOPES)}
        linked = {s: member_ids[2 * i + 1] for i, s in enumerate(SCOPES)}
        officers = dict(zip(SCOPES, _insert(Officer, [
            {"tenant_id": tenant[s], "org_id": branch[s][0], "org_code": branch[s][1],
             "name": "书记", "position": OfficerPosition.secretary,
             "term_start": dt.date(2024, 1, 1)} for s in SCOPES]), strict=True))
        article_ids = _insert(Article, [_article(tenant[s], *branch[s], status) for status in
                                        (ArticleStatus.published, ArticleStatus.draft)
                                        for s in SCOPES])
        articles = dict(zip(SCOPES, article_ids[:3], strict=True))
        drafts = dict(zip(SCOPES, article_ids[3:], strict=True))
        attachments = dict(zip(SCOPES, _insert(Attachment, [
            {"tenant_id": tenant[s], "article_id": articles[s], "filename": "附件.txt",
             "content_type": "text/plain", "size": len(ATTACHMENT), "sha256": sha}
            for s in SCOPES]), strict=True))
        owners = [(tenant[s], linked[s]) for s in SCOPES] + [(a, self_member)] + [(a, None)] * 4
        account_ids = _insert(Account, [
            {"tenant_id": t, "username": f"user{i}", "display_name": "Test",
             "password_hash": PASSWORD_HASH, "member_id": m} for i, (t, m) in enumerate(owners)])
        scope_accounts = dict(zip(SCOPES, account_ids[:3], strict=True))
        accounts = dict(zip(TENANT_PRINCIPALS, account_ids[3:], strict=True))
        held = [(scope_accounts[s], Role.org_viewer, *branch[s], tenant[s]) for s in SCOPES] + [
            (accounts["viewer_b1"], Role.org_viewer, *branch["own"], a),
            (accounts["admin_b1"], Role.org_admin, *branch["own"], a),
            (accounts["admin_c1"], Role.org_admin, c1, pa + "001", a),
            (accounts["tenant_admin"], Role.tenant_admin, root, pa, a)]
        grant_ids = _insert(Grant, [
            {"account_id": acc, "role": role, "org_id": org, "org_code": code, "tenant_id": t}
            for acc, role, org, code, t in held])
        tokens = {p: _token(a, accounts[p], "read write") for p in TENANT_PRINCIPALS}
        tokens["read_only"] = _token(a, accounts["tenant_admin"], "read")
        tokens["write_only"] = _token(a, accounts["tenant_admin"], "write")
        db.session.execute(sa.insert(Token), [row for row, _ in tokens.values()])
        # What the audit hook would have written for the registrations the audit cells look for.
        db.session.execute(sa.insert(AuditEntry), [
            {"tenant_id": tenant[s], "at": dt.datetime.now(dt.UTC), "actor": "test",
             "action": "member.create", "entity_type": "member", "entity_id": members[s],
             "scope_code": branch[s][1]} for s in SCOPES])
        # A message of each scope's tenant held because applying it failed: releasing it
        # re-runs it (a ping: no effect beyond the release itself).
        slugs = {a: f"m{pa}", b: f"m{pb}"}
        pings = [Envelope.create(PING, source="hub", destination="node-local",
                                 tenant=slugs[tenant[s]], data={"n": i})
                 for i, s in enumerate(SCOPES)]
        quarantined = dict(zip(SCOPES, _insert(QuarantinedMessage, [
            {"reason": "handler_failed", "detail": "RuntimeError: test", "source": "hub",
             "message_id": e.id, "type": PING, "tenant": e.tenant, "body": envelope_record(e)}
            for e in pings]), strict=True))
        # A study item from the hub for each tenant: own and sibling share tenant A's.
        study = {"hub_id": 1, "kind": DirectiveKind.study, "title": "学习材料", "body": "",
                 "links": [], "priority": Priority.normal, "pinned": True,
                 "audience": Audience.all, "published_at": dt.datetime.now(dt.UTC),
                 "received_at": dt.datetime.now(dt.UTC)}
        directive_a, directive_b = _insert(Directive, [{**study, "tenant_id": a},
                                                       {**study, "tenant_id": b}])
        directives = {"own": directive_a, "sibling": directive_a, "other": directive_b}
        # Meetings of each branch (tenant A reviews meetings): one open for check-in now with
        # the branch's full member invited (and B1's "member"), one held, one submitted.
        now = dt.datetime.now(dt.UTC)
        meeting_rows = [_meeting(tenant[s], *branch[s], now, state) for s in SCOPES
                        for state in ("open", "held", "submitted")]
        meeting_ids = _insert(Meeting, meeting_rows)
        meeting_records = {s: dict(zip(("meeting", "held_meeting", "submitted"),
                                       meeting_ids[3 * i:3 * i + 3], strict=True))
                           for i, s in enumerate(SCOPES)}
        invited = [(s, linked[s]) for s in SCOPES] + [("own", self_member)]
        db.session.execute(sa.insert(MeetingAttendance), [
            {"tenant_id": tenant[s], "meeting_id": meeting_records[s]["meeting"],
             "member_id": m, "status": AttendanceStatus.invited, "updated_at": now}
            for s, m in invited])
        for s, file_id in zip(SCOPES, _insert(MeetingAttachment, [
                {"tenant_id": tenant[s], "meeting_id": meeting_records[s]["meeting"],
                 "filename": "会议记录.txt", "content_type": "text/plain",
                 "size": len(ATTACHMENT), "sha256": sha} for s in SCOPES]), strict=True):
            meeting_records[s]["meeting_file"] = file_id
        # Dues: this month's unpaid line of each scope's member and of the "member"
        # principal's own record; a hardship request of each scope's member.
        line_ids = _insert(DuesLine, [_dues_line(tenant[s], members[s], *branch[s])
                                      for s in SCOPES]
                           + [_dues_line(a, self_member, *branch["own"])])
        dues = {s: {"dues_line": line_ids[i]} for i, s in enumerate(SCOPES)}
        for s, reduction_id in zip(SCOPES, _insert(DuesReduction, [
                {"tenant_id": tenant[s], "member_id": members[s], "org_code": branch[s][1],
                 "kind": ReductionKind.exempt, "from_month": THIS_MONTH,
                 "to_month": THIS_MONTH, "reason": "困难", "status": "pending",
                 "requested_at": now} for s in SCOPES]), strict=True):
            dues[s]["reduction"] = reduction_id
        # Last month's report of each scope's member and of the "member" principal's record.
        db.session.execute(sa.insert(MemberReport), [
            {"tenant_id": t, "member_id": member, "month": REPORT_MONTH, "org_id": org,
             "org_code": code, "org_name": "支部", "absences": [], "generated_at": now}
            for t, member, (org, code) in [(tenant[s], members[s], branch[s]) for s in SCOPES]
            + [(a, self_member, branch["own"])]])
        transfers = _transfers(tenant, slugs, branch, members, now,
                               issuer={"own": (c1, pa + "001"), "sibling": (c1, pa + "001"),
                                       "other": (root_b, pb)})
        floating = _floating(tenant, slugs, branch, members)
        db.session.commit()
    db.session.remove()
    headers = {p: h for p, (_, h) in tokens.items()}
    headers["bad_token"] = {"Authorization": "Bearer not-a-token"}
    headers["anonymous"] = {}
    yield Matrix(root=root, scopes={
        s: Scope(s, *branch[s], {"own": g1, "sibling": g2, "other": gx}[s], members[s],
                 scope_accounts[s], grant_ids[i], officers[s], articles[s], drafts[s],
                 attachments[s], quarantined[s], directives[s], **meeting_records[s],
                 **dues[s], **transfers[s], **floating[s])
        for i, s in enumerate(SCOPES)},
        accounts=accounts, self_member=self_member, headers=headers, national_id=national_id)


CHECKIN_CODE = "123456"
PAY_SECRET = "matrix-sandbox-secret-0123"
THIS_MONTH = local_today().replace(day=1)
MONTH = THIS_MONTH.strftime("%Y-%m")
NEXT_MONTH = (THIS_MONTH + dt.timedelta(days=32)).strftime("%Y-%m")
REPORT_MONTH = (THIS_MONTH - dt.timedelta(days=1)).replace(day=1)


def _dues_line(tenant_id: int, member: int, org: int, code: str) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "member_id": member, "org_id": org, "org_code": code,
            "month": THIS_MONTH, "category": "salaried", "base": Decimal("3000"),
            "amount_due": Decimal("15.00"), "rule_version": "cpc-2008", "status": "unpaid"}


def _transfers(tenant: dict[str, int], slugs: dict[int, str],
               branch: dict[str, tuple[int, str]], members: dict[str, int], now: dt.datetime,
               issuer: dict[str, tuple[int, str]]) -> dict[str, dict[str, Any]]:
    """Each scope's transfer rows (see `Scope`), going to the other branch of the tenant
    (three statements for all scopes)."""
    other = {"own": "sibling", "sibling": "own", "other": "other"}
    hashes = dict(db.session.execute(sa.select(Member.id, Member.national_id_hash)
                                     .where(Member.id.in_(list(members.values())))).all())
    rows, to_codes = [], {}
    for s in SCOPES:
        code = branch[s][1]
        to_codes[s] = branch[other[s]][1] if s != "other" else code + "001"
        base = {"tenant_id": tenant[s], "member_id": members[s], "member_name": "党员",
                "org_code": code, "issuer_org_code": issuer[s][1], "from_node": "node-local",
                "from_tenant": slugs[tenant[s]], "from_org_code": code, "from_org_name": "支部",
                "to_node": "node-local", "to_tenant": slugs[tenant[s]],
                "to_org_code": to_codes[s], "to_org_name": "支部", "reason": "工作调动",
                "identity_hash": hashes[members[s]], "auto_approve": False, "created_at": now,
                "updated_at": now}
        letter = {"attempt": 1, "serial": f"{slugs[tenant[s]]}-1", "issued_at": now,
                  "valid_until": now + dt.timedelta(days=30)}
        rows += [{**base, "uid": str(uuid.uuid4()), "side": "out", "state": "applied",
                  "attempt": 0},
                 {**base, **letter, "uid": str(uuid.uuid4()), "side": "in",
                  "state": "delivered", "member_id": None, "to_org_code": code},
                 {**base, **letter, "uid": str(uuid.uuid4()), "side": "out",
                  "state": "rejected", "reason_code": "refused", "reason_text": "有误"},
                 {**base, **letter, "uid": str(uuid.uuid4()), "side": "out",
                  "state": "expired", "valid_until": now - dt.timedelta(days=1)},
                 {**base, **letter, "uid": str(uuid.uuid4()), "side": "out",
                  "state": "issued"}]
    ids = _insert(Transfer, rows)
    out: dict[str, dict[str, Any]] = {}
    approvals = []
    for i, s in enumerate(SCOPES):
        mine = ids[5 * i:5 * i + 5]
        (org, code), common = branch[s], {"tenant_id": tenant[s]}
        approvals += [
            {**common, "transfer_id": mine[0], "attempt": 0, "chain": "send", "position": 0,
             "org_id": org, "org_code": code, "org_name": "支部"},
            {**common, "transfer_id": mine[0], "attempt": 0, "chain": "send", "position": 1,
             "org_id": issuer[s][0], "org_code": issuer[s][1], "org_name": "党委"},
            {**common, "transfer_id": mine[1], "attempt": 1, "chain": "receive",
             "position": 0, "org_id": org, "org_code": code, "org_name": "支部"}]
        out[s] = dict(zip(("transfer", "incoming", "rejected", "expired", "issued"), mine,
                          strict=True)) | {"slug": slugs[tenant[s]], "to_code": to_codes[s]}
    db.session.execute(sa.insert(TransferApproval), approvals)
    return out


def _meeting(tenant_id: int, org: int, code: str, now: dt.datetime,
             state: str) -> dict[str, Any]:
    """A theme day of the branch: open (started 10 minutes ago), held, or submitted."""
    held = state != "open"
    starts = now - (dt.timedelta(days=2) if held else dt.timedelta(minutes=10))
    return {"tenant_id": tenant_id, "org_id": org, "org_code": code,
            "kind": MeetingKind.theme_day, "title": "主题党日", "starts_at": starts,
            "ends_at": starts + dt.timedelta(hours=1, minutes=30), "place": "党员活动室",
            "status": MeetingStatus.held if held else MeetingStatus.scheduled,
            "minutes": "学习党章。" if held else "", "checkin_code": CHECKIN_CODE,
            "review_status": ReviewStatus.submitted if state == "submitted"
            else ReviewStatus.none, "created_at": starts - dt.timedelta(days=7)}


Snapshot = dict[str, dict[str, str]]


#: Every table of the node's database: its own and the federation's (quarantine, inbox, ...).
TABLES = [*NodeModel.metadata.sorted_tables, *FederationModel.metadata.sorted_tables]


def _snapshot_sql() -> str:
    """One UNION ALL over every table: (table, primary key, the whole row as text)."""
    parts = []
    for table in TABLES:
        key = " || '|' || ".join(f"CAST(\"{c.name}\" AS TEXT)"
                                 for c in table.primary_key.columns)
        row = " || '|' || ".join(f"COALESCE(CAST(\"{c.name}\" AS TEXT), '<null>')"
                                 for c in table.columns)
        parts.append(f"SELECT '{table.name}', {key}, {row} FROM \"{table.name}\"")
    return " UNION ALL ".join(parts)


SNAPSHOT_SQL = _snapshot_sql()


def snapshot(connection: sa.Connection) -> Snapshot:
    """Every row of every node table, keyed by primary key, in one round trip."""
    tables: Snapshot = {table.name: {} for table in TABLES}
    for name, key, row in connection.exec_driver_sql(SNAPSHOT_SQL):
        tables[name][key] = row
    return tables


def changed(before: Snapshot, after: Snapshot) -> dict[str, set[str]]:
    """Table -> primary keys (as text) of rows added, removed or modified."""
    diff: dict[str, set[str]] = {}
    for name, rows in after.items():
        old = before.get(name, {})
        keys = {k for k in rows.keys() | old.keys() if rows.get(k) != old.get(k)}
        if keys:
            diff[name] = keys
    return diff


# --- the policy -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outcome:
    statuses: frozenset[int]
    listed: bool | None = None  # for lists: must the target appear in the answer?


Rule = Callable[[str, str], Outcome]  # (principal, scope) -> outcome
Builder = Callable[[Matrix, str, Scope], Any]  # (matrix, principal, target) -> value


@dataclasses.dataclass(frozen=True)
class Entry:
    """How to call one endpoint+method and who may succeed."""

    path: Callable[[Matrix, Scope], str]
    rule: Rule
    success: int = 200
    json: Builder | None = None
    files: Builder | None = None  # multipart: {"field": (bytes, filename)}
    scopes: tuple[str, ...] = SCOPES
    #: Records a successful write must change: (table, primary key or None for "some row").
    effect: Callable[[Matrix, str, Scope], set[tuple[str, Any]]] | None = None
    #: For lists: is the target scope's record in the answer?
    contains: Callable[[Matrix, Scope, Any], bool] | None = None
    public: bool = False


def refused(*statuses: int) -> Outcome:
    return Outcome(frozenset(statuses))


SUCCESS = -1  # placeholder resolved to the entry's success code


def success() -> Outcome:
    return Outcome(frozenset({SUCCESS}))


def public() -> Rule:
    return lambda p, s: success()


def tree_listing() -> Rule:
    """The org tree is public in a tenant: every principal lists it, never another tenant's."""
    return lambda p, s: Outcome(frozenset({SUCCESS}), listed=s != "other")


def tenant_wide() -> Rule:
    """Any principal of the tenant; another tenant's records do not exist."""
    return lambda p, s: refused(404) if s == "other" else success()


def in_reach(role: Role) -> Rule:
    """Records outside the principal's reach for `role` answer 404 (require_reach)."""
    return lambda p, s: success() if reaches(p, s, role) else refused(404)


def structure(role: Role) -> Rule:
    """The org tree is public in a tenant: too weak there is a 403, another tenant a 404."""
    def rule(p: str, s: str) -> Outcome:
        if s == "other":
            return refused(404)
        return success() if reaches(p, s, role) else refused(403)
    return rule


def structure_under(role: Role) -> Rule:
    """Creating under a parent named in the body: another tenant's parent is unknown (422)."""
    def rule(p: str, s: str) -> Outcome:
        if s == "other":
            return refused(422)
        return success() if reaches(p, s, role) else refused(403)
    return rule


def body_reference(role: Role) -> Rule:
    """The target is named in the body: out of reach is refused as unknown (404 or 422)."""
    return lambda p, s: success() if reaches(p, s, role) else Outcome(NOT_FOUND_REF)


def listing(role: Role, *, admins_only: bool = False) -> Rule:
    """Lists filter silently; `admins_only` lists refuse principals with no admin role."""
    def rule(p: str, s: str) -> Outcome:
        if admins_only and p not in ADMINS:
            return refused(403)
        return Outcome(frozenset({SUCCESS}), listed=reaches(p, s, role))
    return rule


def tenant_admins_only() -> Rule:
    """The quarantine: tenant administrators only (403 for anyone else of the tenant, before
    any lookup); a message claiming another tenant does not exist for them (404)."""
    def rule(p: str, s: str) -> Outcome:
        if p != "tenant_admin":
            return refused(403)
        return refused(404) if s == "other" else success()
    return rule


def tenant_admin_listing() -> Rule:
    """The quarantine's list: tenant administrators, their own tenant's messages only."""
    def rule(p: str, s: str) -> Outcome:
        if p != "tenant_admin":
            return refused(403)
        return Outcome(frozenset({SUCCESS}), listed=s != "other")
    return rule


def own_member_only() -> Rule:
    return lambda p, s: success() if p == "member" else refused(404)


def grant_create() -> Rule:
    """Delegation: visible but too strong is 403; an org outside reach is a 422 field error."""
    def rule(p: str, s: str) -> Outcome:
        if reaches(p, s, Role.org_admin):
            return success()
        return refused(403) if reaches(p, s, Role.org_viewer) else refused(422)
    return rule


def member_move() -> Rule:
    """Needs administration of the member's org (else 404) and of the destination (else 422)."""
    def rule(p: str, s: str) -> Outcome:
        if not reaches(p, s, Role.org_admin):
            return refused(404)
        destination = "sibling" if s == "own" else "own"
        return success() if reaches(p, destination, Role.org_admin) else refused(422)
    return rule


def importer() -> Rule:
    """Administrators anywhere may upload; rows for orgs outside reach reject the file (422)."""
    def rule(p: str, s: str) -> Outcome:
        if p not in ADMINS:
            return refused(403)
        return success() if reaches(p, s, Role.org_admin) else refused(422)
    return rule


def _csv(m: Matrix, p: str, t: Scope) -> dict[str, tuple[bytes, str]]:
    row = f"新党员,{m.national_id(10 + SCOPES.index(t.name))},{t.code},applicant"
    return {"file": (f"name,national_id,org_code,stage\n{row}\n".encode(), "members.csv")}


def _items(body: Any) -> list[dict[str, Any]]:
    return body["items"] if isinstance(body, dict) else body


def has_id(attr: str) -> Callable[[Matrix, Scope, Any], bool]:
    return lambda m, t, body: any(item["id"] == getattr(t, attr) for item in _items(body))


def _other_branch(m: Matrix, t: Scope) -> int:
    return m.scopes["sibling" if t.name == "own" else "own"].branch


AUDITED = ("audit_entries", None)


def reads_article(p: str, s: str) -> bool:
    """The target's published members-only article: the member of B1 (its member record is
    in B1) and viewers or stronger with reach read it."""
    return (p == "member" and s == "own") or reaches(p, s, Role.org_viewer)


def article_read() -> Rule:
    return lambda p, s: success() if reads_article(p, s) else refused(404)


def directive_counts() -> Rule:
    """Console users (org_viewer or stronger anywhere) see the counts of their subtrees;
    a plain member may see the directive, not the counts (403)."""
    def rule(p: str, s: str) -> Outcome:
        if s == "other":
            return refused(404)
        return refused(403) if p == "member" else success()
    return rule


def reads_meeting(p: str, s: str) -> bool:
    """The target's open meeting: viewers or stronger with reach, and its invitee (the
    member of B1, for B1's meeting)."""
    return (p == "member" and s == "own") or reaches(p, s, Role.org_viewer)


def meeting_read() -> Rule:
    return lambda p, s: success() if reads_meeting(p, s) else refused(404)


def meeting_listing() -> Rule:
    return lambda p, s: Outcome(frozenset({SUCCESS}), listed=reads_meeting(p, s))


def meeting_write(role: Role = Role.org_admin, *, invited: bool = True) -> Rule:
    """Administrators of the subtree; those who only read the meeting get 403, others 404
    (`invited`: B1's member is invited to the target meeting)."""
    def rule(p: str, s: str) -> Outcome:
        if reaches(p, s, role):
            return success()
        reads = reads_meeting(p, s) if invited else reaches(p, s, Role.org_viewer)
        return refused(403) if reads else refused(404)
    return rule


def meeting_checkin() -> Rule:
    """Invitees only: the member of B1 for B1's meeting; readers not invited get 403."""
    def rule(p: str, s: str) -> Outcome:
        if p == "member" and s == "own":
            return success()
        return refused(403) if reads_meeting(p, s) else refused(404)
    return rule


def meeting_review() -> Rule:
    """Administrators of the committee above the branch (C1 or the root) decide."""
    def rule(p: str, s: str) -> Outcome:
        if s != "other" and p in ("admin_c1", "tenant_admin"):
            return success()
        return refused(403) if reaches(p, s, Role.org_viewer) else refused(404)
    return rule


def _floating(tenant: dict[str, int], slugs: dict[int, str],
              branch: dict[str, tuple[int, str]], members: dict[str, int]
              ) -> dict[str, dict[str, int]]:
    """Each scope's floating certificates (see `Scope`): the host sides have no home row here
    (steps to a missing side are ignored, as the carrier allows)."""
    today = dt.date.today()
    out: dict[str, dict[str, int]] = {}
    for s in SCOPES:
        code = branch[s][1]
        base = {"tenant_id": tenant[s], "number": f"{code}-LD-1", "member_name": "党员",
                "member_number": "1", "member_stage": "full", "home_tenant_slug": slugs[tenant[s]],
                "home_org_code": code, "home_org_name": "支部",
                "host_tenant_slug": slugs[tenant[s]], "host_tenant_name": "单位",
                "host_org_code": code, "host_org_name": "支部",
                "starts_on": today - dt.timedelta(days=30), "until": today + dt.timedelta(days=90),
                "reason": "外出务工", "org_code": code}
        ids = _insert(FloatingCertificate, [
            {**base, "uid": str(uuid.uuid4()), "side": "home", "status": "pending",
             "member_id": members[s]},
            {**base, "uid": str(uuid.uuid4()), "side": "host", "status": "pending"},
            {**base, "uid": str(uuid.uuid4()), "side": "host", "status": "active",
             "number": f"{code}-LD-2"}])
        out[s] = dict(zip(("floating", "hosted", "hosting"), ids, strict=True))
    return out


def transfer_write() -> Rule:
    """A transfer's step of the target branch: its administrators (and those above) decide;
    those who only read it get 403, others 404."""
    def rule(p: str, s: str) -> Outcome:
        if reaches(p, s, Role.org_admin):
            return success()
        return refused(403) if reaches(p, s, Role.org_viewer) else refused(404)
    return rule


def _linked_member(t: Scope) -> int:
    """The full member of the target branch linked to the scope's account (may transfer)."""
    with all_tenants():
        member = db.session.scalar(sa.select(Account.member_id).where(Account.id == t.account))
    db.session.remove()
    assert member is not None
    return int(member)


def article_listing() -> Rule:
    return lambda p, s: Outcome(frozenset({SUCCESS}), listed=reads_article(p, s))

POLICY: dict[tuple[str, str], Entry] = {
    # public
    ("meta.Version", "GET"): Entry(lambda m, t: "/api/version", public(), public=True),
    ("api-docs.openapi_json", "GET"): Entry(lambda m, t: "/api/openapi.json", public(),
                                            public=True),
    ("api-docs.openapi_swagger_ui", "GET"): Entry(lambda m, t: "/api/docs", public(),
                                                  public=True),
    ("vendor", "GET"): Entry(lambda m, t: "/api/vendor/swagger-ui/swagger-ui.css", public(),
                             public=True),
    # orgs: the tree is public inside a tenant; tenant administrators maintain it
    ("orgs.Orgs", "GET"): Entry(
        lambda m, t: "/api/orgs?limit=200", tree_listing(), contains=has_id("branch")),
    ("orgs.Orgs", "POST"): Entry(
        lambda m, t: "/api/orgs", structure_under(Role.tenant_admin), success=201,
        json=lambda m, p, t: {"parent_id": t.branch, "kind": "group", "name": "新党小组"},
        effect=lambda m, p, t: {("orgs", t.branch), AUDITED}),
    ("orgs.OrgById", "GET"): Entry(lambda m, t: f"/api/orgs/{t.branch}", tenant_wide()),
    ("orgs.OrgById", "PATCH"): Entry(
        lambda m, t: f"/api/orgs/{t.branch}", structure(Role.tenant_admin),
        json=lambda m, p, t: {"name": "改名的支部"},
        effect=lambda m, p, t: {("orgs", t.branch), AUDITED}),
    ("orgs.OrgMove", "POST"): Entry(
        lambda m, t: f"/api/orgs/{t.branch}/move", structure(Role.tenant_admin),
        json=lambda m, p, t: {"new_parent_id": m.root, "reason": "restructuring"},
        effect=lambda m, p, t: {("orgs", t.branch), ("org_moves", None), AUDITED}),
    ("orgs.OrgDissolve", "POST"): Entry(
        lambda m, t: f"/api/orgs/{t.group}/dissolve", structure(Role.tenant_admin),
        json=lambda m, p, t: {"dissolved_on": TODAY},
        effect=lambda m, p, t: {("orgs", t.group), AUDITED}),
    ("orgs.Officers", "GET"): Entry(lambda m, t: f"/api/orgs/{t.branch}/officers",
                                    tenant_wide()),
    ("orgs.Officers", "POST"): Entry(
        lambda m, t: f"/api/orgs/{t.branch}/officers", structure(Role.org_admin), success=201,
        json=lambda m, p, t: {"name": "宣传委员", "position": "propaganda",
                              "term_start": "2024-01-01"},
        effect=lambda m, p, t: {("org_officers", None), AUDITED}),
    ("orgs.OfficerEnd", "POST"): Entry(
        lambda m, t: f"/api/orgs/{t.branch}/officers/{t.officer}/end",
        structure(Role.org_admin), json=lambda m, p, t: {"term_end": TODAY},
        effect=lambda m, p, t: {("org_officers", t.officer), AUDITED}),
    # members: viewers read their subtrees, administrators maintain them
    ("members.Members", "GET"): Entry(
        lambda m, t: "/api/members?limit=200", listing(Role.org_viewer),
        contains=has_id("member")),
    ("members.Members", "POST"): Entry(
        lambda m, t: "/api/members", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"org_id": t.branch, "name": "新党员",
                              "national_id": m.national_id(SCOPES.index(t.name)),
                              "stage": "applicant"},
        effect=lambda m, p, t: {("members", None), ("member_stage_changes", None), AUDITED}),
    ("members.MemberById", "GET"): Entry(lambda m, t: f"/api/members/{t.member}",
                                         in_reach(Role.org_viewer)),
    ("members.MemberById", "PATCH"): Entry(
        lambda m, t: f"/api/members/{t.member}", in_reach(Role.org_admin),
        json=lambda m, p, t: {"occupation": "教师"},
        effect=lambda m, p, t: {("members", t.member), AUDITED}),
    ("members.MemberCard", "GET"): Entry(lambda m, t: f"/api/members/{t.member}/card",
                                         in_reach(Role.org_viewer)),
    ("members.MemberStage", "POST"): Entry(
        lambda m, t: f"/api/members/{t.member}/stage", in_reach(Role.org_admin),
        json=lambda m, p, t: {"to_stage": "activist", "effective_on": TODAY},
        effect=lambda m, p, t: {("members", t.member), ("member_stage_changes", None),
                                AUDITED}),
    ("members.MemberStatus", "POST"): Entry(
        lambda m, t: f"/api/members/{t.member}/status", in_reach(Role.org_admin),
        json=lambda m, p, t: {"to_status": "floating", "effective_on": TODAY},
        effect=lambda m, p, t: {("members", t.member), ("member_status_changes", None),
                                AUDITED}),
    ("members.MemberMove", "POST"): Entry(
        lambda m, t: f"/api/members/{t.member}/move", member_move(),
        json=lambda m, p, t: {"to_org_id": _other_branch(m, t), "effective_on": TODAY},
        effect=lambda m, p, t: {("members", t.member), ("member_org_changes", None),
                                AUDITED}),
    ("members.MemberNationalId", "POST"): Entry(
        lambda m, t: f"/api/members/{t.member}/national-id", in_reach(Role.org_admin),
        effect=lambda m, p, t: {AUDITED}),
    # the signed-in principal
    ("me_account.Me", "GET"): Entry(lambda m, t: "/api/me", lambda p, s: success(),
                                    scopes=("self",)),
    ("me_account.MyPassword", "POST"): Entry(
        lambda m, t: "/api/me/password", lambda p, s: success(), success=204, scopes=("self",),
        json=lambda m, p, t: {"current_password": PASSWORD,
                              "new_password": "another-horse-2"},
        effect=lambda m, p, t: {("accounts", m.accounts[p])}),
    ("me.MyMember", "GET"): Entry(lambda m, t: "/api/me/member", own_member_only(),
                                  scopes=("self",)),
    ("me.MyMember", "PATCH"): Entry(
        lambda m, t: "/api/me/member", own_member_only(), scopes=("self",),
        json=lambda m, p, t: {"phone": "13800000000"},
        effect=lambda m, p, t: {("members", m.self_member), AUDITED}),
    ("me.MyCard", "GET"): Entry(lambda m, t: "/api/me/card", own_member_only(),
                                scopes=("self",)),
    # accounts: tenant administrators all, org administrators their members' logins
    ("accounts.Accounts", "GET"): Entry(
        lambda m, t: "/api/accounts", listing(Role.org_admin, admins_only=True),
        contains=has_id("account")),
    ("accounts.Accounts", "POST"): Entry(
        lambda m, t: "/api/accounts", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"username": f"new-{t.name}", "display_name": "新用户",
                              "password": "long-password-1", "member_id": t.member},
        effect=lambda m, p, t: {("accounts", None), AUDITED}),
    ("accounts.AccountById", "GET"): Entry(lambda m, t: f"/api/accounts/{t.account}",
                                           in_reach(Role.org_admin)),
    ("accounts.AccountById", "PATCH"): Entry(
        lambda m, t: f"/api/accounts/{t.account}", in_reach(Role.org_admin),
        json=lambda m, p, t: {"is_active": False},
        effect=lambda m, p, t: {("accounts", t.account), AUDITED}),
    # grants: delegation level by level
    ("grants.Grants", "GET"): Entry(
        lambda m, t: "/api/grants", listing(Role.org_admin), contains=has_id("grant")),
    ("grants.Grants", "POST"): Entry(
        lambda m, t: "/api/grants", grant_create(), success=201,
        json=lambda m, p, t: {"account_id": t.account, "role": "org_admin",
                              "org_id": t.branch},
        effect=lambda m, p, t: {("grants", None), AUDITED}),
    ("grants.GrantById", "GET"): Entry(lambda m, t: f"/api/grants/{t.grant}",
                                       in_reach(Role.org_admin)),
    ("grants.GrantById", "DELETE"): Entry(
        lambda m, t: f"/api/grants/{t.grant}", in_reach(Role.org_admin), success=204,
        effect=lambda m, p, t: {("grants", t.grant), AUDITED}),
    # imports: administrators anywhere, each row checked against their reach
    ("imports.MemberImports", "POST"): Entry(
        lambda m, t: "/api/imports/members", importer(), files=_csv,
        effect=lambda m, p, t: {("members", None), ("member_stage_changes", None), AUDITED}),
    # articles: visibility decides who reads; administrators of the org's subtree write
    ("articles.Articles", "GET"): Entry(
        lambda m, t: "/api/articles?limit=200", article_listing(), contains=has_id("article")),
    ("articles.Articles", "POST"): Entry(
        lambda m, t: "/api/articles", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"org_id": t.branch, "kind": "notice", "title": "新通知",
                              "visibility": "members"},
        effect=lambda m, p, t: {("articles", None), AUDITED}),
    ("articles.ArticleById", "GET"): Entry(lambda m, t: f"/api/articles/{t.article}",
                                           article_read()),
    ("articles.ArticleById", "PATCH"): Entry(
        lambda m, t: f"/api/articles/{t.article}", in_reach(Role.org_admin),
        json=lambda m, p, t: {"title": "改过的标题"},
        effect=lambda m, p, t: {("articles", t.article), AUDITED}),
    ("articles.ArticlePublish", "POST"): Entry(
        lambda m, t: f"/api/articles/{t.draft}/publish", in_reach(Role.org_admin),
        effect=lambda m, p, t: {("articles", t.draft), AUDITED}),
    ("articles.ArticleWithdraw", "POST"): Entry(
        lambda m, t: f"/api/articles/{t.article}/withdraw", in_reach(Role.org_admin),
        json=lambda m, p, t: {"reason": "过期"},
        effect=lambda m, p, t: {("articles", t.article), AUDITED}),
    ("articles.ArticleViews", "POST"): Entry(
        lambda m, t: f"/api/articles/{t.article}/views", article_read(),
        effect=lambda m, p, t: {("articles", t.article)}),
    ("articles.ArticleLike", "PUT"): Entry(
        lambda m, t: f"/api/articles/{t.article}/like", article_read(),
        effect=lambda m, p, t: {("articles", t.article), ("article_likes", None)}),
    ("articles.ArticleLike", "DELETE"): Entry(
        lambda m, t: f"/api/articles/{t.article}/like", article_read(), success=204),
    ("articles.ArticleAttachments", "POST"): Entry(
        lambda m, t: f"/api/articles/{t.draft}/attachments", in_reach(Role.org_admin),
        success=201, files=lambda m, p, t: {"file": (b"new file", "note.txt")},
        effect=lambda m, p, t: {("article_attachments", None)}),
    ("articles.AttachmentById", "GET"): Entry(
        lambda m, t: f"/api/articles/{t.article}/attachments/{t.attachment}", article_read()),
    # the quarantine: tenant administrators, messages claiming their own tenant
    ("quarantine.QuarantineEntries", "GET"): Entry(
        lambda m, t: "/api/federation/quarantine?limit=200", tenant_admin_listing(),
        contains=has_id("quarantined")),
    ("quarantine.QuarantineEntryById", "GET"): Entry(
        lambda m, t: f"/api/federation/quarantine/{t.quarantined}", tenant_admins_only()),
    ("quarantine.QuarantineRelease", "POST"): Entry(
        lambda m, t: f"/api/federation/quarantine/{t.quarantined}/release",
        tenant_admins_only(), json=lambda m, p, t: {"note": "checked"},
        effect=lambda m, p, t: {("fed_quarantine", t.quarantined), AUDITED}),
    ("quarantine.QuarantineDiscard", "POST"): Entry(
        lambda m, t: f"/api/federation/quarantine/{t.quarantined}/discard",
        tenant_admins_only(), json=lambda m, p, t: {"note": "not ours"},
        effect=lambda m, p, t: {("fed_quarantine", t.quarantined), AUDITED}),
    # directives from the hub: for every account of the tenant (audience all); the counts
    # for secretaries and viewers
    ("directives.Directives", "GET"): Entry(
        lambda m, t: "/api/directives?limit=200", tree_listing(), contains=has_id("directive")),
    ("directives.DirectiveById", "GET"): Entry(lambda m, t: f"/api/directives/{t.directive}",
                                               tenant_wide()),
    ("directives.DirectiveRead", "POST"): Entry(
        lambda m, t: f"/api/directives/{t.directive}/read", tenant_wide(),
        effect=lambda m, p, t: {("directive_reads", None)}),
    ("directives.DirectiveComplete", "POST"): Entry(
        lambda m, t: f"/api/directives/{t.directive}/complete", tenant_wide(),
        effect=lambda m, p, t: {("directive_reads", None)}),
    ("directives.DirectiveCounts", "GET"): Entry(
        lambda m, t: f"/api/directives/{t.directive}/counts", directive_counts()),
    # meetings: viewers read their subtrees' and invitees theirs; administrators keep them;
    # the committee above reviews (tenant A reviews meetings)
    ("meetings.Meetings", "GET"): Entry(
        lambda m, t: "/api/meetings?limit=200", meeting_listing(), contains=has_id("meeting")),
    ("meetings.Meetings", "POST"): Entry(
        lambda m, t: "/api/meetings", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"org_id": t.branch, "kind": "member_assembly",
                              "title": "支部党员大会", "place": "会议室",
                              "starts_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
                              .isoformat(),
                              "ends_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1,
                                                                                 hours=2))
                              .isoformat()},
        effect=lambda m, p, t: {("meetings", None), ("meeting_attendance", None), AUDITED}),
    ("meetings.MeetingById", "GET"): Entry(lambda m, t: f"/api/meetings/{t.meeting}",
                                           meeting_read()),
    ("meetings.MeetingById", "PATCH"): Entry(
        lambda m, t: f"/api/meetings/{t.meeting}", meeting_write(),
        json=lambda m, p, t: {"place": "新会议室"},
        effect=lambda m, p, t: {("meetings", t.meeting), AUDITED}),
    ("meetings.MeetingHeld", "POST"): Entry(
        lambda m, t: f"/api/meetings/{t.meeting}/held", meeting_write(),
        effect=lambda m, p, t: {("meetings", t.meeting), AUDITED}),
    ("meetings.MeetingCancel", "POST"): Entry(
        lambda m, t: f"/api/meetings/{t.meeting}/cancel", meeting_write(),
        json=lambda m, p, t: {"reason": "改期"},
        effect=lambda m, p, t: {("meetings", t.meeting), AUDITED}),
    ("meetings.MeetingAttendance", "GET"): Entry(
        lambda m, t: f"/api/meetings/{t.meeting}/attendance", meeting_write(Role.org_viewer)),
    ("meetings.MeetingAttendanceMark", "PUT"): Entry(
        lambda m, t: f"/api/meetings/{t.meeting}/attendance/{t.member}", meeting_write(),
        json=lambda m, p, t: {"status": "excused", "reason": "出差"},
        effect=lambda m, p, t: {("meeting_attendance", None), AUDITED}),
    ("meetings.MeetingCheckin", "POST"): Entry(
        lambda m, t: f"/api/meetings/{t.meeting}/checkin", meeting_checkin(),
        json=lambda m, p, t: {"code": CHECKIN_CODE},
        effect=lambda m, p, t: {("meeting_attendance", None)}),
    ("meetings.MeetingSubmit", "POST"): Entry(
        lambda m, t: f"/api/meetings/{t.held_meeting}/submit", meeting_write(invited=False),
        effect=lambda m, p, t: {("meetings", t.held_meeting), AUDITED}),
    ("meetings.MeetingApprove", "POST"): Entry(
        lambda m, t: f"/api/meetings/{t.submitted}/approve", meeting_review(),
        effect=lambda m, p, t: {("meetings", t.submitted), AUDITED}),
    ("meetings.MeetingReturn", "POST"): Entry(
        lambda m, t: f"/api/meetings/{t.submitted}/return", meeting_review(),
        json=lambda m, p, t: {"reason": "补充记录"},
        effect=lambda m, p, t: {("meetings", t.submitted), AUDITED}),
    ("meetings.MeetingAttachments", "POST"): Entry(
        lambda m, t: f"/api/meetings/{t.meeting}/attachments", meeting_write(),
        success=201, files=lambda m, p, t: {"file": (b"sign-in sheet", "sheet.txt")},
        effect=lambda m, p, t: {("meeting_attachments", None)}),
    ("meetings.MeetingAttachmentById", "GET"): Entry(
        lambda m, t: f"/api/meetings/{t.meeting}/attachments/{t.meeting_file}",
        meeting_read()),
    ("meetings.MeetingCompliance", "GET"): Entry(
        lambda m, t: f"/api/meetings/compliance?org_id={t.branch}", structure_under(
            Role.org_viewer)),
    ("me_meetings.MyMeetings", "GET"): Entry(lambda m, t: "/api/me/meetings",
                                             own_member_only(), scopes=("self",)),
    # audit: administrators, scoped to their subtrees
    # dues: viewers read their subtrees', administrators collect and close, the committee
    # above decides hardship; members read and pay their own; the provider calls back signed
    ("dues.Lines", "GET"): Entry(
        lambda m, t: "/api/dues/lines?limit=200", listing(Role.org_viewer),
        contains=has_id("dues_line")),
    ("dues.MemberDues", "GET"): Entry(lambda m, t: f"/api/dues/members/{t.member}",
                                      in_reach(Role.org_viewer)),
    ("dues.MemberAssessment", "PUT"): Entry(
        lambda m, t: f"/api/dues/members/{t.member}/assessment", in_reach(Role.org_admin),
        json=lambda m, p, t: {"year": THIS_MONTH.year, "category": "student"},
        effect=lambda m, p, t: {("dues_assessments", None), ("dues_lines", t.dues_line),
                                AUDITED}),
    ("dues.Generate", "POST"): Entry(
        lambda m, t: "/api/dues/generate", body_reference(Role.org_admin),
        json=lambda m, p, t: {"org_id": t.branch, "year": THIS_MONTH.year},
        effect=lambda m, p, t: {AUDITED}),
    ("dues.Payments", "POST"): Entry(
        lambda m, t: "/api/dues/payments", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"member_id": t.member, "months": [MONTH], "method": "cash"},
        effect=lambda m, p, t: {("dues_payments", None), ("dues_lines", t.dues_line),
                                AUDITED}),
    ("dues.LargePayments", "POST"): Entry(
        lambda m, t: "/api/dues/large-payments", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"member_id": t.member, "amount": "1000.00",
                              "method": "bank_transfer"},
        effect=lambda m, p, t: {("dues_payments", None), AUDITED}),
    ("dues.Close", "POST"): Entry(
        lambda m, t: "/api/dues/close", body_reference(Role.org_admin),
        json=lambda m, p, t: {"org_id": t.branch, "month": MONTH},
        effect=lambda m, p, t: {("dues_months", None), AUDITED}),
    ("dues.Totals", "GET"): Entry(
        lambda m, t: f"/api/dues/totals?org_id={t.branch}&month={MONTH}",
        in_reach(Role.org_viewer)),
    ("dues.Reductions", "POST"): Entry(
        lambda m, t: "/api/dues/reductions", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"member_id": t.member, "kind": "exempt", "from_month": MONTH,
                              "to_month": MONTH, "reason": "重病"},
        effect=lambda m, p, t: {("dues_reductions", None), AUDITED}),
    ("dues.ReductionDecision", "POST"): Entry(
        lambda m, t: f"/api/dues/reductions/{t.reduction}/decision", meeting_review(),
        json=lambda m, p, t: {"approve": True, "note": "同意"},
        effect=lambda m, p, t: {("dues_reductions", t.reduction), ("dues_lines", t.dues_line),
                                AUDITED}),
    ("dues.Consents", "POST"): Entry(
        lambda m, t: "/api/dues/consents", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"member_id": t.member, "payer_member_id": m.self_member},
        effect=lambda m, p, t: {("dues_consents", None), AUDITED}),
    ("dues.MemberAheadConsent", "PUT"): Entry(
        lambda m, t: f"/api/dues/members/{t.member}/ahead-consent", in_reach(Role.org_admin),
        json=lambda m, p, t: {"through_month": NEXT_MONTH},
        effect=lambda m, p, t: {("dues_ahead_consents", None), AUDITED}),
    ("dues.MemberAheadConsent", "DELETE"): Entry(  # nothing to revoke: 204, no change
        lambda m, t: f"/api/dues/members/{t.member}/ahead-consent", in_reach(Role.org_admin),
        success=204),
    ("dues.Callback", "POST"): Entry(
        lambda m, t: "/api/dues/callbacks/sandbox", lambda p, s: refused(403), public=True,
        json=lambda m, p, t: {"order": "x", "txn_id": "y", "amount": "15.00",
                              "status": "success"}),
    ("me_dues.MyDues", "GET"): Entry(lambda m, t: "/api/me/dues", own_member_only(),
                                     scopes=("self",)),
    ("me_dues.MyCheckout", "POST"): Entry(
        lambda m, t: "/api/me/dues/checkout", own_member_only(), success=201,
        scopes=("self",), json=lambda m, p, t: {"months": [MONTH]},
        effect=lambda m, p, t: {("dues_orders", None), ("dues_order_lines", None)}),
    # monthly reports: members read their own; viewers and administrators of the member's
    # branch read the member's
    ("me_reports.MyReports", "GET"): Entry(lambda m, t: "/api/me/reports", own_member_only(),
                                           scopes=("self",)),
    ("me_reports.MyReport", "GET"): Entry(
        lambda m, t: f"/api/me/reports/{REPORT_MONTH:%Y-%m}", own_member_only(),
        scopes=("self",)),
    ("reports.MemberReports", "GET"): Entry(lambda m, t: f"/api/reports/members/{t.member}",
                                            in_reach(Role.org_viewer)),
    ("reports.MemberReport", "GET"): Entry(
        lambda m, t: f"/api/reports/members/{t.member}/{REPORT_MONTH:%Y-%m}",
        in_reach(Role.org_viewer)),
    # transfers: viewers read their subtrees' sides (members their own applications); the
    # administrators of the org whose step is due decide it; the issuing committee (the one
    # above the branch) acts on letters
    ("transfers.Transfers", "GET"): Entry(
        lambda m, t: "/api/transfers?limit=200", listing(Role.org_viewer),
        contains=has_id("transfer")),
    ("transfers.Transfers", "POST"): Entry(
        lambda m, t: "/api/transfers", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"member_id": _linked_member(t), "to_tenant": t.slug,
                              "to_org_code": t.to_code, "reason": "工作调动"},
        effect=lambda m, p, t: {("transfers", None), ("transfer_approvals", None),
                                ("transfer_events", None), AUDITED}),
    ("transfers.TransferDestinations", "GET"): Entry(
        lambda m, t: "/api/transfers/destinations", lambda p, s: success(), scopes=("self",)),
    ("transfers.TransferById", "GET"): Entry(lambda m, t: f"/api/transfers/{t.transfer}",
                                             in_reach(Role.org_viewer)),
    ("transfers.TransferApprove", "POST"): Entry(
        lambda m, t: f"/api/transfers/{t.transfer}/approve", transfer_write(),
        json=lambda m, p, t: {"note": "同意"},
        effect=lambda m, p, t: {("transfers", t.transfer), ("transfer_approvals", None),
                                ("transfer_events", None), AUDITED}),
    ("transfers.TransferReject", "POST"): Entry(
        lambda m, t: f"/api/transfers/{t.transfer}/reject", transfer_write(),
        json=lambda m, p, t: {"reason": "材料不全"},
        effect=lambda m, p, t: {("transfers", t.transfer), ("transfer_approvals", None),
                                ("transfer_events", None), AUDITED}),
    ("transfers.TransferCancel", "POST"): Entry(
        lambda m, t: f"/api/transfers/{t.transfer}/cancel", transfer_write(),
        json=lambda m, p, t: {"reason": "撤回"},
        effect=lambda m, p, t: {("transfers", t.transfer), ("transfer_events", None),
                                AUDITED}),
    ("transfers.TransferAssign", "POST"): Entry(
        lambda m, t: f"/api/transfers/{t.incoming}/assign", transfer_write(),
        json=lambda m, p, t: {"org_id": t.branch},
        effect=lambda m, p, t: {("transfers", t.incoming), ("transfer_events", None),
                                AUDITED}),
    ("transfers.TransferResend", "POST"): Entry(
        lambda m, t: f"/api/transfers/{t.rejected}/resend", meeting_review(),
        json=lambda m, p, t: {},
        effect=lambda m, p, t: {("transfers", t.rejected), ("transfer_events", None),
                                AUDITED}),
    ("transfers.TransferReissue", "POST"): Entry(
        lambda m, t: f"/api/transfers/{t.expired}/reissue", meeting_review(),
        effect=lambda m, p, t: {("transfers", t.expired), ("transfer_events", None),
                                AUDITED}),
    ("transfers.TransferVoid", "POST"): Entry(
        lambda m, t: f"/api/transfers/{t.issued}/void", meeting_review(),
        json=lambda m, p, t: {"note": "遗失"},
        effect=lambda m, p, t: {("transfers", t.issued), ("transfer_serials", None),
                                ("transfer_events", None), AUDITED}),
    # floating certificates: viewers read their subtrees' (either side); the member's
    # administrators issue, the host branch's administrators accept, decline and record
    ("floating.Certificates", "GET"): Entry(
        lambda m, t: "/api/floating?limit=200", listing(Role.org_viewer),
        contains=has_id("floating")),
    ("floating.Certificates", "POST"): Entry(
        lambda m, t: "/api/floating", body_reference(Role.org_admin), success=201,
        json=lambda m, p, t: {"member_id": _linked_member(t), "host_tenant": t.slug,
                              "host_org_code": t.to_code, "starts_on": TODAY,
                              "until": (dt.date.today() + dt.timedelta(days=90)).isoformat(),
                              "reason": "外出务工"},
        effect=lambda m, p, t: {("floating_certificates", None), AUDITED}),
    ("floating.CertificateById", "GET"): Entry(lambda m, t: f"/api/floating/{t.floating}",
                                               in_reach(Role.org_viewer)),
    ("floating.CertificateAccept", "POST"): Entry(
        lambda m, t: f"/api/floating/{t.hosted}/accept", transfer_write(),
        effect=lambda m, p, t: {("floating_certificates", t.hosted), AUDITED}),
    ("floating.CertificateDecline", "POST"): Entry(
        lambda m, t: f"/api/floating/{t.hosted}/decline", transfer_write(),
        json=lambda m, p, t: {"reason": "不在本地"},
        effect=lambda m, p, t: {("floating_certificates", t.hosted), AUDITED}),
    ("floating.CertificateEnd", "POST"): Entry(
        lambda m, t: f"/api/floating/{t.hosting}/end", transfer_write(),
        json=lambda m, p, t: {},
        effect=lambda m, p, t: {("floating_certificates", t.hosting), AUDITED}),
    ("floating.CertificateParticipation", "POST"): Entry(
        lambda m, t: f"/api/floating/{t.hosting}/participation", transfer_write(),
        json=lambda m, p, t: {"meeting_id": t.held_meeting, "status": "present"},
        effect=lambda m, p, t: {("floating_participations", None)}),
    ("me_floating.MyCertificates", "GET"): Entry(lambda m, t: "/api/me/floating",
                                                 own_member_only(), scopes=("self",)),
    ("audit.AuditEntries", "GET"): Entry(
        lambda m, t: f"/api/audit?entity_type=member&entity_id={t.member}",
        listing(Role.org_admin, admins_only=True),
        contains=lambda m, t, body: bool(body["items"])),
}

#: Cells where the services disagree with the policy: strict xfails, so a fix shows up as
#: XPASS and the entry must be removed. Each names its finding in the report. (F1, org
#: structure changes refused with 404 instead of 403, was fixed in f82d8a4.)
KNOWN_DEVIATIONS: dict[str, str] = {}


# --- the cells ------------------------------------------------------------------------------


def _route_map() -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) for every /api route of a freshly built app."""
    settings = NodeSettings(database_url="sqlite://", secret_key="collect-only-secret-key",
                            pii_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                            identity_hash_key="test-identity-hash-key")
    app = create_app(settings)
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule == "/api" or rule.rule.startswith("/api/"):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((rule.endpoint, method, rule.rule))
    return sorted(routes)


ROUTES = _route_map()


def _cells() -> Iterator[Any]:
    for endpoint, method, rule in ROUTES:
        entry = POLICY.get((endpoint, method))
        if entry is None:
            yield pytest.param(endpoint, method, rule, "-", "-",
                               id=f"{endpoint}-{method}-unclassified")
            continue
        outsiders = ("anonymous", "bad_token") if entry.public else (
            "anonymous", "bad_token", "wrong_scope")
        for principal in outsiders:
            scope = entry.scopes[0]
            yield pytest.param(endpoint, method, rule, principal, scope,
                               id=f"{endpoint}-{method}-{principal}-{scope}")
        if entry.public:
            continue
        for principal in TENANT_PRINCIPALS:
            for scope in entry.scopes:
                cell = f"{endpoint}-{method}-{principal}-{scope}"
                marks = ([pytest.mark.xfail(reason=KNOWN_DEVIATIONS[cell], strict=True)]
                         if cell in KNOWN_DEVIATIONS else [])
                yield pytest.param(endpoint, method, rule, principal, scope, id=cell,
                                   marks=marks)


def expected(entry: Entry, principal: str, scope: str) -> Outcome:
    if principal in ("anonymous", "bad_token") and not entry.public:
        return refused(401)
    if principal == "wrong_scope":
        return refused(403)
    outcome = entry.rule(principal, "other" if scope == "other" else scope)
    statuses = frozenset(entry.success if s == SUCCESS else s for s in outcome.statuses)
    return dataclasses.replace(outcome, statuses=statuses)


@pytest.mark.parametrize(("endpoint", "method", "rule", "principal", "scope"), list(_cells()))
def test_cell(endpoint: str, method: str, rule: str, principal: str, scope: str,
              matrix: Matrix, client: Any, connection: sa.Connection) -> None:
    entry = POLICY.get((endpoint, method))
    if entry is None:
        pytest.fail(f"{method} {rule} (endpoint {endpoint!r}) has no entry in POLICY of "
                    f"tests/node/test_authz_matrix.py: classify who may call it and how to "
                    f"build its request.")
    target = matrix.scopes.get(scope, matrix.scopes["own"])
    want = expected(entry, principal, scope)
    kwargs: dict[str, Any] = {"headers": matrix.headers_for(principal, method)}
    if entry.json is not None:
        kwargs["json"] = entry.json(matrix, principal, target)
    if entry.files is not None:
        kwargs["data"] = {name: (io.BytesIO(content), filename) for name, (content, filename)
                          in entry.files(matrix, principal, target).items()}
        kwargs["content_type"] = "multipart/form-data"
    before = snapshot(connection)
    response = client.open(entry.path(matrix, target), method=method, **kwargs)
    diff = changed(before, snapshot(connection))

    assert response.status_code in want.statuses, (
        f"{method} {entry.path(matrix, target)} as {principal} on the {scope} target: "
        f"expected {sorted(want.statuses)}, got {response.status_code}: "
        f"{response.get_data(as_text=True)[:300]}")
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.json["status"] == response.status_code
    if response.status_code == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    if want.listed is not None:
        assert entry.contains is not None
        assert entry.contains(matrix, target, response.json) is want.listed, (
            f"the {scope} record {'should' if want.listed else 'should not'} be listed "
            f"for {principal}")
    if response.status_code < 300 and entry.effect is not None:
        missing = {(table, key) for table, key in entry.effect(matrix, principal, target)
                   if table not in diff or (key is not None and str(key) not in diff[table])}
        assert not missing, f"a successful {method} did not change {missing}; diff: {diff}"
    else:
        assert not diff, f"{method} as {principal} answered {response.status_code} but " \
                         f"changed {diff}"


def test_every_api_route_is_classified() -> None:
    """New endpoints must get a policy entry; entries for removed endpoints must go."""
    routes = {(endpoint, method) for endpoint, method, _ in ROUTES}
    missing = sorted(f"{m} {r} ({e})" for e, m, r in ROUTES if (e, m) not in POLICY)
    stale = sorted(f"{m} {e}" for e, m in POLICY.keys() - routes)
    assert not missing, "unclassified /api routes, add them to POLICY: " + ", ".join(missing)
    assert not stale, "POLICY entries for routes that no longer exist: " + ", ".join(stale)


def test_the_route_map_is_read_from_the_real_app(app: Flask) -> None:
    """The collection-time app and the test app expose the same /api routes."""
    live = sorted(
        (rule.endpoint, method, rule.rule) for rule in app.url_map.iter_rules()
        if rule.rule == "/api" or rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"})
    assert live == ROUTES


# --- delegation beyond the matrix ------------------------------------------------------------


def _add_grant(account: int, role: Role, org: int, code: str) -> int:
    with all_tenants():
        tenant = db.session.scalar(sa.select(Account.tenant_id).where(Account.id == account))
        (grant,) = _insert(Grant, [{"account_id": account, "role": role, "org_id": org,
                                    "org_code": code, "tenant_id": tenant}])
        db.session.commit()
    db.session.remove()
    return grant


def _org_code(org: int) -> str:
    with all_tenants():
        code = db.session.scalar(sa.select(Org.code).where(Org.id == org))
    db.session.remove()
    assert code is not None
    return code


@pytest.mark.parametrize(("principal", "role", "org", "status"), [
    ("admin_b1", "tenant_admin", "own", 403),  # visible, but stronger than one's own role
    ("admin_b1", "org_admin", "c1", 422),  # above one's own scope: the org is unknown there
    ("admin_b1", "org_viewer", "sibling", 422),  # beside one's own scope
    ("viewer_b1", "org_viewer", "own", 403),  # viewers do not delegate
    ("admin_c1", "org_admin", "c1", 201),  # one's own role at one's own level
    ("admin_c1", "org_viewer", "sibling", 201),  # a weaker role lower down
])
def test_grants_flow_down_level_by_level(matrix: Matrix, client: Any, principal: str,
                                         role: str, org: str, status: int) -> None:
    org_id = matrix.scopes[org].branch if org in matrix.scopes else _parent(matrix)
    target = matrix.accounts["member"]  # an account with no grants yet
    r = client.post("/api/grants", headers=matrix.headers[principal],
                    json={"account_id": target, "role": role, "org_id": org_id})
    assert r.status_code == status, r.json
    listed = client.get(f"/api/grants?account_id={target}",
                        headers=matrix.headers["tenant_admin"]).json["items"]
    assert any(g["role"] == role and g["org_id"] == org_id for g in listed) is (status == 201)
    if status == 422:
        assert "org_id" in r.json["errors"]


def _parent(matrix: Matrix) -> int:
    """C1, the committee above B1 and B2."""
    with all_tenants():
        parent = db.session.scalar(sa.select(Org.parent_id).where(
            Org.id == matrix.scopes["own"].branch))
    db.session.remove()
    assert parent is not None
    return parent


@pytest.mark.parametrize(("principal", "status"), [
    ("admin_b1", 403),  # visible (inside B1) but stronger than org_admin
    ("admin_c1", 403),
    ("viewer_b1", 404),  # a viewer administers nothing, so sees only its own grants
    ("tenant_admin", 204),
])
def test_revoking_a_stronger_grant_is_refused(matrix: Matrix, client: Any, principal: str,
                                              status: int) -> None:
    own = matrix.scopes["own"]
    grant = _add_grant(own.account, Role.tenant_admin, own.branch, own.code)
    r = client.delete(f"/api/grants/{grant}", headers=matrix.headers[principal])
    assert r.status_code == status
    still = client.get(f"/api/grants/{grant}", headers=matrix.headers["tenant_admin"])
    assert still.status_code == (404 if status == 204 else 200)


@pytest.mark.parametrize("principal", ["admin_b1", "admin_c1"])
def test_disabling_a_stronger_account_is_refused(matrix: Matrix, client: Any,
                                                 principal: str) -> None:
    """A tenant administrator who is a member of B1: B1's administrators see the account but
    must not switch it off (that would revoke a role stronger than their own)."""
    own = matrix.scopes["own"]
    _add_grant(own.account, Role.tenant_admin, matrix.root, _org_code(matrix.root))
    r = client.patch(f"/api/accounts/{own.account}", headers=matrix.headers[principal],
                     json={"is_active": False})
    assert r.status_code == 403, r.json
    account = client.get(f"/api/accounts/{own.account}", headers=matrix.headers["tenant_admin"])
    assert account.json["is_active"] is True
