"""The node's side of enrollment: what it sends, what it checks, what it pins and applies.

The hub is replaced by canned answers here; tests/hub/test_end_to_end.py runs the real one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery.models import KnownKey, OutboxMessage, RevokedOwner
from federation.keys import (
    HUB,
    PublicKey,
    SigningKey,
    build_directory,
    decode_base64,
    encode_base64,
    format_time,
    utcnow,
)
from node.bus import enrollment, services
from node.db import db
from shared.db.session import transaction

HUB_URL = "https://hub.example.org/"


class FakeResponse:
    def __init__(self, status: int, body: Any, content_type: str = "application/json") -> None:
        self.status_code = status
        self.content = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.text = self.content.decode()
        self.headers = {"Content-Type": content_type}

    def json(self) -> Any:
        return json.loads(self.content)


class FakeHub:
    """Answers like the hub would, signing with `hub_key` (or with `signer` to test refusals)."""

    def __init__(self, hub_key: SigningKey) -> None:
        self.hub_key = hub_key
        self.signer = hub_key
        self.requests: list[tuple[str, Any]] = []
        self.answer: FakeResponse | None = None
        self.extra_keys: list[Any] = []

    def public(self) -> Any:
        now = utcnow()
        return self.hub_key.public_key(HUB, valid_from=now - dt.timedelta(days=1),
                                       valid_until=now + dt.timedelta(days=365))

    def directory(self, node_keys: list[Any], version: int | None = None) -> bytes:
        return build_directory([self.public(), *node_keys, *self.extra_keys],
                               hub_key=self.signer, now=utcnow(),
                               version=version or 5 + len(self.extra_keys),
                               revoked_owners={"node-x": utcnow()})

    def post(self, url: str, json: Any, timeout: Any) -> FakeResponse:
        self.requests.append((url, json))
        if self.answer is not None:
            return self.answer
        now = utcnow()
        node_public = PublicKey(json["node_id"], json["key_id"],
                                decode_base64(json["public_key"]),
                                valid_from=now - dt.timedelta(minutes=5),
                                valid_until=now + dt.timedelta(days=365))
        hub = self.public()
        return FakeResponse(200, {
            "node_id": json["node_id"],
            "hub_keys": [{"owner": HUB, "key_id": hub.key_id, "public": encode_base64(hub.public),
                          "valid_from": format_time(hub.valid_from),
                          "valid_until": format_time(hub.valid_until)}],
            "tenants": [{**t, "region": t["code_prefix"][:6]} for t in json["tenants"]],
            "directory": self.directory([node_public]).decode(),
            "directory_version": 5, "revoked_keys": []})

    def get(self, url: str, timeout: Any) -> FakeResponse:
        self.requests.append((url, None))
        return self.answer or FakeResponse(200, self.directory([]))


@pytest.fixture()
def node_settings(app, connection, tmp_path):
    settings = dataclasses.replace(app.extensions["node"],
                                   signing_key_file=str(tmp_path / "node.key"))
    services.create_signing_key(settings)
    return settings


@pytest.fixture()
def hub() -> FakeHub:
    return FakeHub(SigningKey.generate())


def _enroll(settings, hub: FakeHub) -> enrollment.EnrollmentResult:
    result = enrollment.request_enrollment(settings, hub_url=HUB_URL, token="pne_t", http=hub)
    with transaction(db):
        enrollment.apply_enrollment(result)
    return result


def test_enrolling_sends_the_key_and_tenants_then_pins_the_hub_key(node_settings, hub, world,
                                                                  session):
    tenant = world.tenant("dadukou", "500104")
    result = _enroll(node_settings, hub)
    [(url, body)] = hub.requests
    key = services.load_signing_key(node_settings)
    assert url == "https://hub.example.org/api/federation/enroll"
    assert body == {"token": "pne_t", "node_id": node_settings.node_id, "key_id": key.key_id,
                    "public_key": encode_base64(key.public_bytes),
                    "tenants": [{"slug": "dadukou", "name": tenant.name,
                                 "code_prefix": "500104"}]}
    assert [(t.slug, t.region) for t in result.tenants] == [("dadukou", "500104")]
    pinned = session.get(KnownKey, (HUB, hub.hub_key.key_id))
    assert pinned.public == hub.hub_key.public_bytes
    assert session.get(KnownKey, (node_settings.node_id, key.key_id)) is not None
    assert session.get(RevokedOwner, "node-x") is not None  # the directory's revocations


def test_a_directory_not_signed_by_the_given_hub_keys_is_refused(node_settings, hub, session):
    hub.signer = SigningKey.from_private_bytes(hub.hub_key.key_id,
                                               SigningKey.generate().private_bytes())
    with pytest.raises(enrollment.HubRefused, match="cannot be trusted: bad_signature"):
        _enroll(node_settings, hub)
    assert session.scalars(sa.select(KnownKey)).all() == []


def test_a_directory_without_this_nodes_key_is_refused(node_settings, hub, session):
    original = hub.directory
    hub.directory = lambda _keys, version=5: original([], version)  # type: ignore[method-assign]
    with pytest.raises(enrollment.HubRefused, match="does not list this node's key"):
        _enroll(node_settings, hub)
    assert session.scalars(sa.select(KnownKey)).all() == []


def test_a_refusal_is_shown_as_the_hub_wrote_it(node_settings, hub):
    hub.answer = FakeResponse(403, {
        "type": "https://partynet.invalid/problems/prefix-not-allowed", "status": 403,
        "title": "Code prefix not allowed by the enrollment token",
        "code": "prefix-not-allowed", "detail": "The enrollment token does not allow these.",
        "errors": {"tenants": {"0": {"code_prefix": ["500103 is not under 500104."]}}}},
        content_type="application/problem+json")
    with pytest.raises(enrollment.HubRefused) as refused:
        _enroll(node_settings, hub)
    assert str(refused.value) == ("Code prefix not allowed by the enrollment token "
                                  "(403, prefix-not-allowed): The enrollment token does not "
                                  "allow these.")
    assert refused.value.errors == {"tenants.0.code_prefix": ["500103 is not under 500104."]}
    hub.answer = FakeResponse(502, b"<html>Bad Gateway</html>", content_type="text/html")
    with pytest.raises(enrollment.HubRefused, match="answered 502"):
        _enroll(node_settings, hub)


def test_refreshing_keys_checks_the_directory_with_the_pinned_hub_key(node_settings, hub,
                                                                     session):
    with pytest.raises(enrollment.HubRefused, match="enroll first"):
        enrollment.fetch_directory(hub_url=HUB_URL, http=hub)
    _enroll(node_settings, hub)
    newcomer = SigningKey.generate().public_key("node-b", valid_from=utcnow(),
                                                valid_until=utcnow() + dt.timedelta(days=9))
    hub.extra_keys = [newcomer]
    directory = enrollment.fetch_directory(hub_url=HUB_URL, http=hub)
    with transaction(db):
        enrollment.refresh_keys(directory)
    assert session.get(KnownKey, ("node-b", newcomer.key_id)) is not None
    # A replayed older directory is not applied over a newer one.
    hub.extra_keys = []
    with transaction(db):
        assert enrollment.refresh_keys(enrollment.fetch_directory(hub_url=HUB_URL, http=hub)) \
            is False
    hub.signer = SigningKey.generate()  # not the pinned key
    with pytest.raises(enrollment.HubRefused, match="unknown_key"):
        enrollment.fetch_directory(hub_url=HUB_URL, http=hub)


def test_a_heartbeat_goes_through_the_outbox(app, world, session):
    world.tenant("dadukou", "500104")
    with transaction(db):
        message_id = services.send_heartbeat()
    row = session.scalars(sa.select(OutboxMessage)).one()
    assert (row.message_id, row.destination, row.type) == (message_id, HUB, services.HEARTBEAT)
    assert row.data["tenants"] == ["dadukou"] and row.data["backlog"] == 0
    assert not row.sequenced  # worth sending once, never retransmitting


def test_hub_urls():
    assert enrollment.base_url("https://hub.example.org/") == "https://hub.example.org"
    with pytest.raises(enrollment.HubRefused):
        enrollment.base_url("hub.example.org")
    assert enrollment.is_insecure("http://hub.example.org")
    assert not enrollment.is_insecure("http://127.0.0.1:5100")
    assert not enrollment.is_insecure("https://hub.example.org")
