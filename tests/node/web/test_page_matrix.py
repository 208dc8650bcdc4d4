"""Who may open which working page, generated from the route map.

Every GET page of the working-page blueprints (`node.app.PAGE_BLUEPRINTS`) is joined with
`POLICY`, which names who may open it; each cell is one request by one person (anonymous, a
member, the branch secretary, the tenant administrator) for a record of the secretary's own
branch. A page with no policy fails its own cell, so every new page must be classified here.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from node.app import PAGE_BLUEPRINTS

from .conftest import sign_in_as

PEOPLE = ("anonymous", "member", "secretary", "admin")
#: endpoint -> who opens it (200); everyone else signed in gets 403, anonymous is sent to sign in.
#: "own" pages need an account linked to a member (the admin has none: 404).
POLICY: dict[str, dict[str, Any]] = {
    "member_pages.my_card": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    "member_pages.my_card_print": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    "member_pages.my_details": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    "member_pages.console_home": {"ok": {"secretary", "admin"}},
    "member_pages.member_list": {"ok": {"secretary", "admin"}},
    "member_pages.member_new": {"ok": {"secretary", "admin"}},
    "member_pages.member_detail": {"ok": {"secretary", "admin"}},
    "member_pages.member_print": {"ok": {"secretary", "admin"}},
    "member_pages.member_edit": {"ok": {"secretary", "admin"}},
    "org_pages.tree": {"ok": {"secretary", "admin"}},
    "org_pages.detail": {"ok": {"secretary", "admin"}},
    "org_pages.create": {"ok": {"admin"}, "query": {"parent_id": "branch"}},
    "org_pages.edit": {"ok": {"admin"}},
    "import_pages.upload": {"ok": {"secretary", "admin"}},
    "grant_pages.grants": {"ok": {"secretary", "admin"}},
    "audit_pages.audit_log": {"ok": {"secretary", "admin"}},
    "tenant_pages.settings": {"ok": {"admin"}},
    "tenant_pages.administrators": {"ok": {"admin"}},
    "account_admin_pages.accounts": {"ok": {"admin"}},
    "account_admin_pages.account_detail": {"ok": {"admin"}},
    "quarantine_pages.quarantine": {"ok": {"admin"}},
    "quarantine_pages.entry": {"ok": {"admin"}},
    "tenant_pages.brand_css": {"public": True},
    "directive_pages.directive_list": {"ok": {"member", "secretary", "admin"}},
    "directive_pages.directive_detail": {"ok": {"member", "secretary", "admin"}},
    "meeting_pages.calendar_page": {"ok": {"secretary", "admin"}},
    "meeting_pages.meeting_new": {"ok": {"secretary", "admin"}},
    "meeting_pages.meeting_detail": {"ok": {"secretary", "admin"}},
    "meeting_pages.meeting_edit": {"ok": {"secretary", "admin"}},
    "meeting_pages.meeting_code": {"ok": {"secretary", "admin"}},
    "meeting_pages.meeting_file": {"ok": {"member", "secretary", "admin"}, "file": True},
    "meeting_pages.compliance": {"ok": {"secretary", "admin"}},
    "meeting_pages.my_meetings": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    "meeting_pages.my_meeting": {"ok": {"member", "secretary", "admin"}},
    "meeting_pages.checkin": {"ok": {"member", "secretary", "admin"}},
    "meeting_pages.checkin_by_code": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    "dues_pages.month_page": {"ok": {"secretary", "admin"}},
    "dues_pages.member_page": {"ok": {"secretary", "admin"}},
    "dues_pages.totals_page": {"ok": {"secretary", "admin"}},
    "dues_pages.reductions_page": {"ok": {"secretary", "admin"}},
    "dues_pages.my_dues": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    # an order of someone else (here: no such order) is not found for anyone
    "dues_pages.order_page": {"ok": set(), "not_found": {"member", "secretary", "admin"}},
    "report_pages.my_report": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    "report_pages.my_report_download": {"ok": {"member", "secretary"}, "not_found": {"admin"},
                                        "file": True},
    "report_pages.member_report": {"ok": {"secretary", "admin"}},
    "report_pages.member_report_download": {"ok": {"secretary", "admin"}, "file": True},
    "identity_pages.flagged": {"ok": {"secretary", "admin"}},
    "floating_pages.floating_list": {"ok": {"secretary", "admin"}},
    "floating_pages.floating_new": {"ok": {"secretary", "admin"}},
    "floating_pages.floating_detail": {"ok": {"secretary", "admin"}},
    "floating_pages.my_floating": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    "transfer_pages.inbox": {"ok": {"secretary", "admin"}},
    "transfer_pages.rules": {"ok": {"admin"}},
    "transfer_pages.apply_page": {"ok": {"secretary", "admin"}},
    "transfer_pages.detail": {"ok": {"secretary", "admin"}},
    "transfer_pages.my_apply": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    "transfer_pages.my_transfers": {"ok": {"member", "secretary"}, "not_found": {"admin"}},
    # the plain member's own transfer: only they see it as theirs
    "transfer_pages.my_transfer": {"ok": {"member"}, "not_found": {"secretary", "admin"}},
    # the letter shows the national ID: the issuing committee (here the tenant admin) prints
    "transfer_pages.letter": {"ok": {"admin"}, "file": True},
    "transfer_pages.my_letter": {"ok": {"member"}, "not_found": {"secretary", "admin"},
                                 "file": True},
}


def _page_rules() -> list[tuple[str, str]]:
    app = Flask(__name__)  # the page blueprints alone: their routes, no database
    for blp in PAGE_BLUEPRINTS:
        app.register_blueprint(blp)
    names = {blp.name for blp in PAGE_BLUEPRINTS}
    rules = []
    for rule in app.url_map.iter_rules():
        if (rule.endpoint.split(".")[0] in names and rule.rule.startswith("/t/<slug>")
                and "GET" in (rule.methods or ())):
            rules.append((rule.endpoint, rule.rule))
    return sorted(rules)


RULES = _page_rules()


def test_every_working_page_is_in_the_matrix():
    assert {endpoint for endpoint, _ in RULES} == set(POLICY)


def _path(console: Any, rule: str, endpoint: str, extra: dict[str, int] | None = None) -> str:
    site = console.site
    values = {"slug": console.slug, "member_id": site.plain_member.id, "org_id": site.branch.id,
              "account_id": console.member_account.id, **(extra or {})}
    path = rule
    for key, value in values.items():
        path = path.replace(f"<{key}>", str(value)).replace(f"<int:{key}>", str(value))
    query = POLICY[endpoint].get("query", {})
    if query:
        path += "?" + "&".join(f"{k}={getattr(site, v).id}" for k, v in query.items())
    return path


def _expected(who: str, endpoint: str) -> int:
    policy = POLICY[endpoint]
    if policy.get("public"):
        return 200
    if who == "anonymous":
        return 303
    if who in policy["ok"]:
        return 200
    return 404 if who in policy.get("not_found", ()) else 403


@pytest.fixture()
def records(console, session, app, tmp_path, monkeypatch) -> dict[str, int]:
    """Records some pages show that the console world lacks: a quarantined message."""
    import sqlalchemy as sa

    from federation.delivery.models import QuarantinedMessage
    from federation.delivery.quarantine import hold

    hold(session, b"{}", "malformed", "test", source=None, message_id=None, type=None,
         tenant=console.slug)
    session.commit()
    return {"entry_id": int(session.scalar(sa.select(sa.func.max(QuarantinedMessage.id)))),
            "directive_id": _directive(console, session),
            "month": _reports(console, session),
            **_meeting(console, session, app, tmp_path, monkeypatch),
            **_floating(console, session), **_transfer(console, session)}


def _transfer(console: Any, session: Any) -> dict[str, int]:
    """The plain member's transfer to the other tenant, approved up the chain: letter out."""
    from node.tenants.scoping import tenant_context
    from node.transfers import services

    site = console.site
    principal = services.Principal(account_id=site.account.id, tenant_id=site.tenant.id,
                                   username="test", grants=((services.Role.tenant_admin,
                                                             site.tenant.code_prefix),))
    with tenant_context(site.tenant.id):
        t = services.apply_transfer(principal, member_id=site.plain_member.id,
                                    to_tenant=site.other.slug,
                                    to_org_code=site.other.code_prefix, reason="毕业分配")
        while services.pending_approval(t) is not None:
            services.approve(principal, t.id)
        assert t.state == services.State.issued
        session.commit()
        return {"transfer_id": t.id}


