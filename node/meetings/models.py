"""Meetings of an organization, who was invited and who came, their files.

Times are UTC in the database; periods, calendars and the check-in window are reckoned in
China Standard Time (`LOCAL_TZ`, UTC+8 all year), where every tenant lives.
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.audit.models import Audited
from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import utcnow
from shared.db.base import code_type

#: China Standard Time: no daylight saving, so a fixed offset (no tz database needed).
LOCAL_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


class MeetingKind(enum.StrEnum):
    """三会一课 (member assembly, committee meeting, group meeting, party lecture), the theme
    day, the life meeting and talks."""

    member_assembly = "member_assembly"
    committee_meeting = "committee_meeting"
    group_meeting = "group_meeting"
    party_lecture = "party_lecture"
    theme_day = "theme_day"
    life_meeting = "life_meeting"
    talks = "talks"


class MeetingStatus(enum.StrEnum):
    scheduled = "scheduled"
    held = "held"
    cancelled = "cancelled"


class ReviewStatus(enum.StrEnum):
    """Review of a held meeting by the committee above, where the tenant asks for it."""

    none = "none"
    submitted = "submitted"
    approved = "approved"
    returned = "returned"


class AttendanceStatus(enum.StrEnum):
    invited = "invited"  # not marked yet (counts as absent once the meeting is held)
    present = "present"
    absent = "absent"
    excused = "excused"  # 请假: absent with leave, a reason is required


class CheckinMethod(enum.StrEnum):
    code = "code"  # the member entered the code or opened the QR link
    secretary = "secretary"  # marked on the attendance sheet


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=24, validate_strings=True)


class Meeting(TenantScoped, Audited, NodeModel):
    __tablename__ = "meetings"
    __audit_name__ = "meeting"
    #: Minutes may be long and the code is a secret of the room: neither goes to the log.
    __audit_exclude__ = frozenset({"minutes", "checkin_code", "org_code"})
    __table_args__ = (
        sa.Index("ix_meetings_org_code_starts_at", "org_code", "starts_at"),
        sa.Index("ix_meetings_starts_at_id", "starts_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"), index=True)
    #: Denormalised code of the holding org (kept in step by org moves): subtree filters and
    #: compliance roll-ups are index ranges.
    org_code: Mapped[str] = mapped_column(code_type(64))
    kind: Mapped[MeetingKind] = mapped_column(_enum(MeetingKind))
    title: Mapped[str] = mapped_column(sa.String(200))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    place: Mapped[str | None] = mapped_column(sa.String(200))
    online_url: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[MeetingStatus] = mapped_column(_enum(MeetingStatus),
                                                  default=MeetingStatus.scheduled)
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(500))
    #: Plain text; never rendered as HTML.
    minutes: Mapped[str] = mapped_column(sa.Text, default="")
    recording_url: Mapped[str | None] = mapped_column(sa.String(500))
    #: Six digits shown in the room (and in the QR link), valid during the meeting only.
    checkin_code: Mapped[str] = mapped_column(sa.String(6))
    review_status: Mapped[ReviewStatus] = mapped_column(_enum(ReviewStatus),
                                                        default=ReviewStatus.none)
    review_reason: Mapped[str | None] = mapped_column(sa.String(500))
    reviewed_at: Mapped[dt.datetime | None]
    reviewer_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    held_at: Mapped[dt.datetime | None]

    @property
    def recorded_afterwards(self) -> bool:
        """Entered after it ended (补录): shown as such, never hidden."""
        return self.created_at > self.ends_at

    def audit_scope(self) -> str:
        return self.org_code

    def __repr__(self) -> str:
        return f"<Meeting {self.id} {self.kind} {self.status}>"


class Attendance(TenantScoped, NodeModel):
    """One invitee of a meeting and whether they came (one row per member and meeting)."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    status: Mapped[AttendanceStatus] = mapped_column(_enum(AttendanceStatus),
                                                     default=AttendanceStatus.invited)
    reason: Mapped[str | None] = mapped_column(sa.String(300))
    method: Mapped[CheckinMethod | None] = mapped_column(_enum(CheckinMethod))
    checked_in_at: Mapped[dt.datetime | None]
    marked_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MeetingAttachment(TenantScoped, NodeModel):
    """A file of a meeting (minutes scan, sign-in sheet, photos), stored by content."""

    __tablename__ = "meeting_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(127))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CheckinFailure(NodeModel):
    """Failed check-in codes per key (a member, a meeting), for the attempt limit: the shape
    `shared.web.throttle.Throttle` counts in. Never the code entered."""

    __tablename__ = "meeting_checkin_failures"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[dt.datetime]
