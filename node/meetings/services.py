"""Meetings: scheduling, invitations, check-in, attendance, minutes, review and compliance.

Who may do what (records out of reach answer 404, as if they did not exist):

- **schedule, edit, hold, cancel, mark attendance, attach, submit for review**: an org
  administrator of the meeting's org subtree (one who may only read it gets 403);
- **read**: org viewers (or stronger) of the subtree, and the members invited (they see the
  minutes, the recording and the files, never the attendance of others);
- **check in**: an invited member, with the meeting's code, during the meeting window
  (`CHECKIN_OPENS_BEFORE` before the start until the end); again changes nothing. Wrong codes
  are limited (`CHECKIN_MAX_FAILURES` per member, `CHECKIN_MEETING_MAX_FAILURES` per meeting,
  within `CHECKIN_WINDOW`): beyond, 429 until the window ends; a success clears the member's
  count. The failures are counted in their own transaction, never with the code entered;
- **approve or return** a submitted meeting: an org administrator of the committee above the
  meeting's org (where the tenant's `meeting_review` setting asks for review).

Invitees are fixed when the meeting is scheduled, from the org and the kind: the party members
(probationary and full, active or floating) of the org's subtree for an assembly, a lecture, a
theme day or a life meeting; the current officers for a committee meeting; the people named
for a group meeting (party groups hold no members of their own: by default the invitees of the
group's previous meeting) and for talks. The secretary may invite more on the sheet.

Compliance (`compliance`): see its docstring; the rules are in docs/user-guide.md too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from node.audit.recording import record
from node.auth.principal import Principal
from node.auth.reach import within
from node.content.services import (
    Download,
    blob_path,
    clean_content_type,
    clean_filename,
    store_blob,
)
from node.db import db
from node.grants.models import Role
from node.meetings.models import (
    LOCAL_TZ,
    Attendance,
    AttendanceStatus,
    CheckinFailure,
    CheckinMethod,
    Meeting,
    MeetingAttachment,
    MeetingKind,
    MeetingStatus,
    ReviewStatus,
)
from node.members.models import Member, Stage, Status
from node.orgs.models import Officer, OfficerPosition, Org, OrgKind
from node.tenants.models import Tenant
from shared.codes import SEGMENT_WIDTH
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.web.throttle import Throttle

log = logging.getLogger(__name__)

#: The check-in code works from this long before the start until the end.
CHECKIN_OPENS_BEFORE = dt.timedelta(minutes=30)
#: Wrong check-in codes allowed per member (all meetings) and per meeting (all members)
#: within the window; a six-digit code cannot be found by guessing within these.
CHECKIN_MAX_FAILURES = 5
CHECKIN_MEETING_MAX_FAILURES = 30
CHECKIN_WINDOW = 15 * 60  # seconds
#: The longest meeting (a theme day may take the day).
MAX_DURATION = dt.timedelta(hours=24)
#: How far back a meeting may be recorded (补录) and how far ahead scheduled.
MAX_BACKDATE = dt.timedelta(days=366)
MAX_AHEAD = dt.timedelta(days=2 * 366)
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
#: Files a meeting may keep: documents, scans and photos, audio of the meeting.
ATTACHMENT_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "text/plain",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "audio/mpeg", "audio/mp4",
})
PARTY_STAGES = (Stage.probationary, Stage.full)
#: Members who are invited: the active and the floating (流动党员 take part from afar).
INVITED_STATUSES = (Status.active, Status.floating)
#: Org kinds whose organizational life is tracked, and what each holds.
UNIT_KINDS = (OrgKind.branch, OrgKind.joint_branch, OrgKind.general_branch, OrgKind.group)
BRANCH_KINDS = frozenset({
    MeetingKind.member_assembly, MeetingKind.committee_meeting, MeetingKind.party_lecture,
    MeetingKind.theme_day, MeetingKind.life_meeting, MeetingKind.talks})
DUE_KINDS: dict[OrgKind, frozenset[MeetingKind]] = {
    OrgKind.branch: BRANCH_KINDS,
    OrgKind.joint_branch: BRANCH_KINDS,
    OrgKind.general_branch: frozenset({MeetingKind.committee_meeting}),
    OrgKind.group: frozenset({MeetingKind.group_meeting}),
}
#: Kinds an organization may hold for the branches below it: a party lecture or a theme day
#: of a committee or general branch counts as held for each branch whose members it invited.
#: Assemblies, committee and life meetings, talks are the branch's own business and do not.
SHARED_KINDS = frozenset({MeetingKind.party_lecture, MeetingKind.theme_day})
_CODE_RE = re.compile(r"^\d{6}$")


def now_utc() -> dt.datetime:
    return utcnow()


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(LOCAL_TZ).date()


def local_midnight(day: dt.date) -> dt.datetime:
    """The start of a local (China) day, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=LOCAL_TZ)


def new_checkin_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


# --- reading ----------------------------------------------------------------------------------


def _invited_ids(principal: Principal | None) -> sa.Select[Any] | None:
    if principal is None or principal.member_id is None:
        return None
    return sa.select(Attendance.meeting_id).where(Attendance.member_id == principal.member_id)


def visible_clause(principal: Principal) -> sa.ColumnElement[bool]:
    """SQL: the meetings this principal may read (viewers of the subtree, and invitees)."""
    viewer = within(Meeting.org_code, principal.prefixes(Role.org_viewer))
    invited = _invited_ids(principal)
    return sa.or_(viewer, Meeting.id.in_(invited)) if invited is not None else viewer


def is_invited(principal: Principal, meeting: Meeting) -> bool:
    if principal.member_id is None:
        return False
    return db.session.scalar(sa.select(Attendance.id).where(
        Attendance.meeting_id == meeting.id,
        Attendance.member_id == principal.member_id)) is not None


def may_read(principal: Principal, meeting: Meeting) -> bool:
    return principal.can(Role.org_viewer, meeting.org_code) or is_invited(principal, meeting)


def may_manage(principal: Principal, meeting: Meeting) -> bool:
    return principal.can(Role.org_admin, meeting.org_code)


def get_meeting(principal: Principal, meeting_id: int) -> Meeting:
    """A meeting the principal may read; 404 otherwise (existence is not revealed)."""
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None or not may_read(principal, meeting):
        raise NotFound()
    return meeting


