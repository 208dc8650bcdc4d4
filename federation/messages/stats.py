"""Statistics snapshots, node -> hub: per-organization counts, never people.

One snapshot is what a tenant looked like on one day (`period`). It lists every live
organization of the tenant with the counts of its *own* members (not its subtree's: the hub rolls
up by code prefix) and of its direct child organizations by kind. A big tenant's snapshot is
split into chunks of at most `MAX_ORGS_PER_CHUNK` organizations; all chunks of one publication
share `taken_at`, and the hub uses the snapshot once every chunk has arrived.

Counts only: no member names, numbers, ids or national IDs ever appear in this message (org
names are public). The categories are the contract: the lists below, not the node's enums.
See docs/protocol.md ("partynet.stats.snapshot.v1") and docs/architecture.md ("Statistics").

`partynet.stats.snapshot.v2` is v1 plus, per organization, `life`: organizational life and
dues of the calendar year up to the snapshot date (meetings held, due and met per kind,
attendance, dues members and amounts in fen), counts and sums only. A registered type never
changes meaning, so this is a new type beside v1; the hub accepts both (v1: no `life`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar

from marshmallow import ValidationError, validate, validates_schema

from federation.messages.fields import Int, List, MessageSchema, Nested, Str, Time
from federation.messages.registry import register

__all__ = [
    "AGE_BANDS",
    "BREAKDOWNS",
    "EDUCATIONS",
    "GENDERS",
    "LIFE_BREAKDOWNS",
    "MAX_ORGS_PER_CHUNK",
    "MEETING_KINDS",
    "ORG_KINDS",
    "PARTY_AGE_BANDS",
    "SNAPSHOT",
    "SNAPSHOT_V2",
    "STAGES",
    "STATUSES",
    "Snapshot",
    "SnapshotV2",
]

SNAPSHOT = "partynet.stats.snapshot.v1"
SNAPSHOT_V2 = "partynet.stats.snapshot.v2"

#: At most this many organizations per message (about 300 KB of JSON at 500).
MAX_ORGS_PER_CHUNK = 500

#: People on the rolls (status other than transferred_out and left), by pipeline stage.
STAGES = ("applicant", "activist", "candidate", "probationary", "full")
#: Party members (probationary and full) by status, every status.
STATUSES = ("active", "floating", "lost_contact", "suspended", "transferred_out", "kept", "left")
#: The next four count party members (probationary and full) on the rolls.
GENDERS = ("male", "female")
#: Age in whole years on the snapshot date.
AGE_BANDS = ("<=30", "31-40", "41-50", "51-60", "61-70", ">70")
EDUCATIONS = ("primary", "junior_secondary", "senior_secondary", "vocational", "associate",
              "bachelor", "master", "doctorate", "unknown")
#: Party age (党龄) in whole years from admission (`admitted_on`) to the snapshot date.
PARTY_AGE_BANDS = ("<5", "5-9", "10-19", "20-29", ">=30", "unknown")
ORG_KINDS = ("committee", "general_branch", "branch", "joint_branch", "group")

#: The breakdowns of `members`, in order: name -> categories.
BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "by_stage": STAGES,
    "by_status": STATUSES,
    "by_gender": GENDERS,
    "by_age_band": AGE_BANDS,
    "by_education": EDUCATIONS,
    "by_party_age_band": PARTY_AGE_BANDS,
}

#: Meeting kinds (三会一课, the theme day, the life meeting, talks).
MEETING_KINDS = ("member_assembly", "committee_meeting", "group_meeting", "party_lecture",
                 "theme_day", "life_meeting", "talks")

#: The breakdowns of v2's `life`, in order: name -> keys. Of the calendar year up to the
#: snapshot date, for the organization itself (a branch's party groups folded into it):
#: - meetings_held: held meetings per kind (approved ones where the tenant reviews meetings);
#: - meetings_due / meetings_met: cadence windows ended (or met) and met, per kind;
#: - attendance: invitations to the held meetings: invited, present, excused (请假);
#: - dues: members with dues lines in the ended months (assessed), of them with every line
#:   paid or exempt (paid_up) and with some line unpaid (in_arrears); the amounts of those
#:   lines due and paid, in fen (1/100 yuan: integers, never floats).
LIFE_BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "meetings_held": MEETING_KINDS,
    "meetings_due": MEETING_KINDS,
    "meetings_met": MEETING_KINDS,
    "attendance": ("invited", "present", "excused"),
    "dues": ("assessed", "paid_up", "in_arrears", "due_fen", "paid_fen"),
}

_CODE = re.compile(r"[0-9]{6,64}")
_PERIOD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _counts(name: str, keys: tuple[str, ...]) -> type[MessageSchema]:
    """A strict object with exactly these keys, each a count (keys such as "<=30" are not
    Python names, hence `from_dict`)."""
    return MessageSchema.from_dict(
        {key: Int(required=True, validate=validate.Range(min=0)) for key in keys}, name=name)


class Code(Str):
    """An organization code: 6 to 64 digits."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _CODE.fullmatch(text) is None:
            raise ValidationError("Not an organization code (6 to 64 digits).")
        return text


