"""Directives on the hub: drafts, target resolution, one message per node, withdrawal,
receipts (idempotent, latest wins), completion per node and per region, the CLI."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from federation.delivery import Consumer, Outcome
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, format_time, utcnow
from federation.messages.directives import PUBLISHED, RECEIPT, WITHDRAWN
from hub.accounts.models import HubRole
from hub.auth.principal import HubPrincipal
from hub.db import db
from hub.directives import services
from hub.directives.models import Directive, DirectiveStatus, DirectiveTarget, TargetKind
from hub.nodes import services as nodes
from shared.db.session import transaction
from shared.errors import Conflict, InvalidInput, NotFound

ADMIN = HubPrincipal(account_id=1, username="admin", role=HubRole.administrator)
AUDITOR = HubPrincipal(account_id=2, username="auditor", role=HubRole.auditor)
CHONGQING = HubPrincipal(account_id=3, username="cq", role=HubRole.region_viewer,
                         region_prefix="50")
ANHUI = HubPrincipal(account_id=4, username="ah", role=HubRole.region_viewer,
                     region_prefix="34")


@pytest.fixture()
def nodes_enrolled(network) -> dict[str, Any]:
    """node-a: dadukou (500104), jiulongpo (500107); node-b: tongguan (340705);
    node-c (revoked): yuzhong (500103)."""
    network.enroll("node-a", [("dadukou", "500104"), ("jiulongpo", "500107")])
    network.enroll("node-b", [("tongguan", "340705")])
    network.enroll("node-c", [("yuzhong", "500103")])
    with transaction(db):
        nodes.revoke_node("node-c", by="test")
    return {"keys": network.node_keys}


def _draft(**fields: Any) -> Directive:
    data = {"title": "学习贯彻全会精神", "body": "组织党员学习全会公报。", "kind": "study",
            "priority": "high", "pinned": True, **fields}
    with transaction(db):
        return services.create_directive(data, by="admin")


def _outbox(session) -> list[OutboxMessage]:
    """The directive messages queued (revoking node-c queued key revocations too)."""
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.type.in_([PUBLISHED, WITHDRAWN])).order_by(OutboxMessage.id)))


def _publish(directive: Directive) -> list[str]:
    with transaction(db):
        return services.publish(db.session.get(Directive, directive.id), by="admin")


@pytest.mark.parametrize(("target", "expected"), [
    ({"target_kind": TargetKind.all}, {"node-a/dadukou", "node-a/jiulongpo", "node-b/tongguan"}),
    ({"target_kind": TargetKind.region, "target_region": "50"},
     {"node-a/dadukou", "node-a/jiulongpo"}),
    ({"target_kind": TargetKind.region, "target_region": "500107"}, {"node-a/jiulongpo"}),
    ({"target_kind": TargetKind.region, "target_region": "34"}, {"node-b/tongguan"}),
    ({"target_kind": TargetKind.tenants, "target_tenants": ["node-b/tongguan",
                                                            "node-a/jiulongpo"]},
     {"node-a/jiulongpo", "node-b/tongguan"}),
])
def test_the_target_resolves_to_tenants_of_active_nodes(nodes_enrolled, target, expected):
    directive = _draft(**target)
    resolved = services.resolve_targets(directive)
    assert {f"{t.node_id}/{t.slug}" for t in resolved} == expected  # node-c is revoked


def test_publishing_queues_one_sequenced_message_per_node(nodes_enrolled, session):
    deadline = utcnow() + dt.timedelta(days=30)
    directive = _draft(deadline=deadline, links=[{"title": "公报", "url": "https://e.org/a"}])
    assert _outbox(session) == []  # a draft sends nothing
    ids = _publish(directive)
    assert len(ids) == 2
    out = _outbox(session)
    assert [(m.destination, m.type, m.sequenced, m.tenant) for m in out] == [
        ("node-a", PUBLISHED, True, None), ("node-b", PUBLISHED, True, None)]
    assert out[0].data["tenants"] == ["dadukou", "jiulongpo"]
    assert out[1].data["tenants"] == ["tongguan"]
    data = out[0].data
    assert (data["directive_id"], data["kind"], data["priority"], data["pinned"],
            data["audience"]) == (directive.id, "study", "high", True, "all")
    assert data["deadline"] == format_time(deadline)
    assert data["links"] == [{"title": "公报", "url": "https://e.org/a"}]
    session.expire_all()
    stored = session.get(Directive, directive.id)
    assert stored.status == DirectiveStatus.published and stored.published_by == "admin"
    assert session.scalar(sa.select(sa.func.count()).select_from(DirectiveTarget)) == 3
    with pytest.raises(Conflict), transaction(db):
        services.publish(session.get(Directive, directive.id), by="admin")
    assert len(_outbox(session)) == 2


def test_a_target_matching_no_tenant_is_refused_and_changes_nothing(nodes_enrolled, session):
    directive = _draft(target_kind=TargetKind.region, target_region="11")
    with pytest.raises(InvalidInput), transaction(db):
        services.publish(session.get(Directive, directive.id), by="admin")
    session.expire_all()
    assert session.get(Directive, directive.id).status == DirectiveStatus.draft
    assert _outbox(session) == []
    assert session.scalar(sa.select(sa.func.count()).select_from(DirectiveTarget)) == 0


@pytest.mark.parametrize(("fields", "field"), [
    ({"title": " "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"deadline": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "deadline"),
    ({"links": [{"title": "x", "url": "javascript:alert(1)"}]}, "links"),
    ({"links": [{"title": "", "url": "https://e.org"}]}, "links"),
    ({"target_kind": TargetKind.region, "target_region": "5a"}, "target_region"),
    ({"target_kind": TargetKind.tenants, "target_tenants": []}, "target_tenants"),
    ({"target_kind": TargetKind.tenants, "target_tenants": ["dadukou"]}, "target_tenants"),
    ({"target_kind": TargetKind.tenants, "target_tenants": ["node-a/nowhere"]},
     "target_tenants"),
    ({"target_kind": TargetKind.tenants, "target_tenants": ["node-c/yuzhong"]},
     "target_tenants"),
])
def test_bad_drafts_are_refused(nodes_enrolled, session, fields, field):
    with pytest.raises(InvalidInput) as refused, transaction(db):
        services.create_directive({"title": "通知", **fields}, by="admin")
    assert field in refused.value.errors
    assert session.scalar(sa.select(sa.func.count()).select_from(Directive)) == 0


def test_a_draft_is_edited_until_published(nodes_enrolled, session):
    directive = _draft()
    with transaction(db):
        services.update_directive(session.get(Directive, directive.id),
                                  {"title": "新标题", "target_kind": TargetKind.region,
                                   "target_region": "34"})
    session.expire_all()
    stored = session.get(Directive, directive.id)
    assert (stored.title, stored.target_kind, stored.target_region) == ("新标题", "region", "34")
    with pytest.raises(InvalidInput), transaction(db):
        services.update_directive(session.get(Directive, directive.id), {"title": ""})
    session.expire_all()
    assert session.get(Directive, directive.id).title == "新标题"
    _publish(directive)
    assert [m.destination for m in _outbox(session)] == ["node-b"]
    with pytest.raises(Conflict), transaction(db):
        services.update_directive(session.get(Directive, directive.id), {"title": "再改"})


def test_withdrawal_goes_to_every_node_it_was_sent_to(nodes_enrolled, session):
    directive = _draft()
    with pytest.raises(Conflict), transaction(db):
        services.withdraw(session.get(Directive, directive.id), by="admin")
    _publish(directive)
    with transaction(db):
        ids = services.withdraw(session.get(Directive, directive.id), by="admin2")
    assert len(ids) == 2
    withdrawn = [m for m in _outbox(session) if m.type == WITHDRAWN]
    assert [(m.destination, m.data["directive_id"]) for m in withdrawn] == [
        ("node-a", directive.id), ("node-b", directive.id)]
    session.expire_all()
    stored = session.get(Directive, directive.id)
    assert (stored.status, stored.withdrawn_by) == (DirectiveStatus.withdrawn, "admin2")
    with pytest.raises(Conflict), transaction(db):
        services.withdraw(stored, by="admin")


class Node:
    """A node sending sealed receipts to the hub, with its own stream sequence."""

    def __init__(self, key, consumer: Consumer, node_id: str) -> None:
        self.key, self.node_id, self.consumer, self.sequence = key, node_id, consumer, 0

    def receipt(self, tenant: str, directive_id: int, targeted: int, read: int,
                completed: int, as_of: dt.datetime) -> Outcome:
        self.sequence += 1
        data = {"directive_id": directive_id, "targeted": targeted, "read": read,
                "completed": completed, "as_of": format_time(as_of)}
        body = seal(Envelope(id=new_id(), type=RECEIPT, source=self.node_id, destination=HUB,
                             time=utcnow(), tenant=tenant, sequence=self.sequence, data=data),
                    self.key)
        return self.consumer.handle(body)


@pytest.fixture()
def published(nodes_enrolled, consumer) -> dict[str, Any]:
    directive = _draft()
    _publish(directive)
    keys = nodes_enrolled["keys"]
    return {"directive": directive, "a": Node(keys["node-a"], consumer, "node-a"),
            "b": Node(keys["node-b"], consumer, "node-b")}


T0 = dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC)


def _target(session, tenant: str) -> DirectiveTarget:
    session.expire_all()
    return session.scalars(sa.select(DirectiveTarget).where(DirectiveTarget.tenant == tenant)
                           ).one()


def test_receipts_are_idempotent_and_the_latest_wins(published, session):
    d, a = published["directive"], published["a"]
    assert a.receipt("dadukou", d.id, 100, 40, 10, T0) == Outcome.applied
    row = _target(session, "dadukou")
    assert (row.targeted, row.read, row.completed, row.as_of) == (100, 40, 10, T0)
    # A repeat (the same counts again, a new message) and an older one change nothing.
    assert a.receipt("dadukou", d.id, 100, 40, 10, T0) == Outcome.applied
    assert a.receipt("dadukou", d.id, 90, 5, 0, T0 - dt.timedelta(hours=1)) == Outcome.applied
    row = _target(session, "dadukou")
    assert (row.targeted, row.read, row.completed, row.as_of) == (100, 40, 10, T0)
    assert a.receipt("dadukou", d.id, 101, 60, 30, T0 + dt.timedelta(hours=1)) \
        == Outcome.applied
    row = _target(session, "dadukou")
    assert (row.targeted, row.read, row.completed) == (101, 60, 30)


def test_receipts_for_what_was_not_sent_are_quarantined(published, network, session):
    d, a, b = published["directive"], published["a"], published["b"]
    other = _draft(target_kind=TargetKind.region, target_region="34")
    _publish(other)
    # node-a was not sent `other` (the handler refuses: poison, quarantined, the stream goes
    # on); node-b does not host dadukou (refused before the handler).
    assert a.receipt("dadukou", other.id, 10, 1, 0, T0) == Outcome.applied
    assert a.receipt("dadukou", 999_999, 10, 1, 0, T0) == Outcome.applied
    assert b.receipt("dadukou", d.id, 10, 1, 0, T0) == Outcome.quarantined
    reasons = session.scalars(sa.select(QuarantinedMessage.reason)
                              .order_by(QuarantinedMessage.id)).all()
    assert reasons == ["handler_failed", "handler_failed", "tenant_not_owned"]
    assert _target(session, "dadukou").as_of is None


def test_completion_rolls_up_per_node_and_per_region(published, session):
    d, a, b = published["directive"], published["a"], published["b"]
    a.receipt("dadukou", d.id, 100, 50, 20, T0)
    a.receipt("jiulongpo", d.id, 300, 150, 30, T0)
    b.receipt("tongguan", d.id, 50, 50, 50, T0)
    directive = session.get(Directive, d.id)
    by_node = {c.key: c for c in services.completion_by_node(ADMIN, directive)}
    assert {k: (c.tenants, c.reported, c.targeted, c.read, c.completed)
            for k, c in by_node.items()} == {"node-a": (2, 2, 400, 200, 50),
                                            "node-b": (1, 1, 50, 50, 50)}
    assert by_node["node-a"].read_rate == 0.5 and by_node["node-b"].completion_rate == 1.0
    provinces = services.completion_by_region(ADMIN, directive, 2)
    assert [(c.key, c.targeted, c.read) for c in provinces] == [("34", 50, 50),
                                                                ("50", 400, 200)]
    counties = services.completion_by_region(AUDITOR, directive, 6)
    assert [c.key for c in counties] == ["340705", "500104", "500107"]
    total = services.completion_total(ADMIN, directive)
    assert (total.tenants, total.targeted, total.read, total.completed) == (3, 450, 250, 100)
    # A region viewer sees its own region only.
    assert [c.key for c in services.completion_by_node(CHONGQING, directive)] == ["node-a"]
    assert [c.key for c in services.completion_by_region(ANHUI, directive, 4)] == ["3407"]
    with pytest.raises(InvalidInput):
        services.completion_by_region(ADMIN, directive, 3)
    rows = services.csv_rows(CHONGQING, directive)
    assert rows[0] == services.CSV_HEADER
    assert [r[:7] for r in rows[1:]] == [["500104", "node-a", "dadukou", "500104", 100, 50, 20],
                                         ["500107", "node-a", "jiulongpo", "500107", 300, 150,
                                          30]]
    assert rows[1][7:9] == ["0.5000", "0.2000"]


def test_region_viewers_do_not_see_drafts(nodes_enrolled):
    draft = _draft()
    with pytest.raises(NotFound):
        services.readable(CHONGQING, draft.id)
    assert services.readable(AUDITOR, draft.id).id == draft.id
    assert services.list_directives(CHONGQING) == []
    assert [x.id for x in services.list_directives(AUDITOR)] == [draft.id]


def test_the_cli_writes_publishes_lists_and_shows(nodes_enrolled, app, session):
    from hub.directives.cli import directive_group
    from shared.web.commands import fail_on_domain_error

    group = directive_group(make_app=lambda: app, on_domain_error=fail_on_domain_error)
    runner = CliRunner()
    created = runner.invoke(group, ["create", "--title", "关于开展主题党日的通知",
                                    "--priority", "urgent", "--pinned", "--deadline",
                                    "2099-12-31", "--region", "50", "--by", "admin",
                                    "--link", "附件=https://e.org/f.pdf"])
    assert created.exit_code == 0, created.output
    directive = session.scalars(sa.select(Directive)).one()
    assert directive.deadline == dt.datetime(2099, 12, 31, 15, 59, 59, tzinfo=dt.UTC)
    assert directive.links == [{"title": "附件", "url": "https://e.org/f.pdf"}]
    published = runner.invoke(group, ["publish", str(directive.id), "--by", "admin"])
    assert published.exit_code == 0, published.output
    assert "published to 1 node(s)" in published.output
    again = runner.invoke(group, ["publish", str(directive.id), "--by", "admin"])
    assert again.exit_code != 0 and "Only a draft" in again.output
    listed = runner.invoke(group, ["list"])
    assert "关于开展主题党日的通知" in listed.output and "published" in listed.output
    shown = runner.invoke(group, ["show", str(directive.id), "--level", "6"])
    assert shown.exit_code == 0 and "node-a" in shown.output and "500107" in shown.output
    bad = runner.invoke(group, ["create", "--title", "x", "--deadline", "tomorrow",
                                "--by", "admin"])
    assert bad.exit_code != 0
    withdrawn = runner.invoke(group, ["withdraw", str(directive.id), "--by", "admin"])
    assert "withdrawn from 1 node(s)" in withdrawn.output
