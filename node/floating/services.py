"""Floating members (流动党员): certificates issued at home, accepted by a host, participation
recorded by the host; the organization relationship does not move.

Who may do what (records out of reach answer 404, as if they did not exist):

- **issue, cancel, end (home side)**: an org administrator over the member;
- **accept, decline, record participation, end (host side)**: an org administrator over the
  host organization, in the host's tenant;
- **read**: org viewers of the member's subtree (home side: the full certificate and the
  member's record) and of the host organization (host side: the limited view — name, number,
  stage, contact, home organization; never the national ID, which is never copied there).

The member stays counted at home, with the status `floating` while a certificate is active
(and `active` again when it ends). Participation at the host is kept on both sides and, when the
member was present, written to the member's activity record at home (kind `floating_meeting`).
It never enters the host's attendance sheet, so it counts in no tally, quorum or vote there:
a floating member takes part without a vote.

The two sides exchange steps (`issued`, `accepted`, `declined`, `participation`, `ended`)
through `_deliver`, which applies them to the other side's row in the same transaction when the
other tenant is on this node, and otherwise seals them for the other node and queues them to
the hub (`node.floating.remote`); the other node applies them with `apply_routed_step`, which
also checks that they come from the certificate's other side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from uuid6 import uuid7

from node.audit.recording import acting_as
from node.auth.principal import Principal, maybe_principal, set_principal
from node.auth.reach import require_reach, within
from node.db import db
from node.floating import remote
from node.floating.models import (
    EndReason,
    FloatingCertificate,
    FloatingParticipation,
    FloatingSide,
    FloatingStatus,
    ParticipationStatus,
)
from node.grants.models import Role
from node.meetings.models import LOCAL_TZ, Meeting, MeetingStatus
from node.members.models import ActivityEntry, Member, Stage, Status, StatusChange
from node.orgs.models import Org, OrgKind
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, current_tenant_id, tenant_context
from shared.codes import in_subtree
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

#: A certificate is valid for at most this long; it may be issued again afterwards.
MAX_VALIDITY = dt.timedelta(days=2 * 366)
#: Kinds of organization that hold members (and so may host a floating member).
HOLDING_KINDS = frozenset({OrgKind.branch, OrgKind.joint_branch, OrgKind.general_branch})
PARTY_STAGES = (Stage.probationary, Stage.full)
ACTIVITY_KIND = "floating_meeting"
STEPS = ("issued", "accepted", "declined", "participation", "ended")
#: Reasons a person may give for ending; the others are recorded by the node.
BY_HAND = frozenset({EndReason.returned, EndReason.cancelled})


def local_today() -> dt.date:
    return utcnow().astimezone(LOCAL_TZ).date()


# --- reading ----------------------------------------------------------------------------------


def _reach_clause(principal: Principal, role: Role) -> sa.ColumnElement[bool]:
    """SQL: certificates of this tenant within the principal's reach for `role`: the home side
    by the member's current org, the host side by the host org."""
    prefixes = principal.prefixes(role)
    members = sa.select(Member.id).where(within(Member.org_code, prefixes))
    return sa.or_(
        sa.and_(FloatingCertificate.side == FloatingSide.home,
                FloatingCertificate.member_id.in_(members)),
        sa.and_(FloatingCertificate.side == FloatingSide.host,
                within(FloatingCertificate.org_code, prefixes)))


def _scope_code(cert: FloatingCertificate) -> str:
    if cert.side == FloatingSide.home and cert.member_id is not None:
        member = db.session.get(Member, cert.member_id)
        if member is not None:
            return member.org_code
    return cert.org_code


def get_certificate(principal: Principal, certificate_id: int,
                    role: Role = Role.org_viewer) -> FloatingCertificate:
    """A certificate (either side) within reach for `role`; anything else is 404 (or 403 for
    one that may be read but not administered)."""
    cert = db.session.get(FloatingCertificate, certificate_id)
    if cert is None:
        raise NotFound("No such floating certificate.")
    code = _scope_code(cert)
    require_reach(principal, Role.org_viewer, code)
    if not principal.can(role, code):
        raise Forbidden("Only the organization's administrators do this.")
    return cert


def may_manage(principal: Principal, cert: FloatingCertificate) -> bool:
    return principal.can(Role.org_admin, _scope_code(cert))


@dataclasses.dataclass(frozen=True)
class CertificateFilter:
    side: FloatingSide | None = None
    status: FloatingStatus | None = None
    member_id: int | None = None


