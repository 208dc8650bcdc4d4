"""Floating-member pages through the test client: the secretary issues a certificate to the
sibling branch, a refused form changes nothing, the host's administrator accepts and records
participation, the member sees their certificate, and the host never sees the national ID."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from node.db import db
from node.floating import services
from node.floating.models import FloatingCertificate, FloatingSide, FloatingStatus
from node.meetings import services as meetings
from node.meetings.models import MeetingKind
from node.members.models import Member, Status
from node.tenants.scoping import tenant_context

from .conftest import csrf_of, sign_in_as

TODAY = services.local_today()


def _issue_form(client: Any, console: Any, **changes: str) -> Any:
    page = client.get(f"/t/{console.slug}/console/floating/new"
                      f"?member_id={console.site.plain_member.id}")
    assert page.status_code == 200
    assert console.site.plain_member.name in page.text
    data = {"csrf_token": csrf_of(page), "member_id": str(console.site.plain_member.id),
            "host_tenant": console.slug, "host_org_code": console.sibling.code,
            "starts_on": (TODAY - dt.timedelta(days=10)).isoformat(),
            "until": (TODAY + dt.timedelta(days=180)).isoformat(),
            "reason": "外出务工（广东省深圳市），地点不固定", **changes}
    return client.post(f"/t/{console.slug}/console/floating/new", data=data)


def _certs(session: Any, console: Any) -> list[FloatingCertificate]:
    with tenant_context(console.site.tenant.id):
        return list(db.session.scalars(sa.select(FloatingCertificate)
                                    .order_by(FloatingCertificate.id)))


def test_issue_accept_and_record_through_the_pages(client, console, session):
    sign_in_as(client, console, "secretary")
    refused = _issue_form(client, console, until=(TODAY - dt.timedelta(days=5)).isoformat())
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text and "已经结束" in refused.text
    refused = _issue_form(client, console, host_org_code="123")
    assert refused.status_code == 400 and "没有该代码的组织" in refused.text
    assert _certs(session, console) == []

    done = _issue_form(client, console)
    assert done.status_code == 303
    home, host = _certs(session, console)
    assert (home.side, host.side) == (FloatingSide.home, FloatingSide.host)
    detail = client.get(done.headers["Location"])
    assert detail.status_code == 200 and home.number in detail.text
    # the sibling's certificate is out of the secretary's reach
    assert client.get(f"/t/{console.slug}/console/floating/{host.id}").status_code == 404

    admin = client.application.test_client()
    sign_in_as(admin, console, "admin")
    page = admin.get(f"/t/{console.slug}/console/floating/{host.id}")
    assert page.status_code == 200
    declined = admin.post(f"/t/{console.slug}/console/floating/{host.id}/decline",
                          data={"csrf_token": csrf_of(page), "reason": ""})
    assert declined.status_code == 400 and 'role="alert"' in declined.text
    accepted = admin.post(f"/t/{console.slug}/console/floating/{host.id}/accept",
                          data={"csrf_token": csrf_of(page)})
    assert accepted.status_code == 303
    with tenant_context(console.site.tenant.id):
        member = db.session.get(Member, console.site.plain_member.id)
        db.session.refresh(member)
        assert member.status == Status.floating
        principal = meetings.Principal(
            account_id=0, tenant_id=console.site.tenant.id, username="t",
            grants=((meetings.Role.tenant_admin, console.site.tenant.code_prefix),))
        starts = meetings.now_utc() - dt.timedelta(days=2)
        meeting = meetings.schedule_meeting(principal, {
            "org_id": console.sibling.id, "kind": MeetingKind.theme_day,
            "title": "七月主题党日", "starts_at": starts,
            "ends_at": starts + dt.timedelta(hours=2), "place": "社区活动室"})
        meetings.hold_meeting(principal, meeting)
        meeting_id = meeting.id
        db.session.commit()
    page = admin.get(f"/t/{console.slug}/console/floating/{host.id}")
    assert "七月主题党日" in page.text
    recorded = admin.post(f"/t/{console.slug}/console/floating/{host.id}/participation",
                          data={"csrf_token": csrf_of(page), "meeting_id": str(meeting_id),
                                "status": "present"})
    assert recorded.status_code == 303
    home_page = client.get(f"/t/{console.slug}/console/floating/{home.id}")
    assert "七月主题党日" in home_page.text

    listing = admin.get(f"/t/{console.slug}/console/floating")
    assert listing.status_code == 200 and home.number in listing.text

    member_client = client.application.test_client()
    sign_in_as(member_client, console, "member")
    mine = member_client.get(f"/t/{console.slug}/me/floating")
    assert mine.status_code == 200 and home.number in mine.text
    assert console.sibling.name in mine.text


def test_the_host_page_never_shows_the_national_id(client, console, session):
    sign_in_as(client, console, "secretary")
    assert _issue_form(client, console).status_code == 303
    _home, host = _certs(session, console)
    with tenant_context(console.site.tenant.id):
        masked = db.session.scalar(sa.select(Member.national_id_masked).where(
            Member.id == console.site.plain_member.id))
    admin = client.application.test_client()
    sign_in_as(admin, console, "admin")
    page = admin.get(f"/t/{console.slug}/console/floating/{host.id}")
    assert page.status_code == 200 and console.site.plain_member.name in page.text
    assert masked not in page.text
    assert host.status == FloatingStatus.pending