def get_for_update(principal: Principal, meeting_id: int) -> Meeting:
    """A meeting the principal administers: 404 when unseen, 403 when only readable."""
    meeting = get_meeting(principal, meeting_id)
    if not may_manage(principal, meeting):
        raise Forbidden("Only the organization's administrators change its meetings.")
    return meeting


def list_meetings(principal: Principal, *, org_id: int | None = None,
                  kind: MeetingKind | None = None, status: MeetingStatus | None = None,
                  starts_from: dt.datetime | None = None, starts_before: dt.datetime | None = None,
                  after: tuple[dt.datetime, int] | None = None, limit: int = 50
                  ) -> Sequence[Meeting]:
    """Readable meetings in start order, optionally of an org's subtree and a time range."""
    query = sa.select(Meeting).where(visible_clause(principal))
    if org_id is not None:
        org = db.session.get(Org, org_id)
        if org is None:
            raise InvalidInput("Unknown organization.", errors={"org_id": ["Unknown."]})
        query = query.where(within(Meeting.org_code, [org.code]))
    if kind is not None:
        query = query.where(Meeting.kind == kind)
    if status is not None:
        query = query.where(Meeting.status == status)
    if starts_from is not None:
        query = query.where(Meeting.starts_at >= starts_from)
    if starts_before is not None:
        query = query.where(Meeting.starts_at < starts_before)
    if after is not None:
        query = query.where(sa.or_(Meeting.starts_at > after[0],
                                   sa.and_(Meeting.starts_at == after[0], Meeting.id > after[1])))
    return db.session.scalars(query.order_by(Meeting.starts_at, Meeting.id).limit(limit)).all()


def cursor_position(values: list[Any]) -> tuple[dt.datetime, int]:
    """The (start, id) a page continues after, from a decoded cursor; bad ones are a 422."""
    try:
        moment = dt.datetime.fromisoformat(values[0])
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput("The cursor is not valid.", errors={"cursor": ["Invalid cursor."]})
    return moment, values[1]


def org_names(meetings: Iterable[Meeting]) -> dict[int, str]:
    """Names of the meetings' orgs, in one query."""
    ids = {m.org_id for m in meetings}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Org.id, Org.name).where(Org.id.in_(ids))).all())


def own_attendance(principal: Principal, meeting: Meeting) -> Attendance | None:
    if principal.member_id is None:
        return None
    return db.session.scalar(sa.select(Attendance).where(
        Attendance.meeting_id == meeting.id, Attendance.member_id == principal.member_id))


@dataclasses.dataclass(frozen=True)
class SheetRow:
    attendance: Attendance
    name: str
    member_number: str


def attendance_sheet(principal: Principal, meeting: Meeting) -> list[SheetRow]:
    """Everyone invited and whether they came; for the org's viewers and administrators (an
    invitee who may only read the meeting gets 403: others' absences are not theirs)."""
    if not principal.can(Role.org_viewer, meeting.org_code):
        raise Forbidden("The attendance sheet is for the organization's secretaries.")
    rows = db.session.execute(
        sa.select(Attendance, Member.name, Member.member_number)
        .join(Member, Member.id == Attendance.member_id)
        .where(Attendance.meeting_id == meeting.id)
        .order_by(Member.name, Member.id)).all()
    return [SheetRow(a, name, number) for a, name, number in rows]


@dataclasses.dataclass(frozen=True)
class Tally:
    """Attendance counts: invited (due), present, excused and absent (unmarked included)."""

    invited: int = 0
    present: int = 0
    excused: int = 0

    @property
    def absent(self) -> int:
        return self.invited - self.present - self.excused

    @property
    def rate(self) -> float | None:
        return round(self.present / self.invited, 4) if self.invited else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.invited + other.invited, self.present + other.present,
                     self.excused + other.excused)