def list_certificates(principal: Principal, flt: CertificateFilter = CertificateFilter(), *,
                      after_id: int | None = None, limit: int = 200
                      ) -> Sequence[FloatingCertificate]:
    """Certificates within reach (both sides), the newest first."""
    query = sa.select(FloatingCertificate).where(_reach_clause(principal, Role.org_viewer))
    if flt.side is not None:
        query = query.where(FloatingCertificate.side == flt.side)
    if flt.status is not None:
        query = query.where(FloatingCertificate.status == flt.status)
    if flt.member_id is not None:
        query = query.where(FloatingCertificate.member_id == flt.member_id)
    if after_id is not None:
        query = query.where(FloatingCertificate.id < after_id)
    return db.session.scalars(query.order_by(FloatingCertificate.id.desc()).limit(limit)).all()


def own_certificates(principal: Principal) -> Sequence[FloatingCertificate]:
    """The signed-in member's own certificates (home side)."""
    if principal.member_id is None:
        raise NotFound("This account is not linked to a member record.")
    return db.session.scalars(
        sa.select(FloatingCertificate)
        .where(FloatingCertificate.side == FloatingSide.home,
               FloatingCertificate.member_id == principal.member_id)
        .order_by(FloatingCertificate.id.desc())).all()


def participations(cert: FloatingCertificate) -> Sequence[FloatingParticipation]:
    return db.session.scalars(
        sa.select(FloatingParticipation)
        .where(FloatingParticipation.certificate_id == cert.id)
        .order_by(FloatingParticipation.occurred_on.desc(), FloatingParticipation.id.desc())
    ).all()


@dataclasses.dataclass(frozen=True)
class HostTenant:
    """A tenant that may host: this node's (`node` None) or another node's, per the hub's
    tenant directory."""

    slug: str
    name: str
    node: str | None = None


def host_tenants() -> list[HostTenant]:
    """Tenants that may host, this node's first (node-wide: the picker shows their names),
    then those of other nodes from the tenant directory (a slug of ours hides an equal one)."""
    with all_tenants():
        local = [HostTenant(t.slug, t.name) for t in
                 db.session.scalars(sa.select(Tenant).order_by(Tenant.name))]
    slugs = {t.slug for t in local}
    others = [HostTenant(p.slug, p.name, p.node) for p in remote.known_tenants(db.session())
              if p.slug not in slugs]
    return local + others


def host_meetings(principal: Principal, cert: FloatingCertificate) -> Sequence[Meeting]:
    """Held meetings of the host organization (and its groups) during the certificate, for the
    host's participation form."""
    if cert.side != FloatingSide.host:
        return []
    require_reach(principal, Role.org_viewer, cert.org_code)
    end = min(cert.until, local_today()) + dt.timedelta(days=1)
    start = dt.datetime.combine(cert.starts_on, dt.time(0), tzinfo=LOCAL_TZ)
    stop = dt.datetime.combine(end, dt.time(0), tzinfo=LOCAL_TZ)
    return db.session.scalars(
        sa.select(Meeting).where(within(Meeting.org_code, [cert.org_code]),
                                 Meeting.status == MeetingStatus.held,
                                 Meeting.starts_at >= start, Meeting.starts_at < stop)
        .order_by(Meeting.starts_at.desc()).limit(200)).all()


# --- the two sides and their steps --------------------------------------------------------------


@contextlib.contextmanager
def _as_other_side(tenant: Tenant, origin: str) -> Iterator[None]:
    """Work in the other side's tenant, as the carrier rather than as this principal (its
    grants mean nothing there)."""
    principal = maybe_principal()
    set_principal(None)
    try:
        with tenant_context(tenant.id), acting_as(f"floating:{origin}"):
            yield
            db.session.flush()
    finally:
        set_principal(principal)


def _tenant(slug: str) -> Tenant | None:
    with all_tenants():
        return db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))


