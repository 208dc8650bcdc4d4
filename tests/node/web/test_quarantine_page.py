"""The tenant administrator's quarantine page: their tenant's held messages only, inspected as
escaped text, released or discarded with a note (audited); anyone else is refused."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery.consumer import PING, envelope_record
from federation.delivery.models import QuarantinedMessage
from federation.delivery.quarantine import hold
from federation.envelope import Envelope
from node.audit.models import AuditEntry
from node.bus import services as bus
from node.tenants.scoping import tenant_context

from .conftest import csrf_of, sign_in_as


@pytest.fixture()
def node_key(app: Any, tmp_path: Any) -> Any:
    original = app.extensions["node"]
    settings = dataclasses.replace(original, signing_key_file=str(tmp_path / "node.key"))
    bus.create_signing_key(settings)
    app.extensions["node"] = settings
    yield settings
    app.extensions["node"] = original


def _hold(session: Any, tenant: str | None, *, body: bytes | None = None,
          reason: str = "handler_failed") -> int:
    envelope = Envelope.create(PING, source="hub", destination="node-local", tenant=tenant,
                               data={"note": "<script>alert(1)</script>"})
    hold(session, body or envelope_record(envelope), reason, "ValueError: boom",
         source="hub", message_id=envelope.id, type=PING, tenant=tenant)
    session.commit()
    return int(session.scalar(sa.select(sa.func.max(QuarantinedMessage.id))))


def _status(session: Any, entry: int) -> str:
    session.expire_all()
    return str(session.get(QuarantinedMessage, entry).status)


def _audit(session: Any, console: Any) -> list[str]:
    with tenant_context(console.site.tenant.id):
        return list(session.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.entity_type == "quarantine")))


def test_the_administrator_inspects_and_releases_a_message(client, console, session,
                                                           node_key):
    mine = _hold(session, console.slug)
    theirs = _hold(session, console.site.other.slug)
    sign_in_as(client, console, "admin")
    listed = client.get(f"/t/{console.slug}/console/quarantine")
    assert listed.status_code == 200 and "隔离区" in listed.text
    assert f"/console/quarantine/{mine}" in listed.text
    assert f"/console/quarantine/{theirs}" not in listed.text
    assert "应用失败" in listed.text and "partynet.bus.ping.v1" in listed.text
    page = client.get(f"/t/{console.slug}/console/quarantine/{mine}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert '\n  &#34;data&#34;: {' in page.text  # pretty-printed (and escaped)
    done = client.post(f"/t/{console.slug}/console/quarantine/{mine}/release",
                       data={"csrf_token": csrf_of(page), "note": "修复后重试"})
    assert done.status_code == 303
    assert _status(session, mine) == "released"
    shown = client.get(done.headers["Location"])
    assert "已放行" in shown.text and "修复后重试" in shown.text
    assert 'action="/t/' + console.slug + f'/console/quarantine/{mine}/release"' not in shown.text
    assert _audit(session, console) == ["quarantine.release"]
    again = client.post(f"/t/{console.slug}/console/quarantine/{mine}/release",
                        data={"csrf_token": csrf_of(page)})
    assert again.status_code == 409 and "已经有人处理" in again.text


def test_the_administrator_discards_a_message(client, console, session, node_key):
    mine = _hold(session, console.slug, reason="unknown_key")
    sign_in_as(client, console, "admin")
    page = client.get(f"/t/{console.slug}/console/quarantine/{mine}")
    done = client.post(f"/t/{console.slug}/console/quarantine/{mine}/discard",
                       data={"csrf_token": csrf_of(page), "note": "不是我们的"},
                       headers={"HX-Request": "true"})
    assert done.status_code == 303
    assert _status(session, mine) == "discarded"
    assert _audit(session, console) == ["quarantine.discard"]
    discarded = client.get(f"/t/{console.slug}/console/quarantine",
                           query_string={"status": "discarded"})
    assert f"/console/quarantine/{mine}" in discarded.text


def test_a_release_still_refused_says_why_and_changes_nothing(client, console, session,
                                                             node_key):
    mine = _hold(session, console.slug, body=b"{not json", reason="malformed")
    sign_in_as(client, console, "admin")
    page = client.get(f"/t/{console.slug}/console/quarantine/{mine}")
    assert "{not json" in page.text
    r = client.post(f"/t/{console.slug}/console/quarantine/{mine}/release",
                    data={"csrf_token": csrf_of(page), "note": "x" * 1001})
    assert r.status_code == 400 and 'role="alert"' in r.text
    r = client.post(f"/t/{console.slug}/console/quarantine/{mine}/release",
                    data={"csrf_token": csrf_of(page)})
    assert r.status_code == 409 and "仍被拒收" in r.text
    assert _status(session, mine) == "held" and _audit(session, console) == []


def test_others_are_refused_and_other_tenants_messages_do_not_exist(client, console, session,
                                                                    node_key):
    theirs = _hold(session, console.site.other.slug)
    nobody = _hold(session, None)
    mine = _hold(session, console.slug)
    sign_in_as(client, console, "secretary")
    assert client.get(f"/t/{console.slug}/console/quarantine").status_code == 403
    assert client.get(f"/t/{console.slug}/console/quarantine/{mine}").status_code == 403
    token = csrf_of(client.get(f"/t/{console.slug}/console/members"))
    assert client.post(f"/t/{console.slug}/console/quarantine/{mine}/discard",
                       data={"csrf_token": token}).status_code == 403
    admin = client.application.test_client()
    sign_in_as(admin, console, "admin")
    token = csrf_of(admin.get(f"/t/{console.slug}/console/quarantine"))
    for entry in (theirs, nobody, 999999):
        assert admin.get(f"/t/{console.slug}/console/quarantine/{entry}").status_code == 404
        assert admin.post(f"/t/{console.slug}/console/quarantine/{entry}/discard",
                          data={"csrf_token": token}).status_code == 404
    assert {_status(session, e) for e in (theirs, nobody, mine)} == {"held"}
    assert _audit(session, console) == []
    nav = admin.get(f"/t/{console.slug}/console")
    assert "/console/quarantine" in nav.text
    assert "/console/quarantine" not in client.get(f"/t/{console.slug}/console").text
