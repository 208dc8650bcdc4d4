"""Translated names of the domain's enumerations (org kinds, officer positions) for pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from node.orgs.models import OfficerPosition, OrgKind

ORG_KINDS = {
    OrgKind.committee: _l("Party committee"),
    OrgKind.general_branch: _l("General party branch"),
    OrgKind.branch: _l("Party branch"),
    OrgKind.joint_branch: _l("Joint party branch"),
    OrgKind.group: _l("Party group"),
}
OFFICER_POSITIONS = {
    OfficerPosition.secretary: _l("Secretary"),
    OfficerPosition.deputy_secretary: _l("Deputy secretary"),
    OfficerPosition.organization: _l("Organization committee member"),
    OfficerPosition.propaganda: _l("Publicity committee member"),
    OfficerPosition.discipline: _l("Discipline inspection committee member"),
    OfficerPosition.committee_member: _l("Committee member"),
    OfficerPosition.group_leader: _l("Group leader"),
}


def org_kind(kind: OrgKind | str) -> str:
    return str(ORG_KINDS[OrgKind(kind)])


def officer_position(position: OfficerPosition | str) -> str:
    return str(OFFICER_POSITIONS[OfficerPosition(position)])