def _deliver(cert: FloatingCertificate, step: str, body: dict[str, Any]) -> None:
    """Send a step to the other side: applied at once when its tenant is on this node, else
    sealed for the other node and queued to the hub, in this transaction either way."""
    db.session.flush()
    other = cert.host_tenant_slug if cert.side == FloatingSide.home else cert.home_tenant_slug
    origin = cert.home_tenant_slug if cert.side == FloatingSide.home else cert.host_tenant_slug
    if cert.peer_node is not None:
        issued = None
        if step == "issued":
            issued = {"host_org_code": cert.host_org_code,
                      "starts_on": cert.starts_on.isoformat(), "until": cert.until.isoformat()}
        remote.send_step(db.session(), uid=cert.uid, step=step, from_side=cert.side.value,
                         from_tenant=origin, to_node=cert.peer_node, to_tenant=other,
                         body=body, issued=issued)
        return
    tenant = _tenant(other)
    if tenant is None:  # a same-node tenant that vanished is a bug
        raise Conflict("The other organization is not on this node.")
    with _as_other_side(tenant, origin):
        apply_step(uid=cert.uid,
                   side=FloatingSide.host if cert.side == FloatingSide.home
                   else FloatingSide.home, step=step, body=body)


def _side(uid: str, side: FloatingSide) -> FloatingCertificate | None:
    return db.session.scalar(sa.select(FloatingCertificate).where(
        FloatingCertificate.uid == uid, FloatingCertificate.side == side))


def apply_step(*, uid: str, side: FloatingSide, step: str, body: dict[str, Any]) -> None:
    """Apply a step from the other side to this tenant's `side` row. Idempotent: a duplicate
    or stale step changes nothing."""
    if step not in STEPS:
        raise InvalidInput(f"Unknown floating step {step!r}.")
    cert = _side(uid, side)
    if step == "issued":
        if cert is None and side == FloatingSide.host:
            _receive_issued(uid, body)
        return
    if cert is None:
        return
    if step == "accepted" and side == FloatingSide.home:
        if cert.status == FloatingStatus.pending:
            cert.status = FloatingStatus.active
            _host_named(cert, body)
            _member_floating(cert, True, body.get("on") or local_today().isoformat())
    elif step == "declined" and side == FloatingSide.home:
        if cert.status == FloatingStatus.pending:
            cert.status = FloatingStatus.declined
            cert.decline_reason = str(body.get("reason") or "")[:300]
            _host_named(cert, body)
    elif step == "participation" and side == FloatingSide.home:
        _store_participation(cert, body)
    elif step == "ended" and cert.is_open:
        _close(cert, EndReason(body["reason"]), dt.date.fromisoformat(body["on"]))


class StepRefused(Exception):
    """A step from another node that is not the certificate's other side's to send (another
    node or tenant, a body naming other tenants): refused, not applied."""


def apply_routed_step(*, uid: str, from_side: str, step: str, body: dict[str, Any],
                      sender_node: str, sender_tenant: str) -> None:
    """Apply a step another node sent (routed by the hub, the origin's signature checked) to
    this tenant's side, in its context. Only the node and tenant the certificate names as its
    other side may move it; `issued` makes the host side, or is declined at once when the code
    is not a branch of ours that may host (no host row is kept for it)."""
    side = FloatingSide.host if from_side == FloatingSide.home.value else FloatingSide.home
    cert = _side(uid, side)
    if cert is not None:
        other = cert.home_tenant_slug if side == FloatingSide.host else cert.host_tenant_slug
        if (cert.peer_node, other) != (sender_node, sender_tenant):
            raise StepRefused(f"certificate {uid} is not shared with {sender_node}/"
                              f"{sender_tenant}")
    if step != "issued" or cert is not None:
        apply_step(uid=uid, side=side, step=step, body=body)
        return
    if side != FloatingSide.host:
        raise StepRefused("only the home side issues a certificate")
    tenant_id = current_tenant_id()
    here = db.session.get(Tenant, tenant_id) if isinstance(tenant_id, int) else None
    if (body.get("home_tenant_slug") != sender_tenant or here is None
            or body.get("host_tenant_slug") != here.slug):
        raise StepRefused("the certificate names other tenants than its route")
    if _hosting_org(str(body.get("host_org_code") or "")) is None:
        remote.send_step(db.session(), uid=uid, step="declined",
                         from_side=FloatingSide.host.value, from_tenant=here.slug,
                         to_node=sender_node, to_tenant=sender_tenant,
                         body={"reason": "主办组织代码不是本单位可接收流动党员的党支部。"})
        return
    _receive_issued(uid, body, peer_node=sender_node)


