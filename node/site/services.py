"""What the public site may show: organizations' public facts, never anything about members.

Everything leaves here as a small frozen view holding only public fields (name, kind, short
name, public description, founding date, officers' names and titles), so a template cannot
reach a member record or an internal field even by mistake.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from node.db import db
from node.orgs.models import OfficerPosition, Org, OrgKind
from node.orgs.services import list_officers
from node.tenants.models import Tenant
from node.tenants.services import list_tenants, root_org
from shared.codes import SEGMENT_WIDTH
from shared.errors import NotFound

#: Officers in the order a notice board lists them.
POSITION_ORDER = (OfficerPosition.secretary, OfficerPosition.deputy_secretary,
                  OfficerPosition.organization, OfficerPosition.propaganda,
                  OfficerPosition.discipline, OfficerPosition.committee_member,
                  OfficerPosition.group_leader)
#: Levels of the tree shown on the home page below the root; deeper ones on the org pages.
HOME_TREE_DEPTH = 2


@dataclasses.dataclass(frozen=True)
class PublicOrg:
    id: int
    name: str
    short_name: str | None
    kind: OrgKind
    public_description: str | None
    founded_on: dt.date | None


@dataclasses.dataclass(frozen=True)
class PublicOfficer:
    name: str
    position: OfficerPosition


@dataclasses.dataclass(frozen=True)
class TreeNode:
    org: PublicOrg
    children: tuple[TreeNode, ...] = ()
    #: Sub-organizations not shown here (below the depth shown).
    hidden_children: int = 0


@dataclasses.dataclass(frozen=True)
class OrgPage:
    org: PublicOrg
    ancestors: tuple[PublicOrg, ...]
    officers: tuple[PublicOfficer, ...]
    children: tuple[PublicOrg, ...]


@dataclasses.dataclass(frozen=True)
class PublicTenant:
    slug: str
    name: str


def _public(org: Org) -> PublicOrg:
    return PublicOrg(id=org.id, name=org.name, short_name=org.short_name, kind=org.kind,
                     public_description=org.public_description, founded_on=org.founded_on)


def _open_orgs() -> sa.Select[tuple[Org]]:
    return sa.select(Org).where(Org.dissolved_on.is_(None)).order_by(Org.code)


def public_tree(tenant: Tenant, depth: int = HOME_TREE_DEPTH) -> TreeNode:
    """The tenant's tree from the root down `depth` levels, in code order."""
    root = root_org(tenant)
    orgs = db.session.scalars(_open_orgs().where(Org.depth <= root.depth + depth)).all()
    edge = [org.id for org in orgs if org.depth == root.depth + depth]
    hidden = dict(db.session.execute(
        sa.select(Org.parent_id, sa.func.count()).where(Org.parent_id.in_(edge),
                                                        Org.dissolved_on.is_(None))
        .group_by(Org.parent_id)).all()) if edge else {}
    children: dict[int | None, list[Org]] = {}
    for org in orgs:
        children.setdefault(org.parent_id, []).append(org)

    def node(org: Org) -> TreeNode:
        return TreeNode(_public(org), tuple(node(c) for c in children.get(org.id, ())),
                        hidden.get(org.id, 0))

    return node(root)


def public_root(tenant: Tenant) -> PublicOrg:
    return _public(root_org(tenant))


def public_org_page(tenant: Tenant, org_id: int) -> OrgPage:
    """An organization's public page; a dissolved or unknown one is not found."""
    org = db.session.get(Org, org_id)
    if org is None or org.is_dissolved:
        raise NotFound("No such organization.")
    start = len(tenant.code_prefix)
    prefixes = [org.code[:end] for end in range(start, len(org.code), SEGMENT_WIDTH)]
    ancestors = db.session.scalars(sa.select(Org).where(Org.code.in_(prefixes))
                                   .order_by(Org.code)).all() if prefixes else []
    rank = {position: i for i, position in enumerate(POSITION_ORDER)}
    officers = sorted((PublicOfficer(o.name, o.position)
                       for o in list_officers(org, current_only=True)),
                      key=lambda o: (rank[o.position], o.name))
    kids = db.session.scalars(_open_orgs().where(Org.parent_id == org.id)).all()
    return OrgPage(org=_public(org), ancestors=tuple(_public(a) for a in ancestors),
                   officers=tuple(officers), children=tuple(_public(k) for k in kids))


def public_tenants() -> Sequence[PublicTenant]:
    """The tenants of this node, for the node's own front page."""
    return [PublicTenant(t.slug, t.name) for t in list_tenants()]