def _floating(console: Any, session: Any) -> dict[str, int]:
    """A floating certificate of the secretary's branch member, hosted by the sibling."""
    import datetime as dt

    from node.floating import services
    from node.tenants.models import Tenant
    from node.tenants.scoping import tenant_context

    site = console.site
    today = services.local_today()
    with tenant_context(site.tenant.id):
        cert = services.issue_certificate(
            services.Principal(account_id=0, tenant_id=site.tenant.id, username="test",
                               grants=((services.Role.tenant_admin, site.tenant.code_prefix),)),
            session.get(Tenant, site.tenant.id),
            {"member_id": site.plain_member.id, "starts_on": today,
             "until": today + dt.timedelta(days=90), "reason": "外出务工",
             "host_tenant": site.tenant.slug, "host_org_code": console.sibling.code})
        session.commit()
        return {"certificate_id": cert.id}


def _meeting(console: Any, session: Any, app: Any, tmp_path: Any, monkeypatch: Any
             ) -> dict[str, int]:
    """A member assembly of the secretary's branch (both members invited), with a file."""
    import datetime as dt
    import io

    from node.meetings import services
    from node.meetings.models import MeetingKind
    from node.tenants.scoping import tenant_context

    monkeypatch.setitem(app.config, "MEETINGS_ATTACHMENTS_DIR", str(tmp_path / "files"))
    site = console.site
    principal = services.Principal(account_id=0, tenant_id=site.tenant.id, username="test",
                                   grants=((services.Role.org_admin, site.branch.code),))
    starts = services.now_utc() + dt.timedelta(minutes=10)
    with tenant_context(site.tenant.id):
        meeting = services.schedule_meeting(principal, {
            "org_id": site.branch.id, "kind": MeetingKind.member_assembly,
            "title": "支部党员大会", "starts_at": starts,
            "ends_at": starts + dt.timedelta(hours=2), "place": "党员活动室"})
        attachment = services.add_attachment(
            principal, meeting, io.BytesIO(b"%PDF minutes"), filename="记录.pdf",
            content_type="application/pdf", root=tmp_path / "files")
        ids = {"meeting_id": meeting.id, "attachment_id": attachment.id}
        session.commit()
    return ids