def apply_undeliverable(*, uid: str, side: str, step: str, reason_code: str,
                        detail: str) -> bool:
    """The hub could not route our step (the other tenant is unknown, its node revoked): this
    side of the certificate ends as undeliverable, with the hub's detail, so it is not left
    waiting for an answer. True if something changed."""
    cert = _side(uid, FloatingSide(side))
    if cert is None or cert.peer_node is None:
        return False
    text = f"{step}: {reason_code}: {detail}"
    if cert.is_open:
        _close(cert, EndReason.undeliverable, local_today(), detail=text)
        return True
    if cert.end_detail is None:
        cert.end_detail = text[:300]
        return True
    return False


def _host_named(cert: FloatingCertificate, body: dict[str, Any]) -> None:
    """Home side: the host's own name for its organization (a host on another node is known
    by its code until it answers)."""
    name = body.get("host_org_name")
    if isinstance(name, str) and name.strip():
        cert.host_org_name = name.strip()[:120]


def _hosting_org(code: str) -> Org | None:
    """This tenant's organization `code` if it may host (a branch holding members)."""
    org = db.session.scalar(sa.select(Org).where(Org.code == code))
    if org is None or org.kind not in HOLDING_KINDS or org.is_dissolved:
        return None
    return org


def _receive_issued(uid: str, body: dict[str, Any], peer_node: str | None = None) -> None:
    host_org = db.session.scalar(sa.select(Org).where(Org.code == body["host_org_code"]))
    if host_org is None:
        raise InvalidInput("Unknown host organization.")
    db.session.add(FloatingCertificate(
        uid=uid, side=FloatingSide.host, number=body["number"], status=FloatingStatus.pending,
        org_code=host_org.code, member_id=None, member_name=body["member_name"],
        member_number=body["member_number"], member_stage=Stage(body["member_stage"]),
        member_phone=body.get("member_phone"), member_email=body.get("member_email"),
        home_tenant_slug=body["home_tenant_slug"], home_org_code=body["home_org_code"],
        home_org_name=body["home_org_name"], host_tenant_slug=body["host_tenant_slug"],
        host_tenant_name=body["host_tenant_name"], host_org_code=host_org.code,
        host_org_name=host_org.name, peer_node=peer_node,
        starts_on=dt.date.fromisoformat(body["starts_on"]),
        until=dt.date.fromisoformat(body["until"]), reason=body["reason"]))


def _member_floating(cert: FloatingCertificate, floating: bool, on: str) -> None:
    """Home side: the member's status follows the certificate (floating while active)."""
    member = db.session.get(Member, cert.member_id) if cert.member_id else None
    if member is None:
        return
    want, was = (Status.floating, Status.active) if floating else (Status.active,
                                                                   Status.floating)
    if member.status != was:
        return  # another workflow (a transfer, a suspension) set it: leave it alone
    if not floating and db.session.scalar(sa.select(FloatingCertificate.id).where(
            FloatingCertificate.member_id == member.id,
            FloatingCertificate.side == FloatingSide.home,
            FloatingCertificate.status == FloatingStatus.active,
            FloatingCertificate.id != cert.id)):
        return  # still floating under another certificate
    effective = dt.date.fromisoformat(on)
    last = db.session.scalar(sa.select(sa.func.max(StatusChange.effective_on))
                             .where(StatusChange.member_id == member.id))
    db.session.add(StatusChange(member_id=member.id, from_status=member.status, to_status=want,
                                effective_on=max(effective, last) if last else effective,
                                reason=f"流动党员活动证 {cert.number}"))
    member.status = want


