"""National statistics: snapshots received over the bus, rollups, series, rankings, exports."""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from federation.delivery import Consumer, Outcome
from federation.delivery.models import QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, utcnow
from federation.messages.stats import (
    LIFE_BREAKDOWNS,
    ORG_KINDS,
    SNAPSHOT,
    SNAPSHOT_V2,
    empty_life,
    empty_members,
)
from hub.stats import services
from hub.stats.models import COUNT_COLUMNS, OrgStat, StatChunk, StatSnapshot


def org(code: str, parent: str | None, kind: str = "branch", *, full: int = 0,
        probationary: int = 0, female: int = 0, young: int = 0, name: str | None = None,
        children: dict[str, int] | None = None) -> dict[str, Any]:
    """An org entry: `full + probationary` party members, `female` of them women, `young` of
    them 30 or under, the rest men of 41-50, all active, education unknown."""
    members = empty_members()
    party = full + probationary
    members["by_stage"].update(full=full, probationary=probationary)
    members["by_status"]["active"] = party
    members["by_gender"].update(female=female, male=party - female)
    members["by_age_band"].update({"<=30": young, "41-50": party - young})
    members["by_education"]["unknown"] = party
    members["by_party_age_band"]["unknown"] = party
    return {"code": code, "parent_code": parent, "kind": kind, "name": name or f"组织{code}",
            "members": members, "orgs_by_kind": {**dict.fromkeys(ORG_KINDS, 0),
                                                 **(children or {})}}


class Sender:
    """A node sending sealed snapshot chunks to the hub, with its own stream sequence."""

    def __init__(self, network, consumer: Consumer, node_id: str,
                 tenants: list[tuple[str, str]]) -> None:
        network.enroll(node_id, tenants)
        self.key, self.node_id, self.consumer = network.node_keys[node_id], node_id, consumer
        self.sequence = 0

    def send(self, tenant: str, orgs: list[dict[str, Any]], *, period: str = "2025-03-01",
             taken_at: str = "2025-03-01T02:00:00.000Z", chunk: int = 1,
             chunks: int = 1, type_: str = SNAPSHOT) -> Outcome:
        self.sequence += 1
        data = {"taken_at": taken_at, "period": period, "chunk": chunk, "chunks": chunks,
                "orgs": copy.deepcopy(orgs)}
        body = seal(Envelope(id=new_id(), type=type_, source=self.node_id, destination=HUB,
                             time=utcnow(), tenant=tenant, sequence=self.sequence, data=data),
                    self.key)
        return self.consumer.handle(body)


DADUKOU = [org("500104", None, "committee", children={"committee": 1, "branch": 1}),
           org("500104001", "500104", "committee", full=2, children={"branch": 2}),
           org("500104001001", "500104001", full=10, probationary=2, female=6, young=3),
           org("500104001002", "500104001", full=5, female=1),
           org("500104002", "500104", full=3, probationary=1, female=4, young=4)]
JIULONGPO = [org("500107", None, "committee", children={"branch": 1}),
             org("500107001", "500107", full=20, female=10, young=2)]


@pytest.fixture()
def two_nodes(network, consumer):
    a = Sender(network, consumer, "node-a", [("dadukou", "500104")])
    b = Sender(network, consumer, "node-b", [("jiulongpo", "500107")])
    assert a.send("dadukou", DADUKOU) == Outcome.applied
    assert b.send("jiulongpo", JIULONGPO) == Outcome.applied
    return a, b


def _party(prefix: str, period: str = "2025-03-01") -> int:
    return services.rollup(prefix, period).party_members


