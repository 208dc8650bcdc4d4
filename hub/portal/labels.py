"""Names of the portal's coded values in the page's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

KINDS = {"article": _l("Article"), "notice": _l("Notice")}
STAGES = {"applicant": _l("Applicants"), "activist": _l("Activists"),
          "candidate": _l("Candidates"), "probationary": _l("Probationary members"),
          "full": _l("Full members")}
METRICS = {
    "party_members": _l("Party members"),
    "full_members": _l("Full members"),
    "probationary_members": _l("Probationary members"),
    "pipeline": _l("Applicants, activists and candidates"),
    "orgs": _l("Organizations"),
    "full_share": _l("Share of full members"),
    "female_share": _l("Share of women"),
    "age_30_or_under_share": _l("Share aged 30 or under"),
    "over_60_share": _l("Share over 60"),
    "higher_education_share": _l("Share with higher education"),
    "floating_share": _l("Share of floating members"),
    "meetings_held": _l("Meetings held this year"),
    "compliance_rate": _l("Meetings held on time (compliance)"),
    "attendance_rate": _l("Meeting attendance rate"),
    "dues_in_arrears": _l("Members in arrears with dues"),
    "dues_paid_up_share": _l("Share of members with dues paid up"),
    "dues_collection_rate": _l("Dues collected of dues due"),
}
NODE_STATUSES = {"active": _l("Active"), "revoked": _l("Revoked")}
LEVELS = {"region": _l("Region"), "tenant": _l("Local organization"), "org": _l("Organization")}


def _label(names: dict[str, object], value: object) -> str:
    key = getattr(value, "value", value)
    return str(names.get(str(key), key or "—"))


def kind(value: object) -> str:
    return _label(KINDS, value)


def stage(value: object) -> str:
    return _label(STAGES, value)


def metric(value: object) -> str:
    return _label(METRICS, value)


def node_status(value: object) -> str:
    return _label(NODE_STATUSES, value)


def level(value: object) -> str:
    return _label(LEVELS, value)
