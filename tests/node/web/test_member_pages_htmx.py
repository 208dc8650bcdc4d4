"""The member pages' in-place interactions: revealing a national ID (audited) and the member
search updating its results; each works without JavaScript too, as a whole page."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from node.audit.models import AuditEntry
from node.members.identity import identity
from node.members.models import Member
from node.tenants.scoping import tenant_context

from .conftest import csrf_of, sign_in_as

HTMX = {"HX-Request": "true"}


def _full_id(session: Any, console: Any, member_id: int) -> str:
    with tenant_context(console.site.tenant.id):
        member = session.get(Member, member_id)
        return identity().cipher.decrypt(member.national_id_cipher)


def _reveals(session: Any, console: Any, member_id: int) -> list[AuditEntry]:
    with tenant_context(console.site.tenant.id):
        return list(session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "member.reveal_national_id",
            AuditEntry.entity_id == member_id)))


def test_the_secretary_reveals_a_national_id_in_place_and_it_is_audited(client, console,
                                                                        session):
    sign_in_as(client, console, "secretary")
    member = console.site.plain_member
    full = _full_id(session, console, member.id)
    detail = client.get(f"/t/{console.slug}/console/members/{member.id}")
    assert detail.status_code == 200 and "显示完整号码" in detail.text
    assert full not in detail.text and member.national_id_masked in detail.text
    url = f"/t/{console.slug}/console/members/{member.id}/national-id"
    fragment = client.post(url, data={"csrf_token": csrf_of(detail)}, headers=HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert full in fragment.text and 'id="national-id"' in fragment.text
    assert "已记入审计日志" in fragment.text
    assert fragment.headers["Cache-Control"] == "no-store"
    [entry] = _reveals(session, console, member.id)
    assert entry.actor_account_id == console.site.account.id and entry.actor == "secretary"
    assert entry.at is not None and entry.entity_type == "member"
    # The audit page lists it for the secretary's subtree.
    log = client.get(f"/t/{console.slug}/console/audit",
                     query_string={"action": "member.reveal_national_id"})
    assert log.status_code == 200 and "member.reveal_national_id" in log.text
    assert f"#{member.id}" in log.text


def test_without_javascript_the_reveal_shows_the_whole_page(client, console, session):
    sign_in_as(client, console, "secretary")
    member = console.site.plain_member
    detail = client.get(f"/t/{console.slug}/console/members/{member.id}")
    page = client.post(f"/t/{console.slug}/console/members/{member.id}/national-id",
                       data={"csrf_token": csrf_of(detail)})
    assert page.status_code == 200 and "<html" in page.text
    assert _full_id(session, console, member.id) in page.text
    assert len(_reveals(session, console, member.id)) == 1


def test_a_reveal_out_of_reach_is_refused_and_not_audited(client, console, session):
    sign_in_as(client, console, "secretary")
    token = csrf_of(client.get(f"/t/{console.slug}/console/members"))
    stranger = console.stranger
    r = client.post(f"/t/{console.slug}/console/members/{stranger.id}/national-id",
                    data={"csrf_token": token}, headers=HTMX)
    assert r.status_code == 404
    assert _full_id(session, console, stranger.id) not in r.text
    assert client.post(f"/t/{console.slug}/console/members/{stranger.id}/national-id",
                       data={}).status_code == 400  # no CSRF token
    assert client.get(f"/t/{console.slug}/console/members/{stranger.id}/national-id"
                      ).status_code == 405
    assert _reveals(session, console, stranger.id) == []


def test_a_member_sees_only_the_masked_number(client, console, session):
    sign_in_as(client, console, "member")
    member = console.site.plain_member
    card = client.get(f"/t/{console.slug}/me")
    assert member.national_id_masked in card.text and "显示完整号码" not in card.text
    token = csrf_of(card)
    r = client.post(f"/t/{console.slug}/console/members/{member.id}/national-id",
                    data={"csrf_token": token})
    assert r.status_code == 403
    assert _full_id(session, console, member.id) not in r.text
    assert _reveals(session, console, member.id) == []


def test_the_member_search_updates_the_results_in_place(client, console):
    sign_in_as(client, console, "admin")
    url = f"/t/{console.slug}/console/members"
    page = client.get(url)
    assert 'hx-get="' in page.text and 'hx-push-url="true"' in page.text
    assert 'id="results-status"' in page.text and 'role="search"' in page.text
    fragment = client.get(url, query_string={"q": "何秀"}, headers=HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert console.site.plain_member.name in fragment.text
    assert console.stranger.name not in fragment.text
    assert 'hx-swap-oob="innerHTML"' in fragment.text and "显示 1 名党员" in fragment.text
    # A history restore (back button after a cache miss) and no JavaScript: the whole page.
    restore = client.get(url, query_string={"q": "何秀"},
                         headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text and console.site.plain_member.name in restore.text
    plain = client.get(url, query_string={"q": "何秀"})
    assert "<html" in plain.text and console.stranger.name not in plain.text
    bad = client.get(url, query_string={"stage": "nonsense"}, headers=HTMX)
    assert bad.status_code == 200 and 'role="alert"' in bad.text


def test_the_org_structure_forms_ask_for_confirmation(client, console):
    sign_in_as(client, console, "admin")
    page = client.get(f"/t/{console.slug}/console/orgs/{console.site.group.id}")
    assert page.status_code == 200
    assert page.text.count("hx-confirm=") >= 2
    assert "解散第一党小组？此操作不能撤销。" in page.text
