"""A small national network for the portal's tests: two nodes, three tenants, feed items
(one with markup in its title and body) and two days of statistics, all through the services
that the bus handlers call."""

from __future__ import annotations

import datetime as dt
from typing import Any

from federation.envelope import Envelope
from federation.keys import HUB, SigningKey, encode_base64, format_time
from federation.messages.content import PUBLISHED, content_hash
from federation.messages.stats import ORG_KINDS, SNAPSHOT, empty_members
from hub.db import db
from hub.feed import services as feed
from hub.nodes import services as nodes
from hub.stats import services as stats
from shared.db.session import transaction

T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
XSS = "<script>alert('x')</script>"
TENANTS = {"node-cq": [("dadukou", "500104", "中共大渡口区委员会"),
                       ("jiulongpo", "500107", "中共九龙坡区委员会")],
           "node-bj": [("dongcheng", "110101", "中共东城区委员会")]}
ITEMS = [  # (node, tenant, org code, kind, title, summary, body, days after T0, views)
    ("node-cq", "dadukou", "500104001", "article", "区委部署基层党建年度任务",
     "加强基层党建工作，推进党支部标准化建设。", "全区各级党组织要加强基层党建工作。\n第二段正文。", 0, 30),
    ("node-cq", "jiulongpo", "500107001", "notice", "关于开展主题党日活动的通知",
     "各党支部按时组织主题党日。", "请各党支部认真组织。", 1, 5),
    ("node-bj", "dongcheng", "110101001", "article", f"党建学习 {XSS}",
     f"摘要 {XSS}", f"正文 {XSS} 党建", 2, 12),
]


def _org(code: str, parent: str | None, kind: str, full: int, probationary: int,
         female: int) -> dict[str, Any]:
    members = empty_members()
    party = full + probationary
    members["by_stage"].update(full=full, probationary=probationary, activist=2, applicant=3)
    members["by_status"]["active"] = party
    members["by_gender"].update(female=female, male=party - female)
    members["by_age_band"]["41-50"] = party
    members["by_education"]["unknown"] = party
    members["by_party_age_band"]["unknown"] = party
    return {"code": code, "parent_code": parent, "kind": kind, "name": f"{XSS}组织{code}"
            if code == "110101001" else f"组织{code}", "members": members,
            "orgs_by_kind": dict.fromkeys(ORG_KINDS, 0)}


def _snapshot(prefix: str, day: int) -> list[dict[str, Any]]:
    return [_org(prefix, None, "committee", 2, 0, 1),
            _org(prefix + "001", prefix, "branch", 10 + day + len(prefix), 2, 5)]


def seed(hub_key: SigningKey, *, when: dt.datetime = T0) -> dict[str, int]:
    """Enroll the nodes and receive the items and snapshots; returns item ids by title."""
    for node_id, tenants in TENANTS.items():
        with transaction(db):
            _row, token = nodes.issue_token(node_id=node_id, allowed_prefixes=[
                prefix for _s, prefix, _n in tenants], region=None,
                ttl=dt.timedelta(days=7), created_by="seed")
        key = SigningKey.generate()
        with transaction(db):
            nodes.enroll(token=token, node_id=node_id, key_id=key.key_id,
                         public_key=encode_base64(key.public_bytes),
                         tenants=[{"slug": slug, "name": name, "code_prefix": prefix}
                                  for slug, prefix, name in tenants], hub_key=hub_key)
            nodes.record_heartbeat(node_id, at=when, version="1.0", backlog=0, lag_seconds=0)
    ids = {}
    for n, (node_id, slug, org, kind, title, summary, body, days, views) in enumerate(ITEMS):
        at = when + dt.timedelta(days=days)
        data = {"content_key": f"{slug}:{n + 1}", "org_code": org, "org_name": f"{slug}党委",
                "kind": kind, "title": title, "summary": summary, "body": body,
                "body_truncated": False, "published_at": format_time(at),
                "updated_at": format_time(at), "views": views, "likes": 1}
        data["content_hash"] = content_hash(data)
        with transaction(db):
            ids[title] = feed.apply_published(Envelope.create(
                PUBLISHED, source=node_id, destination=HUB, tenant=slug, data=data)).id
    for day in (1, 2):
        period = f"2025-03-0{day}"
        for node_id, tenants in TENANTS.items():
            for slug, prefix, _name in tenants:
                data = {"taken_at": f"{period}T02:00:00.000Z", "period": period, "chunk": 1,
                        "chunks": 1, "orgs": _snapshot(prefix, day)}
                with transaction(db):
                    stats.apply_snapshot_chunk(Envelope.create(
                        SNAPSHOT, source=node_id, destination=HUB, tenant=slug, data=data))
    return ids


CONSOLE_ADMIN = ("admin", "console-password-1")


def seed_console(settings: Any, hub_key: SigningKey) -> None:
    """For the console's browser test: an administrator, and a heartbeat of a node whose clock
    runs fast, held in the quarantine (releasable). The seeded nodes, last heard from on T0,
    are silent."""
    from federation.delivery import Consumer
    from federation.envelope import new_id, seal
    from federation.keys import utcnow
    from hub.accounts import services as accounts
    from hub.accounts.models import HubRole
    from hub.bus import services as bus

    with transaction(db):
        accounts.create_account(username=CONSOLE_ADMIN[0], display_name="总站管理员",
                                role=HubRole.administrator, password=CONSOLE_ADMIN[1],
                                created_by="seed")
        _row, token = nodes.issue_token(node_id="node-fast", allowed_prefixes=["440305"],
                                        ttl=dt.timedelta(days=1), created_by="seed")
    key = SigningKey.generate()
    with transaction(db):
        nodes.enroll(token=token, node_id="node-fast", key_id=key.key_id,
                     public_key=encode_base64(key.public_bytes),
                     tenants=[{"slug": "nanshan", "name": "中共南山区委员会",
                               "code_prefix": "440305"}], hub_key=hub_key)
    ahead = utcnow() + dt.timedelta(hours=2)
    body = seal(Envelope(id=new_id(), type="partynet.node.heartbeat.v1", source="node-fast",
                         destination=HUB, time=ahead, tenant=None, sequence=1,
                         data={"version": "2.0", "backlog": 0, "lag_seconds": 0,
                               "tenants": ["nanshan"]}), key)
    Consumer(bus.hub_party(settings)).handle(body)