def tally(meeting: Meeting) -> Tally:
    present = sa.func.sum(sa.case((Attendance.status == AttendanceStatus.present, 1), else_=0))
    excused = sa.func.sum(sa.case((Attendance.status == AttendanceStatus.excused, 1), else_=0))
    row = db.session.execute(sa.select(sa.func.count(), present, excused)
                             .where(Attendance.meeting_id == meeting.id)).one()
    return Tally(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def attachments_of(meeting: Meeting) -> Sequence[MeetingAttachment]:
    return db.session.scalars(sa.select(MeetingAttachment)
                              .where(MeetingAttachment.meeting_id == meeting.id)
                              .order_by(MeetingAttachment.id)).all()


# --- scheduling -------------------------------------------------------------------------------


def _org_for_meetings(principal: Principal, org_id: int) -> Org:
    org = db.session.get(Org, org_id)
    if org is None or not principal.can(Role.org_admin, org.code):
        raise InvalidInput("Unknown organization, or not one you administer.",
                           errors={"org_id": ["Unknown organization."]})
    if org.dissolved_on is not None:
        raise InvalidInput("The organization is dissolved.", errors={"org_id": ["Dissolved."]})
    return org


def _check_kind(org: Org, kind: MeetingKind) -> None:
    if (kind == MeetingKind.group_meeting) != (org.kind == OrgKind.group):
        message = ("Group meetings are held by party groups."
                   if kind == MeetingKind.group_meeting
                   else "A party group holds group meetings only.")
        raise InvalidInput(message, errors={"kind": [message]})


def _check_times(starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput("The meeting ends before it starts.",
                           errors={"ends_at": ["Ends before it starts."]})
    if ends_at - starts_at > MAX_DURATION:
        raise InvalidInput("A meeting lasts at most 24 hours.",
                           errors={"ends_at": ["Longer than 24 hours."]})
    if starts_at < now - MAX_BACKDATE or starts_at > now + MAX_AHEAD:
        raise InvalidInput("Meetings are recorded up to a year back and scheduled up to two "
                           "years ahead.", errors={"starts_at": ["Out of range."]})


def _check_place(place: str | None, online_url: str | None) -> None:
    if not place and not online_url:
        raise InvalidInput("Give a place or an online link.",
                           errors={"place": ["A place or an online link is needed."]})


def _members_for(org: Org, kind: MeetingKind) -> list[int]:
    """Invitees derived from the org and the kind (see the module docstring)."""
    if kind == MeetingKind.committee_meeting:
        today = local_date(now_utc())
        return list(db.session.scalars(
            sa.select(Officer.member_id).distinct()
            .join(Member, Member.id == Officer.member_id)
            .where(Officer.org_id == org.id, Officer.member_id.is_not(None),
                   Officer.position != OfficerPosition.group_leader,
                   sa.or_(Officer.term_end.is_(None), Officer.term_end >= today),
                   Member.status.in_(INVITED_STATUSES))))
    if kind == MeetingKind.group_meeting:
        previous = db.session.scalar(
            sa.select(Meeting.id).where(Meeting.org_id == org.id,
                                        Meeting.kind == MeetingKind.group_meeting)
            .order_by(Meeting.starts_at.desc(), Meeting.id.desc()).limit(1))
        if previous is None:
            return []
        return list(db.session.scalars(
            sa.select(Attendance.member_id).join(Member, Member.id == Attendance.member_id)
            .where(Attendance.meeting_id == previous, Member.status.in_(INVITED_STATUSES))))
    if kind == MeetingKind.talks:
        return []
    return list(db.session.scalars(
        sa.select(Member.id).where(within(Member.org_code, [org.code]),
                                   Member.stage.in_(PARTY_STAGES),
                                   Member.status.in_(INVITED_STATUSES))))


def _invitable(org: Org) -> str:
    """The subtree whose members may be invited: a group's are its branch's."""
    return org.code[:-SEGMENT_WIDTH] if org.kind == OrgKind.group else org.code


def _named_members(org: Org, member_ids: Sequence[int]) -> list[int]:
    if not member_ids:
        return []
    wanted = set(member_ids)
    found = set(db.session.scalars(sa.select(Member.id).where(
        Member.id.in_(wanted), within(Member.org_code, [_invitable(org)]),
        Member.status.in_(INVITED_STATUSES))))
    if found != wanted:
        raise InvalidInput("Some invitees are not members of the organization.",
                           errors={"member_ids": ["Not members of the organization."]})
    return sorted(found)


def schedule_meeting(principal: Principal, data: dict[str, Any],
                     now: dt.datetime | None = None) -> Meeting:
    """Schedule (or record afterwards) a meeting of an org the principal administers and
    invite the right people."""
    now = now or now_utc()
    org = _org_for_meetings(principal, data["org_id"])
    kind = MeetingKind(data["kind"])
    _check_kind(org, kind)
    _check_times(data["starts_at"], data["ends_at"], now)
    _check_place(data.get("place"), data.get("online_url"))
    invitees = set(_members_for(org, kind)) | set(
        _named_members(org, data.get("member_ids") or []))
    if not invitees:
        message = ("The organization has no current officers recorded."
                   if kind == MeetingKind.committee_meeting else "Choose who is invited.")
        raise InvalidInput(message, errors={"member_ids": [message]})
    meeting = Meeting(org_id=org.id, org_code=org.code, kind=kind, title=data["title"],
                      starts_at=data["starts_at"], ends_at=data["ends_at"],
                      place=data.get("place") or None, online_url=data.get("online_url") or None,
                      minutes=data.get("minutes") or "",
                      recording_url=data.get("recording_url") or None,
                      checkin_code=new_checkin_code(), status=MeetingStatus.scheduled,
                      review_status=ReviewStatus.none,
                      created_by_account_id=principal.account_id or None, created_at=now)
    db.session.add(meeting)
    db.session.flush()
    db.session.execute(sa.insert(Attendance), [
        {"tenant_id": meeting.tenant_id, "meeting_id": meeting.id, "member_id": member_id,
         "status": AttendanceStatus.invited, "updated_at": now}
        for member_id in sorted(invitees)])
    return meeting


def _check_editable(meeting: Meeting) -> None:
    if meeting.status == MeetingStatus.cancelled:
        raise Conflict("The meeting was cancelled.")
    if meeting.review_status in (ReviewStatus.submitted, ReviewStatus.approved):
        raise Conflict("The meeting is under review or approved; its record is locked.")


_EDITABLE = ("title", "place", "online_url", "minutes", "recording_url")
_TIMES = ("starts_at", "ends_at")


def update_meeting(principal: Principal, meeting: Meeting, data: dict[str, Any],
                   now: dt.datetime | None = None) -> Meeting:
    """Edit a meeting: its times only while scheduled; the record until it is locked."""
    if not may_manage(principal, meeting):
        raise Forbidden("Only the organization's administrators change its meetings.")
    _check_editable(meeting)
    now = now or now_utc()
    if any(name in data and data[name] is not None for name in _TIMES):
        if meeting.status != MeetingStatus.scheduled:
            raise Conflict("A held meeting keeps its time.")
        starts = data.get("starts_at") or meeting.starts_at
        ends = data.get("ends_at") or meeting.ends_at
        _check_times(starts, ends, now)
        meeting.starts_at, meeting.ends_at = starts, ends
    for name in _EDITABLE:
        if name not in data:
            continue
        value = data[name]
        if name == "title":
            meeting.title = value or meeting.title
        elif name == "minutes":
            meeting.minutes = value or ""
        else:
            setattr(meeting, name, value or None)
    _check_place(meeting.place, meeting.online_url)
    db.session.flush()
    return meeting


def hold_meeting(principal: Principal, meeting: Meeting,
                 now: dt.datetime | None = None) -> Meeting:
    """Record that the meeting took place (once it has started)."""
    if not may_manage(principal, meeting):
        raise Forbidden("Only the organization's administrators change its meetings.")
    now = now or now_utc()
    if meeting.status != MeetingStatus.scheduled:
        raise Conflict("Only a scheduled meeting can be marked as held.")
    if now < meeting.starts_at:
        raise Conflict("The meeting has not started yet.")
    meeting.status = MeetingStatus.held
    meeting.held_at = now
    db.session.flush()
    return meeting


def cancel_meeting(principal: Principal, meeting: Meeting, reason: str) -> Meeting:
    if not may_manage(principal, meeting):
        raise Forbidden("Only the organization's administrators change its meetings.")
    if meeting.status != MeetingStatus.scheduled:
        raise Conflict("Only a scheduled meeting can be cancelled.")
    if not reason.strip():
        raise InvalidInput("Give the reason.", errors={"reason": ["Required."]})
    meeting.status = MeetingStatus.cancelled
    meeting.cancel_reason = reason.strip()
    db.session.flush()
    return meeting


# --- attendance and check-in --------------------------------------------------------------------


def mark_attendance(principal: Principal, meeting: Meeting, member_id: int,
                    status: AttendanceStatus, reason: str | None = None,
                    now: dt.datetime | None = None) -> Attendance:
    """The secretary marks one invitee (a member of the org not invited yet is added)."""
    if not may_manage(principal, meeting):
        raise Forbidden("Only the organization's administrators keep the attendance sheet.")
    _check_editable(meeting)
    now = now or now_utc()
    reason = (reason or "").strip() or None
    if status == AttendanceStatus.excused and not reason:
        raise InvalidInput("Leave needs a reason.", errors={"reason": ["Required."]})
    if status == AttendanceStatus.present and now < meeting.starts_at - CHECKIN_OPENS_BEFORE:
        raise Conflict("Nobody can be present before the meeting starts.")
    row = db.session.scalar(sa.select(Attendance).where(Attendance.meeting_id == meeting.id,
                                                        Attendance.member_id == member_id))
    if row is None:
        org = db.session.get(Org, meeting.org_id)
        assert org is not None
        _named_members(org, [member_id])
        row = Attendance(meeting_id=meeting.id, member_id=member_id,
                         status=AttendanceStatus.invited, updated_at=now)
        db.session.add(row)
    before = {"status": str(row.status), "reason": row.reason}
    if before == {"status": str(status), "reason": reason}:
        return row
    row.status, row.reason, row.updated_at = status, reason, now
    if status == AttendanceStatus.present:
        row.method = row.method or CheckinMethod.secretary
        row.checked_in_at = row.checked_in_at or now
    else:
        row.method, row.checked_in_at = None, None
    row.marked_by_account_id = principal.account_id or None
    db.session.flush()
    record(db.session(), action="meeting.attendance", entity_type="meeting",
           entity_id=meeting.id, scope_code=meeting.org_code, before=before,
           after={"member_id": member_id, "status": str(status), "reason": reason})
    return row


def checkin_open(meeting: Meeting, now: dt.datetime) -> bool:
    return (meeting.status != MeetingStatus.cancelled
            and meeting.starts_at - CHECKIN_OPENS_BEFORE <= now <= meeting.ends_at)


class WrongCheckinCode(InvalidInput):
    """A code that is not the meeting's: the caller rolls back, then counts the failure in its
    own transaction (`note_checkin_failure`) so that it holds."""

    def __init__(self, detail: str, meeting_ids: Sequence[int]) -> None:
        super().__init__(detail, errors={"code": ["Wrong code."]})
        self.meeting_ids = list(meeting_ids)


#: Failed check-in codes, counted in `meeting_checkin_failures`.
checkin_throttle = Throttle(db, CheckinFailure)


def _checkin_keys(principal: Principal, meeting_ids: Iterable[int]) -> tuple[str, list[str]]:
    member = f"checkin:member:{principal.tenant_id}:{principal.member_id}"
    return member, [f"checkin:meeting:{principal.tenant_id}:{i}" for i in meeting_ids]


def _check_attempts(principal: Principal, meeting_ids: Iterable[int]) -> None:
    """Refuse (429, Retry-After) a member, or a meeting, over its limit of wrong codes, before
    any code is compared."""
    member_key, meeting_keys = _checkin_keys(principal, meeting_ids)
    checkin_throttle.check([member_key], max_failures=CHECKIN_MAX_FAILURES,
                           window=CHECKIN_WINDOW)
    checkin_throttle.check(meeting_keys, max_failures=CHECKIN_MEETING_MAX_FAILURES,
                           window=CHECKIN_WINDOW)


def note_checkin_failure(principal: Principal, meeting_ids: Sequence[int]) -> int:
    """Count a wrong code for the member and for each meeting it may have been meant for
    (call it in a transaction of its own, after the refused one rolled back). Returns the
    attempts the member has left in the window."""
    member_key, meeting_keys = _checkin_keys(principal, meeting_ids)
    checkin_throttle.note([member_key, *meeting_keys], window=CHECKIN_WINDOW)
    failures = db.session.get(CheckinFailure, member_key)
    left = max(CHECKIN_MAX_FAILURES - (failures.failures if failures else 0), 0)
    if left == 0:
        log.warning("check-in codes locked for member %s of tenant %s (meetings %s)",
                    principal.member_id, principal.tenant_id, list(meeting_ids))
    return left


def check_in(principal: Principal, meeting_id: int, code: str,
             now: dt.datetime | None = None) -> Attendance:
    """An invited member checks in with the code shown at the meeting; once is enough (again
    changes nothing). Wrong codes are limited per member and per meeting."""
    now = now or now_utc()
    meeting = get_meeting(principal, meeting_id)
    row = own_attendance(principal, meeting)
    if row is None:
        raise Forbidden("You are not invited to this meeting.")
    if row.status == AttendanceStatus.present:
        return row
    if not checkin_open(meeting, now):
        raise Conflict("Check-in is open from 30 minutes before the start until the end.")
    _check_attempts(principal, [meeting.id])
    if not secrets.compare_digest(code.strip(), meeting.checkin_code):
        raise WrongCheckinCode("The code is not this meeting's.", [meeting.id])
    if meeting.review_status in (ReviewStatus.submitted, ReviewStatus.approved):
        raise Conflict("The meeting is under review or approved; its record is locked.")
    row.status, row.reason, row.method = AttendanceStatus.present, None, CheckinMethod.code
    row.checked_in_at = row.updated_at = now
    row.marked_by_account_id = principal.account_id or None
    member_key, _meetings = _checkin_keys(principal, [])
    checkin_throttle.clear([member_key])
    db.session.flush()
    return row


def find_open_invitation(principal: Principal, code: str,
                         now: dt.datetime | None = None) -> Meeting:
    """The meeting, among the member's invitations open for check-in now, with this code (a
    member who only knows the code shown in the room). A wrong code counts against the member
    and every meeting it may have been meant for."""
    now = now or now_utc()
    if principal.member_id is None:
        raise NotFound("This account is not linked to a member record.")
    candidates = db.session.scalars(
        sa.select(Meeting).join(Attendance, Attendance.meeting_id == Meeting.id)
        .where(Attendance.member_id == principal.member_id,
               Meeting.status != MeetingStatus.cancelled,
               Meeting.starts_at <= now + CHECKIN_OPENS_BEFORE, Meeting.ends_at >= now)).all()
    _check_attempts(principal, [meeting.id for meeting in candidates])
    if not _CODE_RE.match(code.strip()):
        raise InvalidInput("Enter the 6 digits shown at the meeting.",
                           errors={"code": ["Wrong code."]})
    for meeting in candidates:
        if secrets.compare_digest(code.strip(), meeting.checkin_code):
            return meeting
    raise WrongCheckinCode("No meeting of yours is open for check-in with this code.",
                           [meeting.id for meeting in candidates])


# --- review by the committee above ------------------------------------------------------------


def review_required(tenant: Tenant) -> bool:
    return bool(tenant.rule("meeting_review"))


def parent_code(meeting: Meeting, tenant: Tenant) -> str | None:
    code = meeting.org_code
    return code[:-SEGMENT_WIDTH] if len(code) > len(tenant.code_prefix) else None


def may_review(principal: Principal, meeting: Meeting, tenant: Tenant) -> bool:
    parent = parent_code(meeting, tenant)
    return parent is not None and principal.can(Role.org_admin, parent)


def submit_for_review(principal: Principal, meeting: Meeting, tenant: Tenant) -> Meeting:
    if not may_manage(principal, meeting):
        raise Forbidden("Only the organization's administrators submit its meetings.")
    if not review_required(tenant):
        raise Conflict("This organization department does not review meetings.")
    if meeting.status != MeetingStatus.held:
        raise Conflict("Only a held meeting can be submitted for review.")
    if meeting.review_status not in (ReviewStatus.none, ReviewStatus.returned):
        raise Conflict("The meeting is already under review or approved.")
    if not meeting.minutes.strip():
        raise InvalidInput("Write the minutes first.", errors={"minutes": ["Required."]})
    meeting.review_status, meeting.review_reason = ReviewStatus.submitted, None
    db.session.flush()
    return meeting


def decide_review(principal: Principal, meeting: Meeting, tenant: Tenant, *, approve: bool,
                  reason: str | None = None, now: dt.datetime | None = None) -> Meeting:
    """The committee above approves the record, or returns it with a reason to correct."""
    if not may_review(principal, meeting, tenant):
        raise Forbidden("Meetings are reviewed by the administrators of the committee above.")
    if meeting.review_status != ReviewStatus.submitted:
        raise Conflict("The meeting is not awaiting review.")
    reason = (reason or "").strip() or None
    if not approve and not reason:
        raise InvalidInput("Say what to correct.", errors={"reason": ["Required."]})
    meeting.review_status = ReviewStatus.approved if approve else ReviewStatus.returned
    meeting.review_reason = reason
    meeting.reviewed_at = now or now_utc()
    meeting.reviewer_account_id = principal.account_id or None
    db.session.flush()
    return meeting


# --- attachments ------------------------------------------------------------------------------


def add_attachment(principal: Principal, meeting: Meeting, stream: IO[bytes], *,
                   filename: str | None, content_type: str | None, root: Path,
                   max_bytes: int = MAX_ATTACHMENT_BYTES) -> MeetingAttachment:
    """Store a file by its SHA-256 under `root` (the file before the row: a rolled-back request
    leaves at most an orphan blob); documents, images and audio only, at most `max_bytes`."""
    if not may_manage(principal, meeting):
        raise Forbidden("Only the organization's administrators attach files.")
    _check_editable(meeting)
    kind = clean_content_type(content_type)
    if kind not in ATTACHMENT_TYPES:
        raise InvalidInput("Attach documents, images or audio (PDF, Word, Excel, images, ...).",
                           errors={"file": ["This type of file is not accepted."]})
    sha, size = store_blob(root, stream, max_bytes)
    attachment = MeetingAttachment(meeting_id=meeting.id, filename=clean_filename(filename),
                                   content_type=kind, size=size, sha256=sha)
    db.session.add(attachment)
    db.session.flush()
    return attachment


def get_attachment(principal: Principal, meeting_id: int, attachment_id: int,
                   root: Path) -> Download:
    meeting = get_meeting(principal, meeting_id)
    attachment = db.session.get(MeetingAttachment, attachment_id)
    if attachment is None or attachment.meeting_id != meeting.id:
        raise NotFound()
    path = blob_path(root, attachment.sha256)
    if not path.is_file():
        raise NotFound("The file of this attachment is missing.")
    return Download(path=path, filename=attachment.filename,
                    content_type=attachment.content_type, size=attachment.size)


# --- the member's own meetings (the activity card) ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class MemberMeetings:
    """Meetings a member was invited to: held ones counted, the latest listed."""

    tally: Tally
    items: list[tuple[Meeting, Attendance]]


def member_meetings(member_id: int, limit: int = 50) -> MemberMeetings:
    present = sa.func.sum(sa.case((Attendance.status == AttendanceStatus.present, 1), else_=0))
    excused = sa.func.sum(sa.case((Attendance.status == AttendanceStatus.excused, 1), else_=0))
    row = db.session.execute(
        sa.select(sa.func.count(), present, excused)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(Attendance.member_id == member_id, Meeting.status == MeetingStatus.held)).one()
    items = db.session.execute(
        sa.select(Meeting, Attendance).join(Attendance, Attendance.meeting_id == Meeting.id)
        .where(Attendance.member_id == member_id, Meeting.status != MeetingStatus.cancelled)
        .order_by(Meeting.starts_at.desc(), Meeting.id.desc()).limit(limit)).all()
    return MemberMeetings(Tally(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)),
                          [(m, a) for m, a in items])


# --- periods ----------------------------------------------------------------------------------

_PERIOD_RE = re.compile(r"^(\d{4})(?:-(?:Q([1-4])|(0[1-9]|1[0-2])))?$")


@dataclasses.dataclass(frozen=True)
class Period:
    """A calendar month (`2026-05`), quarter (`2026-Q2`) or year (`2026`), in local time."""

    year: int
    first_month: int
    months: int  # 1, 3 or 12

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD_RE.match(text.strip()) if text else None
        if match is None or not 2000 <= int(match.group(1)) <= 2100:
            raise InvalidInput("Give a period such as 2026, 2026-Q2 or 2026-05.",
                               errors={"period": ["Use 2026, 2026-Q2 or 2026-05."]})
        year, quarter, month = int(match.group(1)), match.group(2), match.group(3)
        if quarter:
            return cls(year, 3 * int(quarter) - 2, 3)
        if month:
            return cls(year, int(month), 1)
        return cls(year, 1, 12)

    @classmethod
    def containing(cls, day: dt.date, months: int = 3) -> Period:
        return cls(day.year, (day.month - 1) // months * months + 1, months)

    @property
    def label(self) -> str:
        if self.months == 12:
            return f"{self.year}"
        if self.months == 3:
            return f"{self.year}-Q{(self.first_month + 2) // 3}"
        return f"{self.year}-{self.first_month:02d}"

    @property
    def last_month(self) -> int:
        return self.first_month + self.months - 1

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.first_month, 1)

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        return month_start(self.year, self.last_month + 1)

    def shifted(self, steps: int) -> Period:
        index = self.year * 12 + self.first_month - 1 + steps * self.months
        return Period(index // 12, index % 12 + 1, self.months)


def period_or_current(text: str | None, now: dt.datetime | None = None) -> Period:
    """The period asked for, or the current quarter."""
    if text:
        return Period.parse(text)
    return Period.containing(local_date(now or now_utc()))


def month_start(year: int, month: int) -> dt.date:
    """The first day of `month` (13 is January of the next year)."""
    return dt.date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def months_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = index // 12, index % 12 + 1
    last = (month_start(year, month + 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


# --- compliance -------------------------------------------------------------------------------


@dataclasses.dataclass
class KindCount:
    """One kind of meeting in a period: windows due and met, meetings held, windows open.

    A window is one stretch of the cadence (a month for a monthly meeting, a quarter for a
    quarterly one, aligned to the calendar year); it belongs to the period its last month is in.
    It is *met* when a meeting of the kind was held in it, *due* when it has ended (or is
    already met), *open* when it is still running and not met yet.
    """

    due: int = 0
    met: int = 0
    held: int = 0
    open: int = 0
    #: Meetings held in the period by an organization above for its subtree (`SHARED_KINDS`)
    #: that invited the branch's members: they meet the branch's windows too.
    shared: int = 0

    def add(self, other: KindCount) -> None:
        self.due += other.due
        self.met += other.met
        self.held += other.held
        self.open += other.open
        self.shared += other.shared


@dataclasses.dataclass
class UnitCompliance:
    """One branch (its party groups folded in), or a roll-up of a subtree."""

    org_id: int
    code: str
    name: str
    kind: OrgKind
    kinds: dict[MeetingKind, KindCount]
    attendance: Tally = Tally()
    started_on: dt.date | None = None
    last_held_on: dt.date | None = None
    inactive: bool = False
    #: Held meetings of the period entered after they ended (补录).
    afterwards: int = 0
    branches: int = 1
    inactive_branches: int = 0

    @property
    def due(self) -> int:
        return sum(k.due for k in self.kinds.values())

    @property
    def met(self) -> int:
        return sum(k.met for k in self.kinds.values())

    @property
    def held(self) -> int:
        return sum(k.held for k in self.kinds.values())

    @property
    def rate(self) -> float | None:
        return round(self.met / self.due, 4) if self.due else None


@dataclasses.dataclass(frozen=True)
class Compliance:
    period: Period
    as_of: dt.date
    org: Org | None
    branches: list[UnitCompliance]
    children: list[UnitCompliance]
    total: UnitCompliance
    cadence: dict[MeetingKind, int]


def cadences(tenant: Tenant) -> dict[MeetingKind, int]:
    return {kind: int(tenant.rule(f"cadence_{kind.value}")) for kind in MeetingKind}


def _counted_clause(tenant: Tenant) -> sa.ColumnElement[bool]:
    """Held meetings that count: where the tenant reviews meetings, approved ones only."""
    held = Meeting.status == MeetingStatus.held
    if review_required(tenant):
        return sa.and_(held, Meeting.review_status == ReviewStatus.approved)
    return held


def _empty_kinds() -> dict[MeetingKind, KindCount]:
    return {kind: KindCount() for kind in MeetingKind}


def compliance(principal: Principal, tenant: Tenant, *, period: Period,
               org_id: int | None = None, now: dt.datetime | None = None) -> Compliance:
    """Held against due, per branch, for a period; roll-ups by subtree; attendance rates.

    - Branches and joint branches owe every kind of `DUE_KINDS` by the tenant's cadence
      (`cadence_<kind>` months, 0: not required); general branches their committee meeting;
      party groups their group meeting (counted in their branch's row). A committee meeting
      is owed only where the org has a committee: at least `branch_committee_min` current
      officers besides group leaders.
    - **Held above, for the subtree**: a party lecture or theme day (`SHARED_KINDS`) held by
      a committee or general branch counts as held, in the month it started, for every branch
      below it with at least one (current) member among the invited; it is `shared` in the
      branch's counts, meets its windows and counts as activity. The holder's own row (a
      general branch) keeps it as `held`; roll-ups add `held` and `shared` apart.
    - **A branch created during a period** owes only the windows that start on or after the
      day it was founded (`founded_on`, else the day it was entered): a branch founded on
      15 May owes the monthly meetings from June and the quarterly ones from Q3; what it held
      before still counts as held. A dissolved branch owes no window that ends after it.
    - **Inactive**: no meeting held by the branch or its groups in the `inactivity_months`
      (default 3) before the period's end (or today), for a branch older than that.
    - Attendance: invitees, present and excused over the meetings held in the period.

    A fixed number of aggregate queries, whatever the number of branches.
    """
    now = now or now_utc()
    scope_org = None
    if org_id is not None:
        scope_org = db.session.get(Org, org_id)
        if scope_org is None:
            raise InvalidInput("Unknown organization.", errors={"org_id": ["Unknown."]})
        if not principal.can(Role.org_viewer, scope_org.code):
            raise Forbidden("Compliance is for the organization's secretaries and the "
                            "committees above.")
        prefixes = [scope_org.code]
    else:
        prefixes = principal.prefixes(Role.org_viewer)
        if not prefixes:
            raise Forbidden("Compliance is for secretaries and administrators.")
    cadence = cadences(tenant)
    today = local_date(now)
    as_of = min(today, period.end - dt.timedelta(days=1))
    year_start = local_midnight(dt.date(period.year, 1, 1))
    period_end = local_midnight(period.end)
    counted = _counted_clause(tenant)

    units = db.session.execute(
        sa.select(Org.id, Org.code, Org.name, Org.kind, Org.founded_on, Org.created_at,
                  Org.dissolved_on)
        .where(within(Org.code, prefixes), Org.kind.in_(UNIT_KINDS),
               sa.or_(Org.dissolved_on.is_(None), Org.dissolved_on >= period.start))
        .order_by(Org.code)).all()
    officers = dict(db.session.execute(
        sa.select(Officer.org_id, sa.func.count())
        .where(within(Officer.org_code, prefixes),
               Officer.position != OfficerPosition.group_leader,
               sa.or_(Officer.term_end.is_(None), Officer.term_end >= as_of))
        .group_by(Officer.org_id)).all())
    # Held meetings per (org, kind, month of the year), January to the period's end.
    boundaries = [(local_midnight(month_start(period.year, m + 1)), m)
                  for m in range(1, period.last_month + 1)]
    month = sa.case(*[(Meeting.starts_at < bound, m) for bound, m in boundaries])
    held: dict[tuple[str, MeetingKind], dict[int, int]] = defaultdict(dict)
    for code, kind, m, n in db.session.execute(
            sa.select(Meeting.org_code, Meeting.kind, month, sa.func.count())
            .where(within(Meeting.org_code, prefixes), counted,
                   Meeting.starts_at >= year_start, Meeting.starts_at < period_end)
            .group_by(Meeting.org_code, Meeting.kind, month)):
        held[(code, MeetingKind(kind))][int(m)] = int(n)
    shared, shared_last = _shared_meetings(prefixes, counted, month, year_start, period_end,
                                           min(now, period_end))
    period_start = local_midnight(period.start)
    in_period = sa.and_(within(Meeting.org_code, prefixes), counted,
                        Meeting.starts_at >= period_start, Meeting.starts_at < period_end)
    attendance = {code: Tally(int(n or 0), int(p or 0), int(e or 0)) for code, n, p, e in
                  db.session.execute(
                      sa.select(Meeting.org_code, sa.func.count(),
                                sa.func.sum(sa.case(
                                    (Attendance.status == AttendanceStatus.present, 1), else_=0)),
                                sa.func.sum(sa.case(
                                    (Attendance.status == AttendanceStatus.excused, 1), else_=0)))
                      .join(Attendance, Attendance.meeting_id == Meeting.id)
                      .where(in_period).group_by(Meeting.org_code))}
    afterwards = dict(db.session.execute(
        sa.select(Meeting.org_code, sa.func.count())
        .where(in_period, Meeting.created_at > Meeting.ends_at)
        .group_by(Meeting.org_code)).all())
    as_of_end = min(now, period_end)
    last = {code: local_date(moment) for code, moment in db.session.execute(
        sa.select(Meeting.org_code, sa.func.max(Meeting.starts_at))
        .where(within(Meeting.org_code, prefixes), counted, Meeting.starts_at < as_of_end)
        .group_by(Meeting.org_code))}

    committee_min = int(tenant.rule("branch_committee_min"))
    inactivity = int(tenant.rule("inactivity_months"))
    rows: dict[str, UnitCompliance] = {}
    for org_id_, code, name, kind, founded, created, dissolved in units:
        kind = OrgKind(kind)
        started = founded or local_date(created)
        if started >= period.end:
            continue
        owed = set(DUE_KINDS[kind])
        if officers.get(org_id_, 0) < committee_min:
            owed.discard(MeetingKind.committee_meeting)
        counts = _empty_kinds()
        for meeting_kind, count in counts.items():
            own = held.get((code, meeting_kind), {})
            above = shared.get((code, meeting_kind), {})
            count.held = sum(n for m, n in own.items() if m >= period.first_month)
            count.shared = sum(n for m, n in above.items() if m >= period.first_month)
            by_month = {m: own.get(m, 0) + above.get(m, 0) for m in {*own, *above}}
            step = cadence[meeting_kind]
            if meeting_kind not in owed or step <= 0:
                continue
            for first in range(1, 13, step):
                window_end_month = first + step - 1
                if not period.first_month <= window_end_month <= period.last_month:
                    continue
                window_start = dt.date(period.year, first, 1)
                window_end = month_start(period.year, window_end_month + 1)
                if window_start < started or (dissolved is not None and window_end > dissolved):
                    continue
                met = any(by_month.get(m, 0) for m in range(first, window_end_month + 1))
                if met:
                    count.met += 1
                    count.due += 1
                elif window_end <= as_of + dt.timedelta(days=1):
                    count.due += 1
                else:
                    count.open += 1
        parent = code[:-SEGMENT_WIDTH]
        if kind == OrgKind.group and parent in rows:
            branch_row = rows[parent]
            for meeting_kind, count in counts.items():
                branch_row.kinds[meeting_kind].add(count)
            branch_row.attendance = branch_row.attendance + attendance.get(code, Tally())
            branch_row.afterwards += afterwards.get(code, 0)
            if code in last and (branch_row.last_held_on is None
                                 or last[code] > branch_row.last_held_on):
                branch_row.last_held_on = last[code]
            continue
        last_held = max((day for day in (last.get(code), shared_last.get(code)) if day),
                        default=None)
        rows[code] = UnitCompliance(
            org_id=org_id_, code=code, name=name, kind=kind, kinds=counts,
            attendance=attendance.get(code, Tally()), started_on=started,
            last_held_on=last_held, afterwards=afterwards.get(code, 0))
    threshold = months_before(as_of, inactivity)
    for row in rows.values():
        old_enough = row.started_on is not None and row.started_on <= threshold
        row.inactive = old_enough and (row.last_held_on is None
                                       or row.last_held_on < threshold)
        row.inactive_branches = int(row.inactive)
    branches = list(rows.values())
    children = _children_rollups(scope_org, branches)
    total = _rollup(scope_org.id if scope_org else 0, scope_org.code if scope_org else "",
                    scope_org.name if scope_org else "", scope_org.kind if scope_org
                    else OrgKind.committee, branches)
    return Compliance(period=period, as_of=as_of, org=scope_org, branches=branches,
                      children=children, total=total, cadence=cadence)


def _ancestors(prefixes: Sequence[str]) -> list[str]:
    """The codes above each prefix (some may name no organization: harmless in an IN)."""
    return sorted({p[:n] for p in prefixes for n in range(len(p) - SEGMENT_WIDTH, 0,
                                                           -SEGMENT_WIDTH)})


def _shared_meetings(prefixes: list[str], counted: sa.ColumnElement[bool],
                     month: sa.ColumnElement[Any], year_start: dt.datetime,
                     period_end: dt.datetime, as_of_end: dt.datetime
                     ) -> tuple[dict[tuple[str, MeetingKind], dict[int, int]], dict[str, dt.date]]:
    """Meetings of `SHARED_KINDS` held by an organization above (or within) the scope for
    branches of the scope below it, per invited member's branch: the number per (branch code,
    kind, month of the year) from January to the period's end, and the last one's day (for
    inactivity). Two GROUP BYs, however many branches."""
    holders = within(Meeting.org_code, prefixes)
    above = _ancestors(prefixes)
    if above:
        holders = sa.or_(holders, Meeting.org_code.in_(above))
    below = sa.and_(holders, counted, Meeting.kind.in_(SHARED_KINDS),
                    within(Member.org_code, prefixes), Member.org_code != Meeting.org_code,
                    Member.org_code.startswith(Meeting.org_code))
    joined = (sa.select().select_from(Meeting)
              .join(Attendance, Attendance.meeting_id == Meeting.id)
              .join(Member, Member.id == Attendance.member_id))
    by_month: dict[tuple[str, MeetingKind], dict[int, int]] = defaultdict(dict)
    for code, kind, m, n in db.session.execute(
            joined.add_columns(Member.org_code, Meeting.kind, month,
                               sa.func.count(sa.distinct(Meeting.id)))
            .where(below, Meeting.starts_at >= year_start, Meeting.starts_at < period_end)
            .group_by(Member.org_code, Meeting.kind, month)):
        by_month[(code, MeetingKind(kind))][int(m)] = int(n)
    last = {code: local_date(moment) for code, moment in db.session.execute(
        joined.add_columns(Member.org_code, sa.func.max(Meeting.starts_at))
        .where(below, Meeting.starts_at < as_of_end).group_by(Member.org_code))}
    return by_month, last


def _rollup(org_id: int, code: str, name: str, kind: OrgKind,
            rows: Iterable[UnitCompliance]) -> UnitCompliance:
    total = UnitCompliance(org_id=org_id, code=code, name=name, kind=kind,
                           kinds=_empty_kinds(), branches=0)
    for row in rows:
        if not row.code.startswith(code):
            continue
        for kind_, count in row.kinds.items():
            total.kinds[kind_].add(count)
        total.attendance = total.attendance + row.attendance
        total.afterwards += row.afterwards
        total.branches += row.branches
        total.inactive_branches += row.inactive_branches
        if row.last_held_on and (total.last_held_on is None
                                 or row.last_held_on > total.last_held_on):
            total.last_held_on = row.last_held_on
    return total


def _children_rollups(scope_org: Org | None, rows: list[UnitCompliance]
                      ) -> list[UnitCompliance]:
    """The subtree totals of each direct child of the scope org that has branches."""
    if scope_org is None:
        return []
    children = db.session.execute(
        sa.select(Org.id, Org.code, Org.name, Org.kind)
        .where(Org.parent_id == scope_org.id).order_by(Org.code)).all()
    rollups = [_rollup(i, code, name, OrgKind(kind), rows) for i, code, name, kind in children
               if OrgKind(kind) != OrgKind.group]
    return [r for r in rollups if r.branches]


# --- the members' monthly reports (node/reports) ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Absence:
    """A held meeting a member was invited to and did not attend."""

    member_id: int
    title: str
    kind: MeetingKind
    starts_at: dt.datetime
    status: AttendanceStatus
    reason: str | None


def _held_invitations(members: sa.Select[Any], start: dt.datetime,
                      end: dt.datetime) -> list[sa.ColumnElement[bool]]:
    return [Attendance.member_id.in_(members), Meeting.status == MeetingStatus.held,
            Meeting.starts_at >= start, Meeting.starts_at < end]


def attendance_by_member(members: sa.Select[Any], start: dt.datetime,
                         end: dt.datetime) -> dict[int, Tally]:
    """Held meetings starting in [start, end) per invited member (`members`: a SELECT of
    member ids): one GROUP BY however many members."""
    present = sa.func.sum(sa.case((Attendance.status == AttendanceStatus.present, 1), else_=0))
    excused = sa.func.sum(sa.case((Attendance.status == AttendanceStatus.excused, 1), else_=0))
    return {member_id: Tally(int(n), int(p or 0), int(e or 0))
            for member_id, n, p, e in db.session.execute(
                sa.select(Attendance.member_id, sa.func.count(), present, excused)
                .join(Meeting, Meeting.id == Attendance.meeting_id)
                .where(*_held_invitations(members, start, end))
                .group_by(Attendance.member_id))}


def absences_by_member(members: sa.Select[Any], start: dt.datetime,
                       end: dt.datetime) -> dict[int, list[Absence]]:
    """The held meetings in [start, end) each member missed (excused or not), in order."""
    absences: dict[int, list[Absence]] = defaultdict(list)
    for member_id, title, kind, starts_at, status, reason in db.session.execute(
            sa.select(Attendance.member_id, Meeting.title, Meeting.kind, Meeting.starts_at,
                      Attendance.status, Attendance.reason)
            .join(Meeting, Meeting.id == Attendance.meeting_id)
            .where(*_held_invitations(members, start, end),
                   Attendance.status != AttendanceStatus.present)
            .order_by(Attendance.member_id, Meeting.starts_at, Meeting.id)):
        absences[member_id].append(Absence(member_id, title, MeetingKind(kind), starts_at,
                                           AttendanceStatus(status), reason))
    return absences