def _store_participation(cert: FloatingCertificate, body: dict[str, Any]) -> None:
    """Upsert one participation line; at home, a present one is an activity-record line."""
    ref = str(body["meeting_ref"])
    row = db.session.scalar(sa.select(FloatingParticipation).where(
        FloatingParticipation.certificate_id == cert.id,
        FloatingParticipation.meeting_ref == ref))
    status = ParticipationStatus(body["status"])
    occurred_on = dt.date.fromisoformat(body["occurred_on"])
    recorded_at = (_aware(dt.datetime.fromisoformat(body["recorded_at"]))
                   if body.get("recorded_at") else utcnow())
    if row is None:
        row = FloatingParticipation(certificate_id=cert.id, meeting_ref=ref,
                                    meeting_id=body.get("meeting_id"), kind=body["kind"],
                                    title=body["title"], occurred_on=occurred_on,
                                    status=status, reason=body.get("reason"),
                                    recorded_at=recorded_at)
        db.session.add(row)
    elif _aware(row.recorded_at) > recorded_at:
        return  # an older line arriving late (a replay) does not undo a correction
    else:
        row.status, row.reason, row.recorded_at = status, body.get("reason"), recorded_at
    if cert.side != FloatingSide.home or cert.member_id is None:
        return
    source = f"floating:{cert.uid}:{ref}"[:80]
    entry = db.session.scalar(sa.select(ActivityEntry).where(
        ActivityEntry.member_id == cert.member_id, ActivityEntry.source == source))
    if status == ParticipationStatus.present and entry is None:
        db.session.add(ActivityEntry(
            member_id=cert.member_id, kind=ACTIVITY_KIND, occurred_on=occurred_on,
            title=f"{cert.host_org_name}: {body['title']}"[:200], source=source))
    elif status != ParticipationStatus.present and entry is not None:
        db.session.delete(entry)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _close(cert: FloatingCertificate, reason: EndReason, on: dt.date, *,
           detail: str | None = None, member_status: bool = True) -> None:
    was_active = cert.status == FloatingStatus.active
    cert.status, cert.end_reason, cert.ended_on = FloatingStatus.ended, reason, on
    if detail:
        cert.end_detail = detail[:300]
    if cert.side == FloatingSide.home and was_active and member_status:
        _member_floating(cert, False, on.isoformat())


# --- the home side ----------------------------------------------------------------------------


def _clean_text(value: str | None, field: str, *, required: bool = True,
                max_length: int = 300) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput("Required.", errors={field: ["Required."]})
        return None
    if len(text) > max_length:
        raise InvalidInput("Too long.", errors={field: ["Too long."]})
    return text


def _next_number(tenant: Tenant, year: int) -> str:
    """`<code prefix>-LD-<year>-<seq>` (LD: 流动), counted per home tenant and year."""
    prefix = f"{tenant.code_prefix}-LD-{year}-"
    last = db.session.scalar(sa.select(sa.func.max(FloatingCertificate.number)).where(
        FloatingCertificate.side == FloatingSide.home,
        FloatingCertificate.number.startswith(prefix, autoescape=True)))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:05d}"


@dataclasses.dataclass(frozen=True)
class _Host:
    slug: str
    name: str
    org_code: str
    org_name: str
    node: str | None  # None: on this node


def _host(slug: str, code: str) -> _Host:
    """The host organization addressed: checked here when its tenant is on this node; on
    another node only its code is checked here (the host declines a code it does not hold)."""
    host_tenant = _tenant(slug)
    if host_tenant is not None:
        with tenant_context(host_tenant.id):
            org = db.session.scalar(sa.select(Org).where(Org.code == code))
            found = (org.code, org.name, org.kind in HOLDING_KINDS and not org.is_dissolved
                     ) if org is not None else None
        if found is None:
            raise InvalidInput("No such organization there.",
                               errors={"host_org_code": ["Unknown organization."]})
        if not found[2]:
            raise InvalidInput("The host must be a branch that holds members.",
                               errors={"host_org_code": ["Not a branch."]})
        return _Host(host_tenant.slug, host_tenant.name, found[0], found[1], None)
    place = remote.locate_tenant(db.session(), slug)
    if place is None:
        raise InvalidInput("Unknown host organization department.",
                           errors={"host_tenant": ["Unknown."]})
    if not (code.isascii() and code.isdigit() and len(code) > len(place.code_prefix)
            and code.startswith(place.code_prefix)):
        raise InvalidInput("No such organization there.",
                           errors={"host_org_code": ["Unknown organization."]})
    # the host's name for it comes with its answer; until then the code stands for it
    return _Host(place.slug, place.name, code, code, place.node)