def _reports(console: Any, session: Any) -> Any:
    """Last month's reports of the console tenant's party members: the month, `YYYY-MM`."""
    from node.reports import services
    from node.tenants.models import Tenant
    from node.tenants.scoping import tenant_context

    month = services.last_ended_month()
    with tenant_context(console.site.tenant.id):
        services.generate(session.get(Tenant, console.site.tenant.id), month)
        session.commit()
    return month.strftime("%Y-%m")


def _directive(console: Any, session: Any) -> int:
    """A directive from the hub for every member of the console's tenant."""
    import sqlalchemy as sa

    from federation.keys import format_time, utcnow
    from node.directives.models import Directive
    from node.directives.services import apply_published
    from node.tenants.scoping import tenant_context

    apply_published({"directive_id": 1, "kind": "study", "title": "学习材料", "body": "",
                     "links": [], "priority": "normal", "pinned": True, "deadline": None,
                     "published_at": format_time(utcnow()), "audience": "all",
                     "tenants": [console.slug]})
    session.commit()
    with tenant_context(console.site.tenant.id):
        return int(session.scalars(sa.select(Directive.id)).one())


@pytest.mark.parametrize("who", PEOPLE)
def test_page_matrix(client, console, who, records):
    """One person, every page (signing in once per person keeps the matrix fast)."""
    sign_in_as(client, console, who)
    wrong = []
    for endpoint, rule in RULES:
        response = client.get(_path(console, rule, endpoint, records))
        expected = _expected(who, endpoint)
        if response.status_code != expected:
            wrong.append((endpoint, expected, response.status_code))
            continue
        if expected == 303:
            assert "/login?next=" in response.headers["Location"]
        elif POLICY[endpoint].get("file") and expected == 200:
            assert response.headers["Content-Disposition"].startswith("attachment")
        elif expected == 200 and not POLICY[endpoint].get("public"):
            assert "text/html" in response.content_type
            assert response.headers["Cache-Control"] == "no-store"
        elif expected in (403, 404):
            assert 'role="alert"' in response.text
            if expected == 404:
                assert "此地址下没有页面" in response.text
    assert wrong == []


@pytest.mark.parametrize("path", [
    "/console/members/{stranger}", "/console/members/{stranger}/print",
    "/console/members/{stranger}/edit", "/console/members/999999999",
])
def test_a_secretary_cannot_reach_a_sibling_branch_member_by_url(client, console, path):
    path = f"/t/{console.slug}" + path.format(stranger=console.stranger.id)
    sign_in_as(client, console, "secretary")
    response = client.get(path)
    assert response.status_code == 404
    assert console.stranger.name not in response.text
    admin = client.application.test_client()
    sign_in_as(admin, console, "admin")
    if "999999999" not in path:
        assert admin.get(path).status_code == 200


def test_the_sibling_member_is_not_listed_for_the_secretary(client, console):
    sign_in_as(client, console, "secretary")
    page = client.get(f"/t/{console.slug}/console/members")
    assert page.status_code == 200
    assert console.site.plain_member.name in page.text
    assert console.stranger.name not in page.text


def test_out_of_reach_forms_are_404_and_change_nothing(client, console, session):
    from .conftest import csrf_of

    sign_in_as(client, console, "secretary")
    token = csrf_of(client.get(f"/t/{console.slug}/console/members"))
    response = client.post(f"/t/{console.slug}/console/members/{console.stranger.id}/status",
                           data={"csrf_token": token, "to_status": "left",
                                 "effective_on": "2024-01-02"})
    assert response.status_code == 404
