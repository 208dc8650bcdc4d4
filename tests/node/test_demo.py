"""The demo node: its data is realistic and consistent, its accounts work, and `make demo` serves."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from federation.delivery.models import OutboxMessage
from node import demo
from node.accounts.models import Account
from node.accounts.services import authenticate, load_principal, verify_password
from node.auth.models import OAuthClient
from node.content.models import Article, ArticleStatus, Visibility
from node.db import db
from node.grants.models import Role
from node.members.identity import identity
from node.members.models import STAGE_ORDER, Member, OrgChange, Stage, StageChange, Status
from node.orgs.models import Officer, OfficerPosition, Org, OrgKind
from node.orgs.services import ALLOWED_CHILDREN
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from shared.codes import SEGMENT_WIDTH
from shared.identity import birth_date, gender, mask_national_id, normalize_national_id


def test_seeded_demo_data(session):
    """One seeding per backend (it takes seconds), then every property of the data.

    (A module-scoped seeding shared by several tests would be reseeded whenever xdist
    interleaves backends, so the checks are helpers of one test instead.)
    """
    summaries = demo.seed()
    _tenants_with_their_division_code_prefixes(summaries)
    _org_trees_with_valid_codes_under_the_tenant_prefix(summaries)
    _members_at_every_stage_and_status_with_a_consistent_history(summaries)
    _national_ids_valid_encrypted_and_matching_the_record(summaries)
    _every_branch_with_a_current_secretary_from_its_members(summaries)
    _demo_accounts_sign_in_with_the_printed_password_and_hold_their_grants(summaries)
    _each_tenant_with_an_api_client_acting_as_a_member_administrator(summaries)
    _public_articles_published_and_queued_for_the_hub(summaries)
    _seeding_again_reuses_the_data(summaries)


def _tenant(slug: str) -> Tenant:
    with all_tenants():
        return db.session.scalars(sa.select(Tenant).where(Tenant.slug == slug)).one()


def _tenants_with_their_division_code_prefixes(summaries):
    assert [(s.slug, s.code_prefix, s.name) for s in summaries] == [
        ("dadukou", "500104", "中共重庆市大渡口区委员会"),
        ("jiulongpo", "500107", "中共重庆市九龙坡区委员会"),
    ]
    for summary in summaries:
        assert summary.created
        assert summary.orgs >= 25 and 200 <= summary.members <= 400
        assert _tenant(summary.slug).next_member_seq == summary.members


def _org_trees_with_valid_codes_under_the_tenant_prefix(summaries):
    for summary in summaries:
        tenant = _tenant(summary.slug)
        with tenant_context(tenant.id):
            orgs = {o.id: o for o in db.session.scalars(sa.select(Org))}
        kinds = {o.kind for o in orgs.values()}
        assert kinds == set(OrgKind)
        assert sum(1 for o in orgs.values() if o.description) >= 5
        roots = [o for o in orgs.values() if o.parent_id is None]
        assert [r.code for r in roots] == [tenant.code_prefix]
        for org in orgs.values():
            assert org.code.startswith(tenant.code_prefix)
            assert len(org.code) == len(tenant.code_prefix) + SEGMENT_WIDTH * org.depth
            if org.parent_id is not None:
                parent = orgs[org.parent_id]
                assert org.code[:-SEGMENT_WIDTH] == parent.code
                assert org.kind in ALLOWED_CHILDREN[parent.kind]
        assert len({o.code for o in orgs.values()}) == len(orgs)


def _history(tenant: Tenant) -> tuple[list[Member], dict[int, list[StageChange]],
                                      dict[int, list[OrgChange]]]:
    with tenant_context(tenant.id):
        members = db.session.scalars(sa.select(Member)).all()
        stages: dict[int, list[StageChange]] = defaultdict(list)
        for change in db.session.scalars(sa.select(StageChange).order_by(
                StageChange.effective_on, StageChange.id)):
            stages[change.member_id].append(change)
        orgs: dict[int, list[OrgChange]] = defaultdict(list)
        for change in db.session.scalars(sa.select(OrgChange).order_by(
                OrgChange.effective_on, OrgChange.id)):
            orgs[change.member_id].append(change)
    return list(members), stages, orgs


def _members_at_every_stage_and_status_with_a_consistent_history(summaries):
    today = dt.date.today()
    for summary in summaries:
        tenant = _tenant(summary.slug)
        members, stages, org_history = _history(tenant)
        assert {m.stage for m in members} == set(Stage)
        assert {m.status for m in members} == set(Status) - {Status.transferred_out}
        full_active = sum(1 for m in members if m.stage == Stage.full and m.status == "active")
        assert full_active > len(members) * 0.6
        moved = 0
        for member in members:
            steps = stages[member.id]
            assert [s.to_stage for s in steps] == STAGE_ORDER[:STAGE_ORDER.index(member.stage) + 1]
            assert [s.from_stage for s in steps] == [None, *(s.to_stage for s in steps[:-1])]
            dates = [s.effective_on for s in steps]
            assert dates == sorted(set(dates)) and dates[-1] <= today
            assert member.applied_on == dates[0]
            by_stage = {s.to_stage: s.effective_on for s in steps}
            assert member.admitted_on == by_stage.get(Stage.probationary)
            assert member.full_on == by_stage.get(Stage.full)
            if member.full_on:  # a year's probation, or an extension of 6-12 months
                assert 365 <= (member.full_on - member.admitted_on).days <= 366 + 365
            assert (member.applied_on - member.birth_date).days >= 18 * 365
            history = org_history[member.id]
            assert history[-1].to_org_id == member.org_id
            moved += len(history) > 1
        assert moved >= 1


def _national_ids_valid_encrypted_and_matching_the_record(summaries):
    tools = identity()
    for summary in summaries:
        tenant = _tenant(summary.slug)
        members, _, _ = _history(tenant)
        for member in members:
            national_id = tools.cipher.decrypt(member.national_id_cipher)
            assert normalize_national_id(national_id) == national_id
            assert national_id[:6] == tenant.region_code
            assert gender(national_id) == member.gender
            assert birth_date(national_id) == member.birth_date
            assert member.national_id_masked == mask_national_id(national_id)
            assert member.national_id_hash == tools.hasher.hash(national_id)
            assert national_id not in member.national_id_cipher


def _every_branch_with_a_current_secretary_from_its_members(summaries):
    for summary in summaries:
        tenant = _tenant(summary.slug)
        with tenant_context(tenant.id):
            branches = db.session.scalars(sa.select(Org).where(
                Org.kind.in_((OrgKind.branch, OrgKind.joint_branch)))).all()
            for org in branches:
                current = db.session.scalars(sa.select(Officer).where(
                    Officer.org_id == org.id, Officer.term_end.is_(None))).all()
                secretaries = [o for o in current if o.position == OfficerPosition.secretary]
                assert len(secretaries) == 1, org.name
                member = db.session.get(Member, secretaries[0].member_id)
                assert member is not None and member.org_id == org.id
                assert member.name == secretaries[0].name


def _login(tenant: Tenant, username: str, password: str) -> Account | None:
    with tenant_context(tenant.id):
        return authenticate(tenant_id=tenant.id, username=username, password=password,
                            remote_addr=None, max_failures=5, window=900)


def _demo_accounts_sign_in_with_the_printed_password_and_hold_their_grants(summaries):
    for summary in summaries:
        tenant = _tenant(summary.slug)
        assert [a.username for a in summary.accounts] == [
            "admin", "committee", "secretary", "viewer", "member"]
        assert _login(tenant, "secretary", "not-the-password") is None
        roles = {}
        for printed in summary.accounts:
            assert printed.password == demo.DEMO_PASSWORD
            account = _login(tenant, printed.username, printed.password)
            assert account is not None, printed.username
            with tenant_context(tenant.id):
                principal = load_principal(account)
                [(role, code)] = principal.grants
                org = db.session.scalars(sa.select(Org).where(Org.code == code)).one()
                linked = db.session.get(Member, account.member_id) if account.member_id else None
            assert (role, org.name) == (printed.role, printed.org_name)
            assert (linked.name if linked else None) == printed.member_name
            roles[printed.username] = (role, org, linked)
        prefix = tenant.code_prefix
        assert roles["admin"][0] == Role.tenant_admin and roles["admin"][1].code == prefix
        assert roles["viewer"][0] == Role.org_viewer and roles["viewer"][1].code == prefix
        committee = roles["committee"][1]
        assert roles["committee"][0] == Role.org_admin and committee.kind == OrgKind.committee
        role, branch, secretary = roles["secretary"]
        assert role == Role.org_admin and branch.kind == OrgKind.branch
        assert branch.code.startswith(committee.code)
        assert secretary is not None and secretary.org_id == branch.id
        with tenant_context(tenant.id):
            assert db.session.scalar(sa.select(Officer.id).where(
                Officer.org_id == branch.id, Officer.member_id == secretary.id,
                Officer.position == OfficerPosition.secretary)) is not None
        role, org, member = roles["member"]
        assert role == Role.member and member is not None and org.id == member.org_id
        assert member.stage == Stage.full and member.status == Status.active


def _each_tenant_with_an_api_client_acting_as_a_member_administrator(summaries):
    for summary in summaries:
        tenant = _tenant(summary.slug)
        with tenant_context(tenant.id):
            client = db.session.scalars(sa.select(OAuthClient).where(
                OAuthClient.client_id == summary.client_id)).one()
            assert client.tenant_id == tenant.id and client.grant_types == "client_credentials"
            assert verify_password(client.client_secret_hash, summary.client_secret)
            service = db.session.get(Account, client.service_account_id)
            assert service is not None and service.is_service
            assert load_principal(service).grants == ((Role.org_admin, tenant.code_prefix),)


def _public_articles_published_and_queued_for_the_hub(summaries):
    for summary in summaries:
        spec = demo.ALL_TENANTS[summary.slug]
        assert summary.public_articles == len(spec.articles) >= 3
        with tenant_context(_tenant(summary.slug).id):
            titles = db.session.scalars(sa.select(Article.title).where(
                Article.status == ArticleStatus.published,
                Article.visibility == Visibility.public, Article.on_hub.is_(True))).all()
        assert sorted(titles) == sorted(a.title for a in spec.articles)
        assert any("党建" in a.title + a.summary + a.body for a in spec.articles)
    queued = db.session.execute(sa.select(OutboxMessage.tenant, sa.func.count()).where(
        OutboxMessage.type == "partynet.content.published.v1")
        .group_by(OutboxMessage.tenant)).all()
    assert dict(queued) == {s.slug: s.public_articles for s in summaries}


def _seeding_again_reuses_the_data(summaries):
    again = demo.seed()
    assert [s.created for s in again] == [False, False]
    assert [s.client_secret for s in again] == [None, None]  # kept by the instance, not the db
    assert [s.client_id for s in again] == [s.client_id for s in summaries]
    assert [(s.slug, s.orgs, s.members, s.accounts) for s in again] == [
        (s.slug, s.orgs, s.members, s.accounts) for s in summaries]
    with all_tenants():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Tenant).where(
            Tenant.slug.in_(["dadukou", "jiulongpo"]))) == 2


def test_a_small_tongling_tenant_for_the_demo_network(session):
    """The second node's tenant, scaled down (`--small`): Anhui addresses and national IDs."""
    [summary] = demo.seed(tenants=(demo.TONGLING,), scale=0.2)
    assert (summary.slug, summary.code_prefix, summary.name) == (
        "tongguan", "340705", "中共铜陵市铜官区委员会")
    assert summary.created and 30 <= summary.members <= 80 and summary.orgs >= 12
    assert [a.username for a in summary.accounts] == [a.username for a in demo.ACCOUNTS]
    with tenant_context(_tenant("tongguan").id):
        members = db.session.scalars(sa.select(Member)).all()
        assert all(m.address.startswith("安徽省铜陵市铜官区") for m in members)
        assert all(identity().cipher.decrypt(m.national_id_cipher).startswith("340705")
                   for m in members)


