"""The issue page offers hosts on other nodes (from the hub's tenant directory), a certificate
for one leaves as a sealed step to the hub, and one the hub could not deliver reads as such,
with the hub's reason, instead of waiting forever."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery.models import OutboxMessage
from federation.envelope import Envelope
from federation.keys import HUB, SigningKey, encode_base64, format_time, utcnow
from federation.messages.floating import STEP, UNDELIVERABLE
from node.db import db
from node.directory import identity as node_identity
from node.directory import services as directory
from node.floating import remote, services
from node.floating.models import EndReason, FloatingCertificate, FloatingStatus
from node.tenants.scoping import tenant_context
from tests.node.web import conftest as web
from tests.node.web.conftest import csrf_of, sign_in_as

# the web tests' fixtures (their conftest is not this directory's)
cheap_password_hashes, compiled_catalogs = web.cheap_password_hashes, web.compiled_catalogs
site, console = web.site, web.console

TODAY = services.local_today()
FAR = "中共远方县委组织部"


@pytest.fixture()
def elsewhere(app: Any, session: Any, monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """node-c, with the tenant `faraway`, in the directory; this node has its own key."""
    mine, theirs, now = SigningKey.generate(), SigningKey.generate(), utcnow()
    me = str(app.extensions["node"].node_id)
    directory.apply_directory(session, {
        "version": 1, "issued_at": format_time(now),
        "nodes": [{"node": node, "key_id": key.key_id, "public": encode_base64(key.public_bytes),
                   "valid_from": format_time(now - dt.timedelta(days=1)),
                   "valid_until": format_time(now + dt.timedelta(days=365))}
                  for node, key in ((me, mine), ("node-c", theirs))],
        "tenants": [{"node": "node-c", "slug": "faraway", "name": FAR, "region": "650101",
                     "code_prefix": "650101"}]})
    session.commit()
    monkeypatch.setattr(node_identity, "me", lambda: (me, mine))
    return theirs


def test_a_host_on_another_node_through_the_pages(client, console, session, elsewhere):
    sign_in_as(client, console, "secretary")
    member = console.site.plain_member
    page = client.get(f"/t/{console.slug}/console/floating/new?member_id={member.id}")
    assert page.status_code == 200 and f"{FAR} · node-c" in page.text
    form = {"csrf_token": csrf_of(page), "member_id": str(member.id), "host_tenant": "faraway",
            "starts_on": (TODAY - dt.timedelta(days=10)).isoformat(),
            "until": (TODAY + dt.timedelta(days=180)).isoformat(), "reason": "外出务工，地点不固定"}
    refused = client.post(f"/t/{console.slug}/console/floating/new",
                          data={**form, "host_org_code": "500104001"})  # not faraway's code
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    done = client.post(f"/t/{console.slug}/console/floating/new",
                       data={**form, "host_org_code": "650101002"})
    assert done.status_code == 303
    session.expire_all()
    with tenant_context(console.site.tenant.id):
        [cert] = session.scalars(sa.select(FloatingCertificate)).all()
        [step] = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.type == STEP))
    assert (cert.peer_node, cert.status) == ("node-c", FloatingStatus.pending)
    assert (step.destination, step.data["to_node"], step.data["to_tenant"]) == (
        HUB, "node-c", "faraway")
    assert member.name not in json.dumps(step.data, ensure_ascii=False)
    detail = client.get(done.headers["Location"])
    assert detail.status_code == 200 and "node-c" in detail.text and "650101002" in detail.text

    remote.apply_undeliverable(db.session(), Envelope.create(
        UNDELIVERABLE, source=HUB, destination="node-local", tenant=console.slug,
        data={"uid": cert.uid, "step": "issued", "from_side": "home",
              "from_tenant": console.slug, "to_node": "node-c", "to_tenant": "faraway",
              "reason_code": "node_revoked", "detail": "node node-c is revoked"}))
    db.session.commit()
    session.expire_all()
    with tenant_context(console.site.tenant.id):
        assert session.get(FloatingCertificate, cert.id).end_reason == EndReason.undeliverable
    detail = client.get(done.headers["Location"])
    assert detail.status_code == 200
    assert "data-end-detail" in detail.text and "node node-c is revoked" in detail.text