def issue_certificate(principal: Principal, tenant: Tenant, data: dict[str, Any],
                      today: dt.date | None = None) -> FloatingCertificate:
    """The home organization issues a certificate for one of its party members, addressed to
    a host organization (this tenant's, another tenant's on this node, or a tenant's of
    another node from the hub's directory); the host accepts."""
    today = today or local_today()
    member = db.session.get(Member, data["member_id"])
    if member is None or not principal.can(Role.org_admin, member.org_code):
        raise InvalidInput("No such member in your scope.",
                           errors={"member_id": ["Unknown member."]})
    if member.stage not in PARTY_STAGES:
        raise InvalidInput("Only party members (probationary or full) float.",
                           errors={"member_id": ["Not a party member."]})
    if member.status != Status.active:
        raise Conflict("Only an active member can be given a floating certificate.",
                       errors={"member_id": ["Not active."]})
    if db.session.scalar(sa.select(FloatingCertificate.id).where(
            FloatingCertificate.member_id == member.id,
            FloatingCertificate.side == FloatingSide.home,
            FloatingCertificate.status.in_((FloatingStatus.pending, FloatingStatus.active)))):
        raise Conflict("The member already holds an open floating certificate.",
                       errors={"member_id": ["Already floating."]})
    starts_on, until = data["starts_on"], data["until"]
    if until <= starts_on:
        raise InvalidInput("The end is before the start.", errors={"until": ["Before start."]})
    if until - starts_on > MAX_VALIDITY:
        raise InvalidInput("A certificate is valid for at most two years.",
                           errors={"until": ["Too long."]})
    if until < today:
        raise InvalidInput("The certificate would already be over.",
                           errors={"until": ["In the past."]})
    reason = _clean_text(data.get("reason"), "reason")
    host_slug = (data.get("host_tenant") or tenant.slug).strip()
    code = (data.get("host_org_code") or "").strip()
    host = _host(host_slug, code)
    home_org = db.session.get(Org, member.org_id)
    assert home_org is not None
    if host.node is None and host.slug == tenant.slug and host.org_code == home_org.code:
        raise InvalidInput("The host is the member's own organization.",
                           errors={"host_org_code": ["Own organization."]})
    # one number at a time per tenant (PostgreSQL: a row lock; SQLite serializes writers)
    db.session.execute(sa.select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    cert = FloatingCertificate(
        uid=str(uuid7()), side=FloatingSide.home, number=_next_number(tenant, starts_on.year),
        status=FloatingStatus.pending, org_code=member.org_code, member_id=member.id,
        member_name=member.name, member_number=member.member_number,
        member_stage=member.stage, member_phone=member.phone, member_email=member.email,
        home_tenant_slug=tenant.slug, home_org_code=home_org.code, home_org_name=home_org.name,
        host_tenant_slug=host.slug, host_tenant_name=host.name, host_org_code=host.org_code,
        host_org_name=host.org_name, peer_node=host.node, starts_on=starts_on, until=until,
        reason=reason or "", account_id=principal.account_id or None)
    db.session.add(cert)
    db.session.flush()
    _deliver(cert, "issued", {
        "number": cert.number, "member_name": cert.member_name,
        "member_number": cert.member_number, "member_stage": cert.member_stage.value,
        "member_phone": cert.member_phone, "member_email": cert.member_email,
        "home_tenant_slug": cert.home_tenant_slug, "home_org_code": cert.home_org_code,
        "home_org_name": cert.home_org_name, "host_tenant_slug": cert.host_tenant_slug,
        "host_tenant_name": cert.host_tenant_name, "host_org_code": cert.host_org_code,
        "starts_on": starts_on.isoformat(), "until": until.isoformat(), "reason": cert.reason})
    return cert


def end_certificate(principal: Principal, cert: FloatingCertificate, *,
                    reason: EndReason = EndReason.returned,
                    today: dt.date | None = None) -> FloatingCertificate:
    """Either side ends an open certificate: the home side cancels a pending one or records
    the member's return, the host records that the member left."""
    if not may_manage(principal, cert):
        raise Forbidden("Only the organization's administrators do this.")
    if not cert.is_open:
        raise Conflict("The certificate is no longer open.")
    if reason not in BY_HAND:
        raise InvalidInput("Expiry, a transfer and an undeliverable step are recorded by the "
                           "node, not by hand.", errors={"reason": ["Not allowed."]})
    if cert.status == FloatingStatus.pending and cert.side == FloatingSide.host:
        raise Conflict("Decline a pending certificate instead.")
    if cert.status == FloatingStatus.pending:
        reason = EndReason.cancelled
    on = today or local_today()
    _close(cert, reason, on)
    _deliver(cert, "ended", {"reason": reason.value, "on": on.isoformat()})
    return cert


def end_expired(today: dt.date | None = None) -> int:
    """End the current tenant's certificates whose validity has passed (a daily job): both
    sides, and the member is active at home again. Returns how many were ended."""
    today = today or local_today()
    due = db.session.scalars(sa.select(FloatingCertificate).where(
        FloatingCertificate.side == FloatingSide.home,
        FloatingCertificate.status.in_((FloatingStatus.pending, FloatingStatus.active)),
        FloatingCertificate.until < today)).all()
    for cert in due:
        _close(cert, EndReason.expired, cert.until)
        _deliver(cert, "ended", {"reason": EndReason.expired.value,
                                 "on": cert.until.isoformat()})
    return len(due)


# --- the host side ----------------------------------------------------------------------------


def _host_side(principal: Principal, cert: FloatingCertificate) -> None:
    if cert.side != FloatingSide.host:
        raise Conflict("This is done by the host organization.")
    if not principal.can(Role.org_admin, cert.org_code):
        raise Forbidden("Only the host organization's administrators do this.")


def accept_certificate(principal: Principal, cert: FloatingCertificate,
                       today: dt.date | None = None) -> FloatingCertificate:
    _host_side(principal, cert)
    if cert.status != FloatingStatus.pending:
        raise Conflict("Only a pending certificate can be accepted.")
    today = today or local_today()
    if cert.until < today:
        raise Conflict("The certificate has expired.")
    cert.status = FloatingStatus.active
    cert.account_id = principal.account_id or None
    _deliver(cert, "accepted", {"on": today.isoformat(), "host_org_name": cert.host_org_name})
    return cert


def decline_certificate(principal: Principal, cert: FloatingCertificate,
                        reason: str) -> FloatingCertificate:
    """Declining needs a reason (no organization refuses without cause); it goes home."""
    _host_side(principal, cert)
    if cert.status != FloatingStatus.pending:
        raise Conflict("Only a pending certificate can be declined.")
    text = _clean_text(reason, "reason")
    cert.status, cert.decline_reason = FloatingStatus.declined, text
    cert.account_id = principal.account_id or None
    _deliver(cert, "declined", {"reason": text, "host_org_name": cert.host_org_name})
    return cert


def record_participation(principal: Principal, cert: FloatingCertificate, *, meeting_id: int,
                         status: ParticipationStatus, reason: str | None = None
                         ) -> FloatingParticipation:
    """The host records the floating member at one of its held meetings (again: updates)."""
    _host_side(principal, cert)
    if cert.status != FloatingStatus.active:
        raise Conflict("Participation is recorded while the certificate is active.")
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None or not in_subtree(meeting.org_code, cert.org_code):
        raise InvalidInput("Not a meeting of the host organization.",
                           errors={"meeting_id": ["Unknown meeting."]})
    if meeting.status != MeetingStatus.held:
        raise Conflict("Only a meeting that took place can be recorded.")
    occurred_on = meeting.starts_at.astimezone(LOCAL_TZ).date()
    if not cert.starts_on <= occurred_on <= cert.until:
        raise InvalidInput("The meeting is outside the certificate's validity.",
                           errors={"meeting_id": ["Outside the validity."]})
    text = _clean_text(reason, "reason", required=status == ParticipationStatus.excused)
    body = {"meeting_ref": f"{cert.host_tenant_slug}:{meeting.id}", "meeting_id": None,
            "kind": meeting.kind.value, "title": meeting.title,
            "occurred_on": occurred_on.isoformat(), "status": status.value, "reason": text,
            "recorded_at": utcnow().isoformat()}
    _store_participation(cert, {**body, "meeting_id": meeting.id})
    db.session.flush()
    _deliver(cert, "participation", body)
    row = db.session.scalar(sa.select(FloatingParticipation).where(
        FloatingParticipation.certificate_id == cert.id,
        FloatingParticipation.meeting_ref == body["meeting_ref"]))
    assert row is not None
    return row


# --- leaving the rolls --------------------------------------------------------------------------


def end_for_member(member_id: int, tenant: Tenant, on: dt.date | None = None) -> int:
    """End every open certificate of a member who leaves `tenant`'s rolls (their relationship
    moved away: reason `transferred`) and tell each host, on this node or another. The
    member's status is left to the workflow that moves them. Returns how many were ended."""
    on = on or local_today()
    with tenant_context(tenant.id):
        certs = db.session.scalars(sa.select(FloatingCertificate).where(
            FloatingCertificate.side == FloatingSide.home,
            FloatingCertificate.member_id == member_id,
            FloatingCertificate.status.in_((FloatingStatus.pending, FloatingStatus.active)))
            .order_by(FloatingCertificate.id)).all()
        for cert in certs:
            _close(cert, EndReason.transferred, on, member_status=False)
            _deliver(cert, "ended", {"reason": EndReason.transferred.value,
                                     "on": on.isoformat()})
    return len(certs)