def test_the_plan_is_deterministic_for_a_given_day():
    day = dt.date(2026, 3, 1)
    first = demo.plan_tenant(demo.DADUKOU, random.Random("x"), day)
    second = demo.plan_tenant(demo.DADUKOU, random.Random("x"), day)
    assert first == second
    people = [p for plan in first for p in plan.people]
    assert len({p.national_id for p in people}) == len(people)
    assert all(p.stages[-1][1] <= day for p in people)


# --------------------------------------------------------------------------- the command


def _partynet() -> str:
    return str(Path(sys.executable).with_name("partynet"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}


def _counts(db_file: Path) -> tuple[int, ...]:
    with sqlite3.connect(db_file) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("tenants", "orgs", "members", "accounts", "grants"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_demo_command_sets_up_once_then_reuses_the_data_and_serves_it(tmp_path):
    """`partynet node demo --no-serve` seeds; the second run (as a user runs it, serving)
    reuses what is there and serves it over HTTP. One seeding for both: it is the slow part."""
    instance = tmp_path / "demo"
    command = [_partynet(), "node", "demo", "--instance", str(instance)]
    first = subprocess.run([*command, "--no-serve"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    for text in ("/api/docs", "/readyz", demo.DEMO_PASSWORD, "dadukou", "jiulongpo",
                 "secretary", "seeded in"):
        assert text in first.stdout
    env_file = instance / demo.ENV_FILE
    assert env_file.stat().st_mode & 0o077 == 0
    settings = demo.read_env_file(env_file)
    assert settings["NODE_DATABASE_URL"] == f"sqlite:///{instance.resolve() / demo.DB_FILE}"
    assert {"NODE_SECRET_KEY", "NODE_PII_KEY", "NODE_IDENTITY_HASH_KEY", "NODE_DEBUG",
            "NODE_BASE_URL"} <= set(settings)
    counts = _counts(instance / demo.DB_FILE)
    assert counts[0] == 2 and counts[2] > 400
    clients = (instance / demo.CLIENTS_FILE).read_text()
    assert len(clients.splitlines()) == 2
    for line in clients.splitlines():
        assert line.replace(" ", ":") in first.stdout  # curl -u id:secret

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([*command, "--port", str(port)], cwd=tmp_path, env=_env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the demo did not become ready in time"
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        second = log_path.read_text()
        assert "earlier run" in second
        assert _counts(instance / demo.DB_FILE) == counts
        again = demo.read_env_file(env_file)
        assert again.pop("NODE_BASE_URL") == base  # the port of this run; the keys kept
        assert {k: again[k] for k in settings if k != "NODE_BASE_URL"} == {
            k: v for k, v in settings.items() if k != "NODE_BASE_URL"}
        assert (instance / demo.CLIENTS_FILE).read_text() == clients
        for line in clients.splitlines():
            assert line.replace(" ", ":") in second
        version = requests.get(f"{base}/api/version", timeout=5)
        assert version.status_code == 200 and version.json()["name"] == "partynet-node"
        assert requests.get(f"{base}/api/docs", timeout=5).status_code == 200
        assert f"{base}/api/docs" in second
        # The printed API client gets a token, and the token reads the tenant's tree.
        client_id, secret = clients.splitlines()[0].split()
        token = requests.post(f"{base}/oauth/token", auth=(client_id, secret), timeout=10,
                              data={"grant_type": "client_credentials"})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        orgs = requests.get(f"{base}/api/orgs", headers=headers, timeout=10)
        assert orgs.status_code == 200
        assert orgs.json()["items"][0]["name"] == "中共重庆市大渡口区委员会"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0


# --------------------------------------------------------------------------- deploy/

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_production_gunicorn_config_loads_the_app_and_refuses_bad_settings(tmp_path):
    env = {**_env(), "NODE_DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}",
           "NODE_SECRET_KEY": "s" * 32, "NODE_IDENTITY_HASH_KEY": "h" * 32,
           "NODE_PII_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
           "NODE_TRUSTED_PROXIES": "1"}
    command = [str(Path(sys.executable).with_name("gunicorn")), "-c",
               str(DEPLOY / "gunicorn.conf.py"), "--check-config"]
    ok = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(command, cwd=tmp_path, env={**env, "NODE_PII_KEY": "short"},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "NODE_PII_KEY" in bad.stderr


def test_the_backup_script_copies_sqlite_online_verifies_and_rotates(tmp_path):
    source = tmp_path / "node.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO members (name) VALUES (?)", [("党员",)] * 50)
    env_file = tmp_path / "node.env"
    env_file.write_text(f"NODE_DATABASE_URL=sqlite:///{source}\n")
    backups = tmp_path / "backups"
    env = {**_env(), "BACKUP_DIR": str(backups), "KEEP": "2"}
    for _ in range(3):
        run = subprocess.run([str(DEPLOY / "backup" / "node-backup.sh"), str(env_file)],
                             env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        time.sleep(1.1)  # file names carry the time to the second
    kept = sorted(backups.glob("node-*.sqlite.gz"))
    assert len(kept) == 2 and "removed" in run.stdout
    assert all(f.stat().st_mode & 0o077 == 0 for f in kept)
    restored = tmp_path / "restored.db"
    restored.write_bytes(gzip.decompress(kept[-1].read_bytes()))
    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT count(*) FROM members").fetchone() == (50,)
