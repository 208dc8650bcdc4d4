"""Statistics snapshots: per-org counts at a fixed date, counts only, chunked, all in one go."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from federation.canonical import encode_canonical
from federation.delivery.models import OutboxMessage
from federation.messages import validate_data
from federation.messages.stats import (
    EDUCATIONS,
    ORG_KINDS,
    SNAPSHOT_V2,
    STAGES,
    STATUSES,
    empty_members,
)
from node.db import db
from node.members.models import Education, Member, Stage, Status
from node.orgs.models import OrgKind
from node.stats import services
from node.stats.cli import publish_all
from node.tenants.scoping import tenant_context
from shared.db.session import transaction
from tests.node.conftest import make_national_id

TODAY = dt.date(2025, 6, 30)


def _id(n: int, birth: dt.date, female: bool) -> str:
    """A valid national ID with this birth date and gender (odd 17th digit: male)."""
    base = make_national_id(n)
    seq = f"{n % 100:02d}{(2 if female else 1)}"
    body = f"{base[:6]}{birth:%Y%m%d}{seq}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _set(tenant, member, **values) -> None:
    """Change stored fields directly (dates, status): the snapshot reads what is stored."""
    with tenant_context(tenant.id):
        db.session.execute(sa.update(Member).where(Member.id == member.id).values(**values))
        db.session.commit()


def _outbox() -> list[OutboxMessage]:
    return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.type == SNAPSHOT_V2)
                              .order_by(OutboxMessage.id)).all()


@pytest.fixture()
def small(world):
    """A tenant: root committee -> branch A (5 people), branch B (none), group under A."""
    tenant = world.tenant(slug="dadukou", prefix="500104")
    root = world.root(tenant)
    a = world.org(tenant, root, "branch", name="第一党支部")
    b = world.org(tenant, root, "branch", name="第二党支部")
    group = world.org(tenant, a, "group", name="第一党小组")
    people = {}
    # On 2025-06-30: ages 30 (birthday today), 31 (birthday today), 45, 71; party ages 4, 5
    # (anniversary today), 30 (anniversary today), one without an admission date.
    specs = [
        ("young", dt.date(1995, 6, 30), True, "full", dt.date(2020, 7, 1), Education.bachelor),
        ("turns31", dt.date(1994, 6, 30), False, "full", dt.date(2020, 6, 30), None),
        ("mid", dt.date(1980, 1, 15), True, "probationary", dt.date(1995, 6, 30),
         Education.master),
        ("old", dt.date(1954, 6, 29), False, "full", None, Education.primary),
        ("applicant", dt.date(2000, 1, 1), True, "applicant", None, None),
    ]
    for i, (key, birth, female, stage, admitted, education) in enumerate(specs, start=1):
        member = world.member(tenant, a, stage=stage, name=f"秘密姓名{key}",
                              national_id=_id(500 + i, birth, female),
                              education=education)
        _set(tenant, member, admitted_on=admitted, birth_date=birth)
        people[key] = member
    # One full member who left: counted in by_status only.
    gone = world.member(tenant, a, stage="full", name="秘密姓名gone",
                        national_id=_id(600, dt.date(1970, 3, 3), False))
    _set(tenant, gone, status=Status.transferred_out, admitted_on=dt.date(2000, 1, 1))
    people["gone"] = gone
    return tenant, root, a, b, group, people


def test_counts_of_own_members_with_bands_at_a_fixed_date(small):
    tenant, root, a, b, group, _people = small
    with tenant_context(tenant.id):
        entries = {e["code"]: e for e in services.org_entries(TODAY)}
    assert list(entries) == sorted(entries) == [root.code, a.code, group.code, b.code]
    assert entries[root.code]["parent_code"] is None
    assert entries[a.code]["parent_code"] == root.code
    assert entries[group.code]["kind"] == "group"
    assert entries[a.code]["name"] == "第一党支部"

    counts = entries[a.code]["members"]
    assert counts["by_stage"] == {"applicant": 1, "activist": 0, "candidate": 0,
                                  "probationary": 1, "full": 3}
    assert counts["by_status"] == {**dict.fromkeys(STATUSES, 0), "active": 4,
                                   "transferred_out": 1}
    assert counts["by_gender"] == {"male": 2, "female": 2}
    # 1995-06-30 is 30 on 2025-06-30; 1994-06-30 turns 31 that day; 1954-06-29 turned 71.
    assert counts["by_age_band"] == {"<=30": 1, "31-40": 1, "41-50": 1, "51-60": 0,
                                     "61-70": 0, ">70": 1}
    assert counts["by_education"] == {**dict.fromkeys(EDUCATIONS, 0), "bachelor": 1,
                                      "master": 1, "primary": 1, "unknown": 1}
    # admitted 2020-07-01: 4 years; 2020-06-30: 5 years today; 1995-06-30: 30 years today.
    assert counts["by_party_age_band"] == {"<5": 1, "5-9": 1, "10-19": 0, "20-29": 0,
                                           ">=30": 1, "unknown": 1}
    for breakdown in ("by_gender", "by_age_band", "by_education", "by_party_age_band"):
        assert sum(counts[breakdown].values()) == \
            counts["by_stage"]["probationary"] + counts["by_stage"]["full"]

    # Own members only: the root has none of its own; the empty branch has zeros.
    assert entries[root.code]["members"] == empty_members()
    assert entries[b.code]["members"] == empty_members()
    # Direct children by kind.
    assert entries[root.code]["orgs_by_kind"] == {**dict.fromkeys(ORG_KINDS, 0), "branch": 2}
    assert entries[a.code]["orgs_by_kind"] == {**dict.fromkeys(ORG_KINDS, 0), "group": 1}
    assert entries[b.code]["orgs_by_kind"] == dict.fromkeys(ORG_KINDS, 0)


def test_a_day_earlier_the_bands_differ(small):
    tenant, _root, a, *_ = small
    with tenant_context(tenant.id):
        entries = {e["code"]: e for e in services.org_entries(TODAY - dt.timedelta(days=1))}
    counts = entries[a.code]["members"]
    assert counts["by_age_band"] == {"<=30": 2, "31-40": 0, "41-50": 1, "51-60": 0,
                                     "61-70": 0, ">70": 1}
    assert counts["by_party_age_band"] == {"<5": 2, "5-9": 0, "10-19": 0, "20-29": 1,
                                           ">=30": 0, "unknown": 1}


def test_the_contract_categories_are_the_node_enums():
    assert tuple(Stage) == STAGES
    assert tuple(Status) == STATUSES
    assert (*Education, "unknown") == EDUCATIONS
    assert tuple(OrgKind) == ORG_KINDS


def test_publish_writes_the_message_and_no_person_appears_in_it(small, session):
    tenant, root, a, *_rest, people = small
    now = dt.datetime(2025, 6, 30, 17, 0, tzinfo=dt.UTC)
    with transaction(db):
        published = services.publish_snapshot(tenant, TODAY, now=now)
    assert published.orgs == 4
    [message] = _outbox()
    assert (message.destination, message.tenant, message.sequenced) == ("hub", "dadukou", True)
    assert message.message_id == published.message_ids[0]
    data = message.data
    assert validate_data(SNAPSHOT_V2, data) == data
    assert (data["period"], data["taken_at"], data["chunk"], data["chunks"]) == \
        ("2025-06-30", "2025-06-30T17:00:00.000Z", 1, 1)
    raw = encode_canonical(data).decode("utf-8")
    with tenant_context(tenant.id):
        rows = session.scalars(sa.select(Member)).all()
    assert len(rows) == 6
    for member in rows:
        for secret in (member.name, member.member_number, member.national_id_masked,
                       member.national_id_hash, member.national_id_cipher):
            assert secret not in raw
    assert "秘密" not in raw
    # No field could carry a person: each org has exactly the contract's keys, counts below.
    for org in data["orgs"]:
        assert set(org) == {"code", "parent_code", "kind", "name", "members", "orgs_by_kind",
                            "life"}
        assert all(type(v) is int for b in org["members"].values() for v in b.values())
        assert all(type(v) is int for b in org["life"].values() for v in b.values())
    assert tenant.code_prefix in raw and "第一党支部" in raw  # org codes and names are public


def test_snapshot_is_chunked_and_all_or_nothing(world, session):
    tenant = world.tenant(prefix="500105")
    root = world.root(tenant)
    for _ in range(6):
        world.org(tenant, root, "branch")
    with transaction(db):
        published = services.publish_snapshot(tenant, TODAY, chunk_size=3)
    messages = _outbox()
    assert published.orgs == 7 and len(messages) == 3
    assert [(m.data["chunk"], m.data["chunks"], len(m.data["orgs"])) for m in messages] == \
        [(1, 3, 3), (2, 3, 3), (3, 3, 1)]
    assert len({m.data["taken_at"] for m in messages}) == 1
    codes = [o["code"] for m in messages for o in m.data["orgs"]]
    assert codes == sorted(codes) and len(set(codes)) == 7

    # A failure in the transaction queues nothing at all.
    with pytest.raises(RuntimeError), transaction(db):
        services.publish_snapshot(tenant, TODAY + dt.timedelta(days=1), chunk_size=3)
        raise RuntimeError("crash before commit")
    assert len(_outbox()) == 3
    with pytest.raises(ValueError):
        services.publish_snapshot(tenant, TODAY, chunk_size=501)


def test_dissolved_orgs_are_left_out(world):
    tenant = world.tenant(prefix="500106")
    root = world.root(tenant)
    kept = world.org(tenant, root, "branch")
    gone = world.org(tenant, root, "branch")
    from node.orgs.models import Org

    with tenant_context(tenant.id):
        db.session.execute(sa.update(Org).where(Org.id == gone.id)
                           .values(dissolved_on=TODAY - dt.timedelta(days=1)))
        db.session.commit()
        codes = [e["code"] for e in services.org_entries(TODAY)]
        roots = [e for e in services.org_entries(TODAY) if e["code"] == root.code]
    assert codes == [root.code, kept.code]
    assert roots[0]["orgs_by_kind"]["branch"] == 1


def test_publish_all_queues_every_tenant_or_one(world, session):
    first = world.tenant(slug="first", prefix="500107")
    world.tenant(slug="second", prefix="500108")
    done = publish_all("first", TODAY)
    assert [(p.tenant, p.period, p.orgs) for p in done] == [("first", "2025-06-30", 1)]
    done = publish_all(None, TODAY)
    assert {p.tenant for p in done} >= {"first", "second"}
    assert [m.tenant for m in _outbox()].count(first.slug) == 2


def test_the_command_is_registered():
    from node.cli import cli

    result = CliRunner().invoke(cli, ["stats", "publish", "--help"])
    assert result.exit_code == 0 and "--tenant" in result.output


def test_schedule_is_at_fixed_local_times():
    tz = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2025, 3, 1, 0, 30, tzinfo=tz)
    assert services.next_snapshot_at(at, 86400) == dt.datetime(2025, 3, 1, 1, 0, tzinfo=tz)
    at = dt.datetime(2025, 3, 1, 1, 0, tzinfo=tz)
    assert services.next_snapshot_at(at, 86400) == dt.datetime(2025, 3, 2, 1, 0, tzinfo=tz)
    at = dt.datetime(2025, 3, 1, 23, 59, tzinfo=tz)
    assert services.next_snapshot_at(at, 3600) == dt.datetime(2025, 3, 2, 0, 0, tzinfo=tz)


def test_the_snapshot_carries_organizational_life_and_dues_as_counts(small, session):
    """v2's `life`, for the year to the snapshot date: meetings held, due and met per kind,
    attendance, and the dues of the ended months (members and amounts in fen)."""
    from decimal import Decimal

    from node.dues.models import DuesLine, LineStatus
    from node.meetings.models import (
        LOCAL_TZ,
        Attendance,
        AttendanceStatus,
        Meeting,
        MeetingKind,
        MeetingStatus,
    )
    from node.orgs.models import Org

    tenant, root, a, b, group, people = small
    with tenant_context(tenant.id):
        session.execute(sa.update(Org).values(founded_on=dt.date(2020, 1, 1)))
        for month in (4, 5):  # theme days in April and May, none in the other months
            starts = dt.datetime(2025, month, 10, 19, tzinfo=LOCAL_TZ)
            meeting = Meeting(org_id=a.id, org_code=a.code, kind=MeetingKind.theme_day,
                              title="主题党日", starts_at=starts,
                              ends_at=starts + dt.timedelta(hours=2), status=MeetingStatus.held,
                              checkin_code="123456", created_at=starts)
            session.add(meeting)
            session.flush()
            for key, status in (("young", AttendanceStatus.present),
                                ("mid", AttendanceStatus.excused)):
                session.add(Attendance(meeting_id=meeting.id, member_id=people[key].id,
                                       status=status))
        for key, months_paid in (("young", (1, 2, 3, 4, 5)), ("old", (1, 2))):
            for month in range(1, 7):
                paid = month in months_paid
                session.add(DuesLine(
                    member_id=people[key].id, org_id=a.id, org_code=a.code,
                    month=dt.date(2025, month, 1), category="salaried", base=Decimal("3000"),
                    amount_due=Decimal("15.00"), rule_version="cpc-2008",
                    status=LineStatus.paid if paid else LineStatus.unpaid))
        session.commit()
        entries = {e["code"]: e for e in services.org_entries(TODAY, tenant)}
    life = entries[a.code]["life"]
    assert life["meetings_held"]["theme_day"] == 2
    # Monthly theme days January to June (the branches were founded before): June's window
    # ends today, so it is due; two of six were met.
    assert (life["meetings_due"]["theme_day"], life["meetings_met"]["theme_day"]) == (6, 2)
    assert life["attendance"] == {"invited": 4, "present": 2, "excused": 2}
    # Dues of the ended months, January to May: "young" paid all five, "old" two of five.
    assert life["dues"] == {"assessed": 2, "paid_up": 1, "in_arrears": 1,
                            "due_fen": 15000, "paid_fen": 10500}
    assert (entries[b.code]["life"]["meetings_held"]["theme_day"],
            entries[b.code]["life"]["meetings_due"]["theme_day"]) == (0, 6)
    assert entries[b.code]["life"]["dues"]["assessed"] == 0
    assert entries[group.code]["life"]["attendance"]["invited"] == 0  # folded into its branch
    assert validate_data(SNAPSHOT_V2, {"taken_at": "2025-06-30T17:00:00.000Z",
                                       "period": "2025-06-30", "chunk": 1, "chunks": 1,
                                       "orgs": list(entries.values())})
