"""Translated names of the domain's enumerations (org kinds, positions, stages, statuses,
education, roles) for pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from node.grants.models import Role
from node.members.models import Education, Gender, Stage, Status
from node.orgs.models import OfficerPosition, OrgKind
from shared.rules import RuleWarning

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


STAGES = {
    Stage.applicant: _l("Applicant"),
    Stage.activist: _l("Activist"),
    Stage.candidate: _l("Development candidate"),
    Stage.probationary: _l("Probationary member"),
    Stage.full: _l("Full member"),
}
STATUSES = {
    Status.active: _l("Active"),
    Status.floating: _l("Floating"),
    Status.lost_contact: _l("Lost contact"),
    Status.suspended: _l("Suspended"),
    Status.transferred_out: _l("Transferred out"),
    Status.kept: _l("Relation kept"),
    Status.left: _l("Left the party"),
}
EDUCATION = {
    Education.primary: _l("Primary school"),
    Education.junior_secondary: _l("Junior secondary school"),
    Education.senior_secondary: _l("Senior secondary school"),
    Education.vocational: _l("Vocational school"),
    Education.associate: _l("Junior college"),
    Education.bachelor: _l("Bachelor's degree"),
    Education.master: _l("Master's degree"),
    Education.doctorate: _l("Doctorate"),
}
GENDERS = {Gender.male: _l("Male"), Gender.female: _l("Female")}
ROLES = {
    Role.tenant_admin: _l("Organization department administrator"),
    Role.org_admin: _l("Organization administrator"),
    Role.org_viewer: _l("Viewer"),
    Role.member: _l("Member"),
}
#: How a stored history note from the system reads on a page.
HISTORY_NOTES = {"registered": _l("Registered"), "imported": _l("Imported")}


def _label(table: dict[Any, Any], enum: Any, value: Any) -> str:
    if value is None or value == "":
        return ""
    try:
        return str(table[enum(value)])
    except (ValueError, KeyError):
        return str(value)


def stage(value: Stage | str | None) -> str:
    return _label(STAGES, Stage, value)


def status(value: Status | str | None) -> str:
    return _label(STATUSES, Status, value)


def education(value: Education | str | None) -> str:
    return _label(EDUCATION, Education, value)


def gender(value: Gender | str | None) -> str:
    return _label(GENDERS, Gender, value)


def role(value: Role | str | None) -> str:
    return _label(ROLES, Role, value)


def history_note(value: str | None) -> str:
    if not value:
        return ""
    found = HISTORY_NOTES.get(value)
    return str(found) if found is not None else value


ENTITY_TYPES = {
    "member": _l("Member"),
    "org": _l("Organization"),
    "officer": _l("Officer"),
    "grant": _l("Role"),
    "account": _l("Account"),
    "tenant": _l("Settings"),
}
RULES = {
    "branch_min_full_members": _l("Fewest full members of a branch"),
    "branch_max_members": _l("Most members of a branch"),
    "general_branch_max_members": _l("Most members of a general branch"),
    "branch_committee_threshold": _l("Full members from which a branch elects a committee"),
    "branch_committee_min": _l("Smallest branch committee"),
    "branch_committee_max": _l("Largest branch committee"),
    "term_years_village": _l("Term of village and community organizations (years)"),
    "term_years_other": _l("Term of other organizations (years)"),
    "cadence_member_assembly": _l("Member assembly: every how many months"),
    "cadence_committee_meeting": _l("Committee meeting: every how many months"),
    "cadence_group_meeting": _l("Group meeting: every how many months"),
    "cadence_party_lecture": _l("Party lecture: every how many months"),
    "cadence_theme_day": _l("Theme day: every how many months"),
    "cadence_life_meeting": _l("Life meeting: every how many months"),
    "cadence_talks": _l("Talks: every how many months"),
    "inactivity_months": _l("Months without meetings before a branch is flagged"),
    "meeting_review": _l("Review of meetings by the committee above (1: yes, 0: no)"),
    "dues_backpay_months": _l("Dues: months that may be paid back at most"),
    "dues_ahead_months": _l("Dues: months that may be paid ahead at most"),
    "dues_reminder_months": _l("Dues: months unpaid before the member is reminded"),
    "dues_escalation_months": _l("Dues: months unpaid before the secretary is alerted"),
    "dues_farmer_fen": _l("Dues: farmers' monthly amount (fen, 20 to 100)"),
    "dues_large_threshold": _l("Dues: one-off payment that counts as large dues (yuan)"),
}


def entity(value: str | None) -> str:
    found = ENTITY_TYPES.get(value or "")
    return str(found) if found is not None else (value or "")


def rule(key: str) -> str:
    found = RULES.get(key)
    return str(found) if found is not None else key


#: Rule warnings (shared/rules.py) by code, in the reader's language; `%(...)s` are the
#: warning's own figures.
WARNINGS = {
    "branch-too-small": _l("A branch needs at least %(needed)s full members; this one has "
                           "%(full)s."),
    "branch-too-large": _l("A branch normally has at most %(most)s members; it has %(total)s."),
    "branch-committee-size": _l("A branch with %(full)s full members should have a committee "
                                "of %(low)s–%(high)s; it has %(size)s."),
    "general-branch-too-large": _l("A general branch normally has at most %(most)s members; "
                                   "it has %(total)s."),
    "term-overdue": _l("%(name)s's %(years)s-year term ended on %(ended)s; hold an election."),
    "stage-too-soon": _l("Normally at least %(needed)s months as %(stage)s; it has been "
                         "%(months)s."),
    "applicant-under-18": _l("Applicants must be at least 18 years old."),
}


def warning_text(warning: RuleWarning) -> str:
    """A rule warning in the reader's language (its English message if the code is new)."""
    template = WARNINGS.get(warning.code)
    if template is None:
        return warning.message
    params = {key: (format_date(value) if isinstance(value, dt.date)
                    else stage(value) if isinstance(value, Stage) else value)
              for key, value in warning.params.items()}
    return str(template) % params