def test_rollups_by_prefix_at_several_levels(two_nodes):
    assert _party("") == 12 + 5 + 4 + 2 + 20
    assert _party("50") == _party("5001") == 43
    assert _party("500104") == 23
    assert _party("500104001") == 19
    assert _party("500104001001") == 12
    assert _party("500107") == 20
    assert _party("500105") == 0
    r = services.rollup("500104", "2025-03-01")
    assert (r.tenants, r.orgs, r.oldest_period) == (1, 5, "2025-03-01")
    assert r.orgs_by_kind == {**dict.fromkeys(ORG_KINDS, 0), "committee": 2, "branch": 3}
    assert r.members["by_stage"] == {"applicant": 0, "activist": 0, "candidate": 0,
                                     "probationary": 3, "full": 20}
    assert r.members["by_gender"] == {"male": 12, "female": 11}
    assert r.metric("female_share") == round(11 / 23, 4)
    assert r.metric("age_30_or_under_share") == round(7 / 23, 4)
    # Before any snapshot there is nothing; a share of nobody is None, not a division error.
    empty = services.rollup("", "2025-02-28")
    assert (empty.tenants, empty.orgs, empty.party_members) == (0, 0, 0)
    assert empty.metric("full_share") is None


def test_the_same_chunk_again_replaces_it(two_nodes, session):
    a, _b = two_nodes
    assert a.send("dadukou", DADUKOU) == Outcome.applied  # a re-send: new id, same content
    assert _party("500104") == 23
    changed = copy.deepcopy(DADUKOU)
    changed[2] = org("500104001001", "500104001", full=1)
    assert a.send("dadukou", changed) == Outcome.applied
    assert _party("500104") == 12
    assert session.scalar(sa.select(sa.func.count()).select_from(StatSnapshot)) == 2


def test_a_newer_publication_replaces_the_day_and_an_older_one_is_ignored(two_nodes, session):
    a, _b = two_nodes
    later = "2025-03-01T20:00:00.000Z"
    # Re-published in two chunks: until both are in, the old complete snapshot is gone and the
    # new one incomplete, so the tenant does not count for that day.
    assert a.send("dadukou", DADUKOU[:3], taken_at=later, chunk=1, chunks=2) == Outcome.applied
    assert _party("500104") == 0
    assert a.send("dadukou", DADUKOU[3:], taken_at=later, chunk=2, chunks=2) == Outcome.applied
    assert _party("500104") == 23
    # A late chunk of the older publication changes nothing.
    assert a.send("dadukou", [org("500104", None, "committee", full=99)]) == Outcome.applied
    assert _party("500104") == 23
    snapshot = session.scalars(sa.select(StatSnapshot).join(StatChunk)).first()
    assert snapshot is not None
    assert session.scalar(sa.select(sa.func.count()).select_from(OrgStat)) == 5 + 2


def test_a_snapshot_counts_only_when_every_chunk_arrived(network, consumer):
    a = Sender(network, consumer, "node-a", [("dadukou", "500104")])
    assert a.send("dadukou", DADUKOU[:2], chunk=1, chunks=3) == Outcome.applied
    assert a.send("dadukou", DADUKOU[4:], chunk=3, chunks=3) == Outcome.applied
    assert _party("500104") == 0
    assert a.send("dadukou", DADUKOU[2:4], chunk=2, chunks=3) == Outcome.applied
    assert _party("500104") == 23


def _from_org_rows(prefix: str, period: str = "2025-03-01"):
    """The rollup summed over every organization's row (what the totals must equal)."""
    row = services.db.session.execute(services._base(period).where(
        services._in_subtree(prefix))).one_or_none()
    return services._rollup_from(prefix, period, row)


