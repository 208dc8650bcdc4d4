"""Statistics snapshots, node -> hub: per-organization counts, never people.

One snapshot is what a tenant looked like on one day (`period`). It lists every live
organization of the tenant with the counts of its *own* members (not its subtree's: the hub rolls
up by code prefix) and of its direct child organizations by kind. A big tenant's snapshot is
split into chunks of at most `MAX_ORGS_PER_CHUNK` organizations; all chunks of one publication
share `taken_at`, and the hub uses the snapshot once every chunk has arrived.

Counts only: no member names, numbers, ids or national IDs ever appear in this message (org
names are public). The categories are the contract: the lists below, not the node's enums.
See docs/protocol.md ("partynet.stats.snapshot.v1") and docs/architecture.md ("Statistics").
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
    "MAX_ORGS_PER_CHUNK",
    "ORG_KINDS",
    "PARTY_AGE_BANDS",
    "SNAPSHOT",
    "STAGES",
    "STATUSES",
    "Snapshot",
]

SNAPSHOT = "partynet.stats.snapshot.v1"

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


def _zeros(keys: tuple[str, ...]) -> dict[str, int]:
    return dict.fromkeys(keys, 0)


def empty_members() -> dict[str, dict[str, int]]:
    """A `members` object with every count at zero."""
    return {name: _zeros(keys) for name, keys in BREAKDOWNS.items()}


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