class Period(Str):
    """A calendar date written YYYY-MM-DD."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if _PERIOD.fullmatch(text) is None:
                raise ValueError
            dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError("Not a date like 2025-03-01.") from None
        return text


class MemberCounts(MessageSchema):
    by_stage = Nested(_counts("StageCounts", STAGES), required=True)
    by_status = Nested(_counts("StatusCounts", STATUSES), required=True)
    by_gender = Nested(_counts("GenderCounts", GENDERS), required=True)
    by_age_band = Nested(_counts("AgeBandCounts", AGE_BANDS), required=True)
    by_education = Nested(_counts("EducationCounts", EDUCATIONS), required=True)
    by_party_age_band = Nested(_counts("PartyAgeBandCounts", PARTY_AGE_BANDS), required=True)


class OrgCounts(MessageSchema):
    code = Code(required=True)
    parent_code = Code(required=True, allow_none=True)
    kind = Str(required=True, validate=validate.OneOf(ORG_KINDS))
    name = Str(required=True, validate=validate.Length(min=1, max=120))
    members = Nested(MemberCounts, required=True)
    orgs_by_kind = Nested(_counts("KindCounts", ORG_KINDS), required=True)


class LifeCounts(MessageSchema):
    meetings_held = Nested(_counts("MeetingsHeld", MEETING_KINDS), required=True)
    meetings_due = Nested(_counts("MeetingsDue", MEETING_KINDS), required=True)
    meetings_met = Nested(_counts("MeetingsMet", MEETING_KINDS), required=True)
    attendance = Nested(_counts("AttendanceCounts", LIFE_BREAKDOWNS["attendance"]),
                        required=True)
    dues = Nested(_counts("DuesCounts", LIFE_BREAKDOWNS["dues"]), required=True)


class OrgCountsV2(OrgCounts):
    life = Nested(LifeCounts, required=True)


def _zeros(keys: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


def empty_members() -> dict[str, dict[str, int]]:
    """A `members` object with every count at zero."""
    return {name: _zeros(keys) for name, keys in BREAKDOWNS.items()}


def empty_life() -> dict[str, dict[str, int]]:
    """A `life` object with every count at zero."""
    return {name: _zeros(keys) for name, keys in LIFE_BREAKDOWNS.items()}


def _example() -> dict[str, Any]:
    members = empty_members()
    members["by_stage"].update(activist=1, probationary=1, full=4)
    members["by_status"].update(active=4, floating=1, transferred_out=1)
    members["by_gender"].update(male=2, female=3)
    members["by_age_band"].update({"<=30": 1, "31-40": 2, "51-60": 2})
    members["by_education"].update(bachelor=3, associate=1, unknown=1)
    members["by_party_age_band"].update({"<5": 1, "5-9": 2, ">=30": 2})
    root_kinds = _zeros(ORG_KINDS)
    root_kinds["branch"] = 1
    return {
        "taken_at": "2025-03-01T02:00:00.000Z",
        "period": "2025-03-01",
        "chunk": 1,
        "chunks": 1,
        "orgs": [
            {"code": "500104", "parent_code": None, "kind": "committee",
             "name": "中共大渡口区委员会", "members": empty_members(),
             "orgs_by_kind": root_kinds},
            {"code": "500104001", "parent_code": "500104", "kind": "branch",
             "name": "第一党支部", "members": members, "orgs_by_kind": _zeros(ORG_KINDS)},
        ],
    }


@register(SNAPSHOT)
class Snapshot(MessageSchema):
    """One chunk of a tenant's statistics snapshot (the envelope's `tenant`)."""

    taken_at = Time(required=True)
    period = Period(required=True)
    chunk = Int(required=True, validate=validate.Range(min=1))
    chunks = Int(required=True, validate=validate.Range(min=1, max=10_000))
    orgs = List(Nested(OrgCounts), required=True,
                validate=validate.Length(min=1, max=MAX_ORGS_PER_CHUNK))
    example: ClassVar[dict[str, Any]] = _example()

    @validates_schema
    def _chunk_within_chunks(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["chunk"] > data["chunks"]:
            raise ValidationError("chunk is beyond chunks.", "chunk")


def _example_v2() -> dict[str, Any]:
    example = _example()
    life = empty_life()
    life["meetings_held"].update(theme_day=8, committee_meeting=8, group_meeting=9)
    life["meetings_due"].update(theme_day=8, committee_meeting=8, member_assembly=2,
                                party_lecture=2, group_meeting=8)
    life["meetings_met"].update(theme_day=8, committee_meeting=7, group_meeting=8)
    life["attendance"].update(invited=120, present=104, excused=9)
    life["dues"].update(assessed=5, paid_up=4, in_arrears=1, due_fen=72000, paid_fen=69000)
    orgs = [{**example["orgs"][0], "life": empty_life()}, {**example["orgs"][1], "life": life}]
    return {**example, "orgs": orgs}


@register(SNAPSHOT_V2)
class SnapshotV2(Snapshot):
    """v1 with organizational life and dues per organization (`life`)."""

    orgs = List(Nested(OrgCountsV2), required=True,
                validate=validate.Length(min=1, max=MAX_ORGS_PER_CHUNK))
    example: ClassVar[dict[str, Any]] = _example_v2()