def test_rollups_above_the_tenants_add_the_snapshot_totals(two_nodes, session):
    """A complete snapshot's sums are stored once; rollups of regions and whole tenants add
    them up and equal the sum over the organizations' rows, at every level."""
    a, _b = two_nodes
    totals = sa.text("SELECT snapshot_id, orgs, stage_full FROM stat_snapshot_totals "
                     "ORDER BY snapshot_id")
    assert [tuple(r)[1:] for r in session.execute(totals)] == [(5, 20), (2, 20)]
    for prefix in ("", "5", "50", "5001", "500104", "500107", "500105"):
        assert services.rollup(prefix, "2025-03-01") == _from_org_rows(prefix), prefix
    # Children of a region and of a county: the regions' and tenants' totals.
    assert [(c.code, c.rollup.party_members) for c in services.children("", "2025-03-01")] \
        == [("50", 43)]
    assert {(c.code, c.level, c.name, c.rollup.orgs)
            for c in services.children("5001", "2025-03-01")} == {
        ("500104", "region", "500104", 5), ("500107", "region", "500107", 2)}
    # Inside a tenant (an org, or a prefix that is none) the org rows answer.
    assert services.rollup("5001040", "2025-03-01").party_members == 23
    assert services.rollup("500104001", "2025-03-01") == _from_org_rows("500104001")
    # A newer publication under way: the tenant's totals are gone until it is complete.
    a.send("dadukou", DADUKOU[:3], taken_at="2025-03-01T20:00:00.000Z", chunk=1, chunks=2)
    assert [tuple(r)[1:] for r in session.execute(totals)] == [(2, 20)]
    assert services.rollup("", "2025-03-01") == _from_org_rows("")
    assert services.rollup("", "2025-03-01").party_members == 20


def test_org_codes_outside_the_tenant_prefix_are_quarantined(network, consumer, session):
    a = Sender(network, consumer, "node-a", [("dadukou", "500104")])
    Sender(network, consumer, "node-b", [("jiulongpo", "500107")])
    foreign = [*DADUKOU[:1], org("500107001", "500107", full=1000)]
    a.send("dadukou", foreign)  # consumed (the stream goes on), not applied:
    [entry] = session.scalars(sa.select(QuarantinedMessage)).all()
    assert (entry.reason, entry.source) == ("handler_failed", "node-a")
    assert "500107001" in entry.detail
    assert _party("") == 0
    # The stream goes on.
    assert a.send("dadukou", DADUKOU) == Outcome.applied
    assert _party("") == 23


def test_as_of_a_day_each_tenant_counts_with_its_latest_snapshot(two_nodes):
    a, _b = two_nodes
    grown = [*DADUKOU, org("500104003", "500104", full=7)]
    assert a.send("dadukou", grown, period="2025-03-02",
                  taken_at="2025-03-02T02:00:00.000Z") == Outcome.applied
    r = services.rollup("", "2025-03-02")
    assert (r.party_members, r.tenants, r.oldest_period, r.newest_period) == \
        (50, 2, "2025-03-01", "2025-03-02")
    assert _party("", "2025-03-01") == 43
    points = services.series("500104", start="2025-02-01", end="2025-03-31")
    assert [(p.period, p.party_members) for p in points] == [("2025-03-01", 23),
                                                             ("2025-03-02", 30)]
    # jiulongpo's series has only its own day; paging continues after a period.
    assert [p.period for p in services.series("500107", start="2025-01-01",
                                              end="2025-12-31")] == ["2025-03-01"]
    assert [p.period for p in services.series("500104", start="2025-01-01", end="2025-12-31",
                                              after="2025-03-01")] == ["2025-03-02"]


def test_rankings_of_direct_children(two_nodes):
    orgs = services.ranking("500104", "2025-03-01", "party_members")
    assert [(c.code, c.level, c.value) for c in orgs] == [("500104001", "org", 19),
                                                          ("500104002", "org", 4)]
    assert orgs[0].name == "组织500104001"
    women = services.ranking("500104", "2025-03-01", "female_share")
    assert [(c.code, c.value) for c in women] == [("500104002", 1.0),
                                                  ("500104001", round(7 / 19, 4))]
    counties = services.ranking("5001", "2025-03-01", "party_members", descending=False)
    assert [(c.code, c.level, c.value) for c in counties] == [("500107", "region", 20),
                                                              ("500104", "region", 23)]
    provinces = services.ranking("", "2025-03-01", "orgs")
    assert [(c.code, c.value) for c in provinces] == [("50", 7)]
    leaf = services.ranking("500104001", "2025-03-01", "full_share")
    assert [(c.code, c.value) for c in leaf] == [("500104001002", 1.0),
                                                 ("500104001001", round(10 / 12, 4))]


