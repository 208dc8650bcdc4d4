"""Directives from the hub on a node: the handlers (idempotent), who sees what (pinned first),
reads and completions, secretaries' counts of their subtrees, receipts to the hub, the pages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from federation.delivery import Consumer, Outcome
from federation.delivery.keystore import remember_key
from federation.delivery.models import OutboxMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import SigningKey, format_time, utcnow
from federation.messages.directives import PUBLISHED, RECEIPT, WITHDRAWN
from node.bus import services as bus
from node.db import db
from node.directives import services
from node.directives.models import Directive, DirectiveRead
from node.grants.models import Role
from node.members.models import Member, Status
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from node.web.i18n import compile_catalogs
from shared.db.session import transaction
from shared.errors import NotFound

PASSWORD = "directive-password-1"
CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
SOON = utcnow() + dt.timedelta(days=10)
LATER = utcnow() + dt.timedelta(days=20)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    from shared.web import passwords

    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    compile_catalogs()


@dataclasses.dataclass
class Site:
    tenant: Any
    other: Any
    b1: Any
    b2: Any
    accounts: dict[str, Any]
    headers: dict[str, dict[str, str]]


@pytest.fixture()
def site(world) -> Site:
    """Tenant A: root > committee C > branches B1 (two members, one the secretary) and B2 (one
    member); tenant B on the same node with one member."""
    tenant = world.tenant(slug="dadukou-d", prefix="500104")
    other = world.tenant(slug="jiulongpo-d", prefix="500107")
    root = world.root(tenant)
    c = world.org(tenant, root, "committee")
    b1, b2 = world.org(tenant, c), world.org(tenant, c)
    m1, sec, m2 = world.member(tenant, b1), world.member(tenant, b1), world.member(tenant, b2)
    mx = world.member(other, world.org(other, world.root(other)))
    accounts = {
        "member_b1": world.account(tenant, [(Role.member, b1)], member=m1, username="m1",
                                   password=PASSWORD),
        "secretary_b1": world.account(tenant, [(Role.org_admin, b1)], member=sec,
                                      username="sec", password=PASSWORD),
        "member_b2": world.account(tenant, member=m2, username="m2", password=PASSWORD),
        "admin_c": world.account(tenant, [(Role.org_admin, c)], username="adminc",
                                 password=PASSWORD),
        "viewer_b2": world.account(tenant, [(Role.org_viewer, b2)], username="viewer",
                                   password=PASSWORD),
        "other_member": world.account(other, member=mx, username="mx", password=PASSWORD),
    }
    return Site(tenant, other, b1, b2, accounts,
                {name: world.token(acc) for name, acc in accounts.items()})


def published(directive_id: int, tenants: list[str], **fields: Any) -> dict[str, Any]:
    return {"directive_id": directive_id, "kind": "directive", "title": f"指示{directive_id}",
            "body": "第一段\n第二段", "links": [], "priority": "normal", "pinned": False,
            "deadline": None, "published_at": format_time(utcnow()), "audience": "all",
            "tenants": tenants, **fields}


def receive(data: dict[str, Any]) -> list[Directive]:
    with transaction(db):
        return services.apply_published(data)


def _rows(session) -> list[Directive]:
    session.expire_all()
    with all_tenants():
        return list(session.scalars(sa.select(Directive).order_by(Directive.id)))


def _outbox(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


# --- the handlers -----------------------------------------------------------------------------


def test_the_published_handler_stores_a_copy_per_targeted_tenant_idempotently(site, session):
    data = published(7, ["dadukou-d"], pinned=True, priority="urgent",
                     links=[{"title": "公报", "url": "https://e.org/a"}],
                     deadline=format_time(SOON))
    receive(data)
    receive(data)  # a duplicate (a release from quarantine, a resend) changes nothing
    (row,) = _rows(session)
    assert (row.tenant_id, row.hub_id, row.title, row.pinned, row.priority) == (
        site.tenant.id, 7, "指示7", True, "urgent")
    assert row.links == [{"title": "公报", "url": "https://e.org/a"}]
    assert row.deadline is not None and format_time(row.deadline) == format_time(SOON)
    receive(published(8, ["dadukou-d", "jiulongpo-d"]))
    assert sorted((r.hub_id, r.tenant_id) for r in _rows(session)) == [
        (7, site.tenant.id), (8, site.tenant.id), (8, site.other.id)]


def test_withdrawal_hides_every_copy_for_good(site, client, session):
    receive(published(8, ["dadukou-d", "jiulongpo-d"]))
    with transaction(db):
        assert services.apply_withdrawn({"directive_id": 8,
                                         "withdrawn_at": format_time(utcnow())}) == 2
        assert services.apply_withdrawn({"directive_id": 8,
                                         "withdrawn_at": format_time(utcnow())}) == 0
        assert services.apply_withdrawn({"directive_id": 404,
                                         "withdrawn_at": format_time(utcnow())}) == 0
    receive(published(8, ["dadukou-d"]))  # a late repeat does not bring it back
    assert all(r.withdrawn_at is not None for r in _rows(session))
    r = client.get("/api/directives", headers=site.headers["member_b1"])
    assert r.json["items"] == []


def test_a_tenant_the_node_does_not_host_makes_the_handler_fail(site, session):
    with pytest.raises(NotFound), transaction(db):
        services.apply_published(published(9, ["dadukou-d", "nowhere"]))
    assert _rows(session) == []  # the whole message is refused: it goes to the quarantine


def test_the_bus_applies_directives_from_the_hub_once(site, app, session, tmp_path):
    hub = SigningKey.generate()
    now = utcnow()
    remember_key(session, hub.public_key("hub", valid_from=now - dt.timedelta(days=1),
                                         valid_until=now + dt.timedelta(days=30)))
    session.flush()
    settings = dataclasses.replace(app.extensions["node"],
                                   signing_key_file=str(tmp_path / "node.key"))
    bus.create_signing_key(settings)
    consumer = Consumer(bus.node_party(settings))

    def message(sequence: int, type_: str, data: dict[str, Any]) -> bytes:
        return seal(Envelope(id=new_id(), type=type_, source="hub", destination=settings.node_id,
                             time=utcnow(), tenant=None, sequence=sequence, data=data), hub)

    body = message(1, PUBLISHED, published(5, ["dadukou-d"]))
    assert consumer.handle(body) == Outcome.applied
    assert consumer.handle(body) == Outcome.duplicate
    assert consumer.handle(message(2, PUBLISHED, published(5, ["dadukou-d"]))) \
        == Outcome.applied
    assert len(_rows(session)) == 1
    assert consumer.handle(message(3, WITHDRAWN, {"directive_id": 5,
                                                  "withdrawn_at": format_time(utcnow())})) \
        == Outcome.applied
    assert _rows(session)[0].withdrawn_at is not None


# --- who sees what --------------------------------------------------------------------------------


def _list(client, site, who: str, **query: Any) -> list[str]:
    r = client.get("/api/directives", headers=site.headers[who], query_string=query)
    assert r.status_code == 200, r.json
    return [item["title"] for item in r.json["items"]]


def _id(session, hub_id: int, tenant: Any) -> int:
    with tenant_context(tenant.id):
        return session.scalar(sa.select(Directive.id).where(Directive.hub_id == hub_id))


def test_members_see_their_tenants_directives_pinned_and_urgent_first(site, client, session):
    receive(published(1, ["dadukou-d"], title="普通"))
    receive(published(2, ["dadukou-d"], title="置顶", pinned=True))
    receive(published(3, ["dadukou-d"], title="紧急", priority="urgent"))
    receive(published(4, ["dadukou-d"], title="较急近期", priority="high",
                      deadline=format_time(SOON)))
    receive(published(5, ["dadukou-d"], title="较急远期", priority="high",
                      deadline=format_time(LATER)))
    receive(published(6, ["dadukou-d"], title="仅书记", audience="secretaries"))
    receive(published(7, ["jiulongpo-d"], title="别的区"))
    order = ["置顶", "紧急", "较急近期", "较急远期", "普通"]
    assert _list(client, site, "member_b1") == order
    assert _list(client, site, "viewer_b2") == order
    # Same pinning, priority and deadline: the newest first.
    assert _list(client, site, "secretary_b1") == ["置顶", "紧急", "较急近期", "较急远期",
                                                   "仅书记", "普通"]
    assert _list(client, site, "member_b1", pinned="true") == ["置顶"]
    assert _list(client, site, "other_member") == ["别的区"]
    # Out of reach is 404, like a directive that does not exist.
    secretaries_only = _id(session, 6, site.tenant)
    assert client.get(f"/api/directives/{secretaries_only}",
                      headers=site.headers["member_b1"]).status_code == 404
    assert client.get(f"/api/directives/{secretaries_only}",
                      headers=site.headers["admin_c"]).status_code == 200
    elsewhere = _id(session, 7, site.other)
    for path in ("", "/read", "/complete"):
        method = client.get if not path else client.post
        assert method(f"/api/directives/{elsewhere}{path}",
                      headers=site.headers["member_b1"]).status_code == 404
    page = client.get("/api/directives", headers=site.headers["member_b1"],
                      query_string={"limit": 2})
    assert page.json["next_cursor"]
    rest = client.get("/api/directives", headers=site.headers["member_b1"],
                      query_string={"limit": 2, "cursor": page.json["next_cursor"]})
    assert [i["title"] for i in rest.json["items"]] == ["较急近期", "较急远期"]
    bad = client.get("/api/directives", headers=site.headers["member_b1"],
                     query_string={"cursor": "nonsense"})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_reading_and_completing_are_recorded_once(site, client, session):
    receive(published(1, ["dadukou-d"], kind="study"))
    receive(published(2, ["dadukou-d"]))  # no deadline: nothing to complete
    study, plain = _id(session, 1, site.tenant), _id(session, 2, site.tenant)
    h = site.headers["member_b1"]
    detail = client.get(f"/api/directives/{study}", headers=h).json
    assert (detail["read_at"], detail["completable"]) == (None, True)  # a GET records nothing
    first = client.post(f"/api/directives/{study}/read", headers=h).json
    again = client.post(f"/api/directives/{study}/read", headers=h).json
    assert first["read_at"] is not None and again["read_at"] == first["read_at"]
    done = client.post(f"/api/directives/{study}/complete", headers=h)
    assert done.status_code == 200 and done.json["completed_at"] is not None
    refused = client.post(f"/api/directives/{plain}/complete", headers=h)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    session.expire_all()
    with tenant_context(site.tenant.id):
        reads = session.scalars(sa.select(DirectiveRead)).all()
    assert [(r.directive_id, r.account_id, r.member_id, r.completed_at is not None)
            for r in reads] == [(study, site.accounts["member_b1"].id,
                                 site.accounts["member_b1"].member_id, True)]


def _read(client, site, who: str, directive_id: int, complete: bool = False) -> None:
    path = "complete" if complete else "read"
    assert client.post(f"/api/directives/{directive_id}/{path}",
                       headers=site.headers[who]).status_code == 200


def test_secretaries_see_the_counts_of_their_subtrees(site, client, session):
    receive(published(1, ["dadukou-d"], kind="study"))
    receive(published(2, ["dadukou-d"], audience="secretaries", deadline=format_time(SOON)))
    study, secret = _id(session, 1, site.tenant), _id(session, 2, site.tenant)
    _read(client, site, "member_b1", study, complete=True)
    _read(client, site, "member_b2", study)
    _read(client, site, "admin_c", study)  # no member record: not one of the members counted
    _read(client, site, "secretary_b1", secret, complete=True)

    def counts(who: str, directive_id: int) -> tuple[int, int, int] | int:
        r = client.get(f"/api/directives/{directive_id}/counts", headers=site.headers[who])
        return (r.json["targeted"], r.json["read"], r.json["completed"]) \
            if r.status_code == 200 else r.status_code

    assert counts("secretary_b1", study) == (2, 1, 1)  # B1: two members, one read
    assert counts("viewer_b2", study) == (1, 1, 0)
    assert counts("admin_c", study) == (3, 2, 1)
    assert counts("member_b1", study) == 403
    # Secretaries' items count the administrator accounts of the subtree.
    assert counts("secretary_b1", secret) == (1, 1, 1)
    assert counts("admin_c", secret) == (2, 1, 1)
    assert counts("viewer_b2", secret) == 404
    # A member who leaves the rolls no longer counts, nor does their read.
    with tenant_context(site.tenant.id):
        session.execute(sa.update(Member).where(Member.id == site.accounts["member_b2"].member_id)
                        .values(status=Status.transferred_out))
        session.commit()
    assert counts("admin_c", study) == (2, 1, 1)


def test_receipts_go_to_the_hub_when_the_counts_change(site, client, session, app):
    receive(published(11, ["dadukou-d", "jiulongpo-d"], kind="study"))
    receive(published(12, ["dadukou-d"]))
    tenant = session.get(Tenant, site.tenant.id)
    with transaction(db):
        assert len(services.report(tenant)) == 2  # never reported: both
    sent = [m for m in _outbox(session) if m.type == RECEIPT]
    assert {(m.tenant, m.destination, m.sequenced, m.data["directive_id"], m.data["targeted"],
             m.data["read"]) for m in sent} == {("dadukou-d", "hub", True, 11, 3, 0),
                                                ("dadukou-d", "hub", True, 12, 3, 0)}
    assert all(set(m.data) == {"directive_id", "targeted", "read", "completed", "as_of"}
               for m in sent)  # counts only, never a person
    with transaction(db):
        assert services.report(tenant) == []  # unchanged: nothing
    study = _id(session, 11, site.tenant)
    _read(client, site, "member_b1", study, complete=True)
    with transaction(db):
        ids = services.report(session.get(Tenant, site.tenant.id))
    (latest,) = [m for m in _outbox(session) if m.message_id in ids]
    assert (latest.data["directive_id"], latest.data["read"], latest.data["completed"]) == (
        11, 1, 1)
    with transaction(db):
        assert len(services.report(session.get(Tenant, site.tenant.id), force=True)) == 2
        services.apply_withdrawn({"directive_id": 12, "withdrawn_at": format_time(utcnow())})
        assert len(services.report(session.get(Tenant, site.tenant.id), force=True)) == 1
    # The operator's command: every tenant, one transaction each.
    from node.directives.cli import directives_group
    from shared.web.commands import fail_on_domain_error

    group = directives_group(make_app=lambda: app, on_domain_error=fail_on_domain_error)
    result = CliRunner().invoke(group, ["report"])
    assert result.exit_code == 0, result.output
    assert "dadukou-d: 0 receipt(s) queued" in result.output
    assert "jiulongpo-d: 1 receipt(s) queued" in result.output
    missing = CliRunner().invoke(group, ["report", "--tenant", "nowhere"])
    assert missing.exit_code != 0


# --- the pages --------------------------------------------------------------------------------


def sign_in(client, slug: str, username: str) -> None:
    page = client.get(f"/t/{slug}/login")
    token = CSRF.search(page.text).group(1)
    r = client.post(f"/t/{slug}/login", data={"csrf_token": token, "username": username,
                                              "password": PASSWORD})
    assert r.status_code == 303, r.text


def test_the_card_shows_pinned_directives_to_targeted_members_only(site, app, session):
    receive(published(1, ["dadukou-d"], title="关于开展主题党日的通知", pinned=True))
    receive(published(2, ["dadukou-d"], title="不置顶的通知"))
    member, stranger = app.test_client(), app.test_client()
    sign_in(member, "dadukou-d", "m1")
    card = member.get("/t/dadukou-d/me")
    assert card.status_code == 200
    assert "关于开展主题党日的通知" in card.text and "不置顶的通知" not in card.text
    assert "指示与学习" in card.text
    sign_in(stranger, "jiulongpo-d", "mx")
    other_card = stranger.get("/t/jiulongpo-d/me")
    assert other_card.status_code == 200 and "关于开展主题党日的通知" not in other_card.text
    listing = stranger.get("/t/jiulongpo-d/directives")
    assert listing.status_code == 200 and "关于开展主题党日的通知" not in listing.text
    foreign = _id(session, 1, site.tenant)
    assert stranger.get(f"/t/jiulongpo-d/directives/{foreign}").status_code == 404


def test_opening_a_directive_records_the_read_and_the_member_completes_it(site, app,
                                                                          session):
    receive(published(1, ["dadukou-d"], title="学习全会精神", kind="study", pinned=True,
                      body="第一段\n<script>alert(1)</script>"))
    directive_id = _id(session, 1, site.tenant)
    member = app.test_client()
    sign_in(member, "dadukou-d", "m1")
    page = member.get(f"/t/dadukou-d/directives/{directive_id}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert "标记为已完成" in page.text
    # Without the form's token nothing happens; with it, the completion is recorded.
    assert member.post(f"/t/dadukou-d/directives/{directive_id}/complete").status_code == 400
    done = member.post(f"/t/dadukou-d/directives/{directive_id}/complete",
                       data={"csrf_token": CSRF.search(page.text).group(1)})
    assert done.status_code == 303
    session.expire_all()
    with tenant_context(site.tenant.id):
        (row,) = session.scalars(sa.select(DirectiveRead)).all()
    assert row.account_id == site.accounts["member_b1"].id and row.completed_at is not None
    assert "已完成" in member.get(f"/t/dadukou-d/directives/{directive_id}").text
    # The secretary's list shows the counts of the branch: 2 members, 1 read, 1 completed.
    secretary = app.test_client()
    sign_in(secretary, "dadukou-d", "sec")
    listing = secretary.get("/t/dadukou-d/directives")
    assert listing.status_code == 200
    cells = re.findall(r'<td class="num">([^<]*)</td>', listing.text)
    assert cells == ["2", "1", "1"]
    assert "学习全会精神" in secretary.get("/t/dadukou-d/console").text
    own_list = member.get("/t/dadukou-d/directives").text
    assert "已完成" in own_list and '<td class="num">' not in own_list  # no counts for members
    assert member.get("/t/dadukou-d/directives/999999").status_code == 404


def test_the_relay_job_reports_changed_counts_and_keeps_going(site, session, monkeypatch):
    import threading

    from node.directives import cli

    class OneRound(threading.Event):
        """Stops the job after its first round (its wait between rounds)."""

        def wait(self, timeout: float | None = None) -> bool:
            self.set()
            return True

    receive(published(21, ["dadukou-d"]))
    cli.receipts_job(OneRound())
    assert [m.data["directive_id"] for m in _outbox(session) if m.type == RECEIPT] == [21]

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(cli, "report_all", broken)
    cli.receipts_job(OneRound())  # logged, not raised: the relay goes on
