"""Officers from the organization page: recorded, their term ended; refusals change nothing."""

from __future__ import annotations

import sqlalchemy as sa

from node.orgs.models import Officer
from node.tenants.scoping import tenant_context

from .conftest import csrf_of, sign_in_as


def _officers(session, console):
    with tenant_context(console.site.tenant.id):
        session.expire_all()
        return session.scalars(sa.select(Officer).where(
            Officer.org_id == console.site.branch.id).order_by(Officer.id)).all()


def test_a_secretary_records_an_officer_and_ends_a_term(client, console, session):
    sign_in_as(client, console, "secretary")
    path = f"/t/{console.slug}/console/orgs/{console.site.branch.id}"
    page = client.get(path)
    assert page.status_code == 200
    before = len(_officers(session, console))
    done = client.post(path + "/officers", data={
        "csrf_token": csrf_of(page), "position": "organization",
        "member_id": str(console.site.plain_member.id), "term_start": "2024-03-01"})
    assert done.status_code == 303
    officers = _officers(session, console)
    assert len(officers) == before + 1
    added = officers[-1]
    assert (added.name, added.member_id) == (console.site.plain_member.name,
                                             console.site.plain_member.id)
    page = client.get(path)
    ended = client.post(f"{path}/officers/{added.id}/end",
                        data={"csrf_token": csrf_of(page), "term_end": "2025-01-31"})
    assert ended.status_code == 303
    assert str(_officers(session, console)[-1].term_end) == "2025-01-31"


def test_bad_officer_forms_say_why_and_change_nothing(client, console, session):
    sign_in_as(client, console, "secretary")
    path = f"/t/{console.slug}/console/orgs/{console.site.branch.id}"
    page = client.get(path)
    before = [(o.id, o.term_end) for o in _officers(session, console)]
    nameless = client.post(path + "/officers", data={
        "csrf_token": csrf_of(page), "position": "propaganda", "term_start": "2024-03-01"})
    assert nameless.status_code == 400 and 'aria-invalid="true"' in nameless.text
    officer_id = before[0][0]
    too_early = client.post(f"{path}/officers/{officer_id}/end",
                            data={"csrf_token": csrf_of(page), "term_end": "2000-01-01"})
    assert too_early.status_code == 400 and 'aria-invalid="true"' in too_early.text
    assert [(o.id, o.term_end) for o in _officers(session, console)] == before


def test_a_secretary_cannot_staff_a_sibling_branch(client, console, session):
    sign_in_as(client, console, "secretary")
    page = client.get(f"/t/{console.slug}/console/orgs/{console.site.branch.id}")
    response = client.post(f"/t/{console.slug}/console/orgs/{console.sibling.id}/officers",
                           data={"csrf_token": csrf_of(page), "position": "propaganda",
                                 "name": "张三", "term_start": "2024-03-01"})
    # The tree is visible in the tenant; staffing another branch is refused (403 page).
    assert response.status_code == 403 and 'role="alert"' in response.text
    with tenant_context(console.site.tenant.id):
        assert session.scalars(sa.select(Officer).where(
            Officer.org_id == console.sibling.id)).all() == []