def test_a_share_of_nobody_ranks_last(network, consumer):
    a = Sender(network, consumer, "node-a", [("dadukou", "500104")])
    a.send("dadukou", [org("500104", None, "committee", children={"branch": 2}),
                       org("500104001", "500104"), org("500104002", "500104", full=1)])
    for descending in (True, False):
        ranked = services.ranking("500104", "2025-03-01", "female_share",
                                  descending=descending)
        assert [(c.code, c.value) for c in ranked] == [("500104002", 0.0),
                                                       ("500104001", None)]


def test_rankings_of_tenants_under_a_longer_prefix(network, consumer):
    a = Sender(network, consumer, "node-a", [("east", "500104101"), ("west", "500104102")])
    assert a.send("east", [org("500104101", None, "committee", full=3)]) == Outcome.applied
    assert a.send("west", [org("500104102", None, "committee", full=5)]) == Outcome.applied
    ranked = services.ranking("500104", "2025-03-01", "party_members")
    assert [(c.code, c.level, c.name, c.value) for c in ranked] == [
        ("500104102", "tenant", "中共west委员会", 5), ("500104101", "tenant", "中共east委员会", 3)]


def test_the_table_has_a_column_for_every_category():
    columns = {c.name for c in OrgStat.__table__.columns}
    assert {name for *_rest, name in COUNT_COLUMNS} <= columns
    assert len(COUNT_COLUMNS) == (sum(len(v) for v in empty_members().values()) + len(ORG_KINDS)
                                  + sum(len(v) for v in LIFE_BREAKDOWNS.values()))


# --- the API ---------------------------------------------------------------------------------


def test_rollup_and_compare_endpoints(client, two_nodes):
    response = client.get("/api/stats/rollup?prefix=500104&period=2025-03-01")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["party_members"], body["orgs"], body["tenants"]) == (23, 5, 1)
    assert body["members"]["by_age_band"]["<=30"] == 7
    assert body["rates"]["female_share"] == round(11 / 23, 4)
    # No period: the newest day with a snapshot.
    assert client.get("/api/stats/rollup").get_json()["party_members"] == 43
    body = client.get("/api/stats/compare?prefix=500104&prefix=500107&period=2025-03-01"
                      ).get_json()
    assert [(i["prefix"], i["party_members"]) for i in body["items"]] == [("500104", 23),
                                                                         ("500107", 20)]


def test_rankings_are_cursor_paged(client, two_nodes):
    first = client.get("/api/stats/rankings?prefix=500104&period=2025-03-01&limit=1")
    body = first.get_json()
    assert [(i["rank"], i["code"], i["value"]) for i in body["items"]] == [(1, "500104001", 19)]
    assert 'rel="next"' in first.headers["Link"]
    second = client.get(f"/api/stats/rankings?prefix=500104&period=2025-03-01&limit=1"
                        f"&cursor={body['next_cursor']}").get_json()
    assert [(i["rank"], i["code"]) for i in second["items"]] == [(2, "500104002")]
    assert second["next_cursor"] is None


def test_series_endpoint(client, two_nodes):
    body = client.get("/api/stats/series?prefix=500104&from=2025-01-01&to=2025-12-31"
                      ).get_json()
    assert [(i["period"], i["party_members"]) for i in body["items"]] == [("2025-03-01", 23)]


