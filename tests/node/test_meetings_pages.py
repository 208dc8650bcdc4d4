"""Meeting pages through the test client: the secretary's forms refuse bad input readably and
change nothing; the sheet, the member's check-in and the compliance dashboard work."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from node.grants.models import Role
from node.meetings.models import LOCAL_TZ, Attendance, AttendanceStatus, Meeting
from node.tenants.scoping import tenant_context

CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
PASSWORD = "correct-horse-1"


@pytest.fixture()
def people(world) -> dict[str, Any]:
    tenant = world.tenant()
    root = world.root(tenant)
    committee = world.org(tenant, root, "committee", name="街道党工委")
    branch = world.org(tenant, committee, "branch", name="第一党支部")
    secretary = world.member(tenant, branch, name="江玲")
    plain = world.member(tenant, branch, name="何秀英")
    world.account(tenant, [(Role.org_admin, branch)], member=secretary, username="secretary")
    world.account(tenant, [(Role.member, branch)], member=plain, username="member")
    world.account(tenant, [(Role.org_viewer, committee)], username="committee")
    return {"tenant": tenant, "branch": branch, "committee": committee, "plain": plain}


def sign_in(app, people, username: str) -> Any:
    client = app.test_client()
    slug = people["tenant"].slug
    page = client.get(f"/t/{slug}/login")
    token = CSRF.search(page.text).group(1)
    done = client.post(f"/t/{slug}/login", data={"csrf_token": token, "username": username,
                                                  "password": PASSWORD})
    assert done.status_code == 303
    return client


def _csrf(client, url: str) -> str:
    return CSRF.search(client.get(url).text).group(1)


def _meetings(session, people) -> list[Meeting]:
    session.expire_all()
    with tenant_context(people["tenant"].id):
        return list(session.scalars(sa.select(Meeting)))


def test_the_secretary_schedules_marks_and_a_member_checks_in(app, connection, people, session):
    secretary = sign_in(app, people, "secretary")
    base = f"/t/{people['tenant'].slug}"
    now = dt.datetime.now(LOCAL_TZ)
    form = {"org_id": str(people["branch"].id), "kind": "theme_day", "title": "主题党日",
            "starts_at": (now - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "place": "党员活动室"}
    token = _csrf(secretary, f"{base}/console/meetings/new")
    refused = secretary.post(f"{base}/console/meetings/new", data={**form, "csrf_token": token})
    assert refused.status_code == 400
    assert "结束时间须晚于开始时间" in refused.text
    assert _meetings(session, people) == []
    form["ends_at"] = (now + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    done = secretary.post(f"{base}/console/meetings/new", data={**form, "csrf_token": token})
    assert done.status_code == 303
    (meeting,) = _meetings(session, people)
    detail = f"{base}/console/meetings/{meeting.id}"
    assert done.headers["Location"].endswith(detail)
    page = secretary.get(detail)
    assert "江玲" in page.text and "何秀英" in page.text

    plain = people["plain"].id
    sheet = {"csrf_token": _csrf(secretary, detail), f"status-{plain}": "excused"}
    refused = secretary.post(f"{detail}/attendance", data=sheet)
    assert refused.status_code == 400 and "请假须填写事由" in refused.text
    with tenant_context(people["tenant"].id):
        session.expire_all()
        assert session.scalar(sa.select(Attendance.status).where(
            Attendance.member_id == plain)) == AttendanceStatus.invited

    member = sign_in(app, people, "member")
    url = f"{base}/me/meetings/{meeting.id}/checkin"
    page = member.get(f"{url}?code={meeting.checkin_code}")
    assert page.status_code == 200 and f'value="{meeting.checkin_code}"' in page.text
    wrong = f"{(int(meeting.checkin_code) + 1) % 10**6:06d}"
    refused = member.post(url, data={"csrf_token": CSRF.search(page.text).group(1),
                                     "code": wrong})
    assert refused.status_code == 400 and "签到码" in refused.text
    done = member.post(url, data={"csrf_token": CSRF.search(page.text).group(1),
                                  "code": meeting.checkin_code})
    assert done.status_code == 303
    assert "签到成功" in member.get(done.headers["Location"]).text
    card = member.get(f"{base}/me")
    assert "参加和缺席的会议" in card.text
    # the member's check-in shows on the secretary's sheet, with the method
    assert "签到码签到" in secretary.get(detail).text
    # a member does not open the console's sheet
    assert member.get(detail).status_code in (303, 403)


def test_the_compliance_dashboard_and_the_calendar(app, connection, people):
    committee = sign_in(app, people, "committee")
    base = f"/t/{people['tenant'].slug}"
    page = committee.get(f"{base}/console/compliance?org_id={people['committee'].id}"
                         f"&period=2026-Q3")
    assert page.status_code == 200
    chart = re.search(r"data-chart='([^']+)'", page.text)
    assert chart is not None
    data = json.loads(chart.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert "主题党日" in data["kinds"] and len(data["met"]) == len(data["kinds"])
    assert "第一党支部" in page.text
    bad = committee.get(f"{base}/console/compliance?period=2026-Q9")
    assert bad.status_code == 200 and "请填写期间" in bad.text
    calendar = committee.get(f"{base}/console/meetings?month=2026-05")
    assert calendar.status_code == 200 and "2026-05" in calendar.text
    assert "安排会议" not in calendar.text  # a viewer schedules nothing


def test_too_many_wrong_codes_are_refused_readably(app, connection, people, session):
    from node.audit.recording import acting_as
    from node.auth.principal import Principal
    from node.meetings import services

    now = dt.datetime.now(dt.UTC)
    with tenant_context(people["tenant"].id), acting_as("test"):
        admin = Principal(account_id=0, tenant_id=people["tenant"].id, username="t",
                          grants=((Role.org_admin, people["branch"].code),))
        meeting = services.schedule_meeting(admin, {
            "org_id": people["branch"].id, "kind": "theme_day", "title": "主题党日",
            "starts_at": now - dt.timedelta(minutes=5), "ends_at": now + dt.timedelta(hours=1),
            "place": "党员活动室"}, now=now)
        code = meeting.checkin_code
        session.commit()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    member = sign_in(app, people, "member")
    url = f"/t/{people['tenant'].slug}/me/checkin"
    token = _csrf(member, url)
    for left in range(services.CHECKIN_MAX_FAILURES - 1, 0, -1):
        refused = member.post(url, data={"csrf_token": token, "code": wrong})
        assert refused.status_code == 400 and "签到码" in refused.text
        assert f"还可尝试 {left} 次" in refused.text
    last = member.post(url, data={"csrf_token": token, "code": wrong})
    assert last.status_code == 400 and "请联系书记" in last.text
    locked = member.post(url, data={"csrf_token": token, "code": code})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "错误次数过多" in locked.text and 'role="alert"' in locked.text
    with tenant_context(people["tenant"].id):
        session.expire_all()
        assert session.scalar(sa.select(Attendance.status).where(
            Attendance.member_id == people["plain"].id)) == AttendanceStatus.invited