def test_exports_in_csv_and_xlsx(client, two_nodes):
    response = client.get("/api/stats/rankings/export?prefix=500104&period=2025-03-01"
                          "&metric=female_share&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:5] == ["rank", "code", "name", "level", "female_share"]
    assert rows[1][:5] == ["1", "500104002", "组织500104002", "org", "1.0"]
    assert len(rows) == 3

    response = client.get("/api/stats/rollup/export?prefix=500104&period=2025-03-01"
                          "&format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [tuple(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ("prefix", "period", "breakdown", "category", "count")
    assert ("500104", "2025-03-01", "by_stage", "full", 20) in rows
    assert ("500104", "2025-03-01", "by_age_band", "<=30", 7) in rows
    assert ("500104", "2025-03-01", "orgs", "total", 5) in rows


def test_org_names_cannot_start_a_formula(client, network, consumer):
    a = Sender(network, consumer, "node-a", [("dadukou", "500104")])
    a.send("dadukou", [org("500104", None, "committee", children={"branch": 1}),
                       org("500104001", "500104", full=1, name="=HYPERLINK(\"x\")")])
    response = client.get("/api/stats/rankings/export?prefix=500104&period=2025-03-01")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[1][2] == "'=HYPERLINK(\"x\")"


@pytest.mark.parametrize("query", [
    "/api/stats/rollup?prefix=abc",
    "/api/stats/rollup?period=2025-13-01",
    "/api/stats/rollup?prefix=" + "1" * 65,
    "/api/stats/compare",
    "/api/stats/compare?prefix=x",
    "/api/stats/series?prefix=500104",
    "/api/stats/series?from=2025-01-01&to=nope",
    "/api/stats/rankings?metric=nope",
    "/api/stats/rankings?order=sideways",
    "/api/stats/rankings?cursor=garbage",
    "/api/stats/rankings?limit=0",
    "/api/stats/rankings/export?format=pdf",
    "/api/stats/rollup/export?format=doc",
])
def test_bad_query_parameters_are_problems(client, query):
    response = client.get(query)
    assert response.status_code == 422, response.data
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 422


# --- organizational life and dues (partynet.stats.snapshot.v2) ---------------------------------


def with_life(entry: dict[str, Any], *, due: int = 0, met: int = 0, held: int = 0,
              invited: int = 0, present: int = 0, assessed: int = 0, paid_up: int = 0,
              due_fen: int = 0, paid_fen: int = 0) -> dict[str, Any]:
    """An org entry of a v2 snapshot: theme days due, met and held, attendance and dues."""
    life = empty_life()
    life["meetings_due"]["theme_day"] = due
    life["meetings_met"]["theme_day"] = met
    life["meetings_held"]["theme_day"] = held
    life["attendance"].update(invited=invited, present=present)
    life["dues"].update(assessed=assessed, paid_up=paid_up, in_arrears=assessed - paid_up,
                        due_fen=due_fen, paid_fen=paid_fen)
    return {**entry, "life": life}


DADUKOU_V2 = [with_life(DADUKOU[0]), with_life(DADUKOU[1]),
              with_life(DADUKOU[2], due=10, met=9, held=9, invited=108, present=90,
                        assessed=12, paid_up=11, due_fen=216000, paid_fen=198000),
              with_life(DADUKOU[3], due=10, met=5, held=6, invited=30, present=15,
                        assessed=5, paid_up=2, due_fen=90000, paid_fen=45000),
              with_life(DADUKOU[4], due=10, met=10, held=12, invited=48, present=48,
                        assessed=4, paid_up=4, due_fen=72000, paid_fen=72000)]


@pytest.fixture()
def life_nodes(network, consumer):
    """Dadukou on v2 (with life), Jiulongpo still on v1: the hub takes both."""
    a = Sender(network, consumer, "node-a", [("dadukou", "500104")])
    b = Sender(network, consumer, "node-b", [("jiulongpo", "500107")])
    assert a.send("dadukou", DADUKOU_V2, type_=SNAPSHOT_V2) == Outcome.applied
    assert b.send("jiulongpo", JIULONGPO) == Outcome.applied
    return a, b


def test_v2_snapshots_store_life_and_rollups_sum_it(life_nodes, session):
    tenant = services.rollup("500104", "2025-03-01")  # the tenant's stored totals
    assert tenant.life["meetings_due"]["theme_day"] == 30
    assert tenant.life["meetings_met"]["theme_day"] == 24
    assert tenant.life["dues"] == {"assessed": 21, "paid_up": 17, "in_arrears": 4,
                                   "due_fen": 378000, "paid_fen": 315000}
    assert tenant.metric("compliance_rate") == round(24 / 30, 4)
    assert tenant.metric("attendance_rate") == round(153 / 186, 4)
    assert tenant.metric("dues_paid_up_share") == round(17 / 21, 4)
    assert tenant.metric("dues_collection_rate") == round(315000 / 378000, 4)
    inside = services.rollup("500104001", "2025-03-01")  # org_stats inside the tenant
    assert inside.life["meetings_met"]["theme_day"] == 14
    assert inside.metric("dues_in_arrears") == 4
    country = services.rollup("", "2025-03-01")
    assert country.life["meetings_due"]["theme_day"] == 30  # the v1 tenant adds zeros
    assert country.party_members == 43
    v1 = services.rollup("500107", "2025-03-01")
    assert v1.metric("compliance_rate") is None and v1.metric("dues_collection_rate") is None


def test_rankings_compare_compliance_and_dues(life_nodes):
    ranked = services.ranking("500104001", "2025-03-01", "compliance_rate")
    assert [(c.code, c.value) for c in ranked] == [("500104001001", 0.9),
                                                   ("500104001002", 0.5)]
    collected = services.ranking("500104001", "2025-03-01", "dues_collection_rate",
                                 descending=False)
    assert [c.code for c in collected] == ["500104001002", "500104001001"]
    regions = services.ranking("5001", "2025-03-01", "compliance_rate")
    assert [(c.code, c.value) for c in regions] == [("500104", 0.8), ("500107", None)]


def test_v2_refuses_anything_more_and_v1_refuses_life():
    """Strict on both sides: a node cannot seal a chunk with a field the contract does not
    name (and the hub validates again after verifying); v1 never grows a `life`."""
    from marshmallow import ValidationError

    from federation.messages import validate_data

    data = {"taken_at": "2025-03-01T02:00:00.000Z", "period": "2025-03-01", "chunk": 1,
            "chunks": 1, "orgs": copy.deepcopy(DADUKOU_V2)}
    assert validate_data(SNAPSHOT_V2, data)["orgs"][2]["life"]["dues"]["paid_up"] == 11
    leaking = copy.deepcopy(data)
    leaking["orgs"][2]["life"]["dues"]["member_names"] = 1
    with pytest.raises(ValidationError, match="member_names"):
        validate_data(SNAPSHOT_V2, leaking)
    fractional = copy.deepcopy(data)
    fractional["orgs"][2]["life"]["dues"]["paid_fen"] = 1980.5
    with pytest.raises(ValidationError):
        validate_data(SNAPSHOT_V2, fractional)
    with pytest.raises(ValidationError, match="life"):
        validate_data(SNAPSHOT, data)
    missing = copy.deepcopy(data)
    del missing["orgs"][2]["life"]
    with pytest.raises(ValidationError, match="life"):
        validate_data(SNAPSHOT_V2, missing)


def test_the_rollup_api_has_the_life_rates(client, life_nodes):
    body = client.get("/api/stats/rollup?prefix=500104&period=2025-03-01").get_json()
    assert body["rates"]["compliance_rate"] == 0.8
    assert body["life"]["dues"]["paid_fen"] == 315000
    assert body["life"]["meetings_met"]["theme_day"] == 24
    exported = client.get("/api/stats/rollup/export?prefix=500104&period=2025-03-01&format=csv")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert ["500104", "2025-03-01", "dues", "paid_fen", "315000"] in rows
    assert body["rates"]["dues_collection_rate"] == round(315000 / 378000, 4)
    ranked = client.get("/api/stats/rankings?prefix=500104001&period=2025-03-01"
                        "&metric=dues_paid_up_share").get_json()
    assert [i["code"] for i in ranked["items"]] == ["500104001001", "500104001002"]
