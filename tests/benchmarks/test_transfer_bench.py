"""Transfers of the organization relationship at scale: 1,000 transfers in flight across three
nodes, with automatic approvals, over RabbitMQ, on PostgreSQL.

Run with `make bench` (this part alone: `.venv/bin/pytest tests/benchmarks/test_transfer_bench.py
-m bench -p no:randomly -s -o addopts="" --import-mode=importlib`). The figures go into
docs/performance.md ("Transfers"). `PARTYNET_BENCH_SCALE=0.1` runs a tenth of the transfers
(for development; phase 2 then has 24 + 6).

The network is installed and run as its operators run it: `partynet hub|node ...` commands in
their own folders, each app on a fresh PostgreSQL database, one vhost of the shared RabbitMQ made
for the run (deleted afterwards); the hub serves HTTP for the enrollment; the hub's and the three
nodes' bus workers (`partynet ... bus worker`: relay and consumer) are separate processes.

- node `tb-n1`: 大渡口区 (dadukou) and 九龙坡区 (jiulongpo); `tb-n2`: 铜官区 (tongguan);
  `tb-n3`: 桥西区 (qiaoxi). Every tenant has the rule "approve automatically" (set by the
  seeding through the service of `partynet node transfers rules SLUG --auto-approve`) and two
  branches: the members leave from one and arrive in the other.
- The transfers go in every direction: three quarters between nodes (each node to each other
  node, through the hub), a quarter within a node (across its two tenants, and within a tenant).
- Each node's members are seeded first (not timed), and the bus is let drain (their identity
  hashes reach the hub).
- Phase 1, issuing: the relays hold every stream (`fed_streams.blocked_until`, as they pause an
  unreachable destination; the workers keep running), and the three nodes apply for all their
  transfers at once, one transaction each (a secretary's application; the automatic approvals
  issue the letter in it, and carry a transfer within a node to its end). Then all those
  between nodes are in flight: checked (letters issued, members active at the origin, nothing
  at the destinations or at the hub).
- Release: the streams are unblocked at one instant; the test waits until every transfer is
  closed at its origin and received at its destination, and checks: zero stuck (every pair
  in agreeing terminal states, on both nodes and at the hub, nothing quarantined), every
  member active in exactly one place (transferred out at the origin), the counts per flow.
- Phase 1's figures: transfers between nodes per second (from the release to the last side
  closed); from the release to each reception (the member active at the destination,
  `received_at`), p50 and p99: the queueing of a burst, not the latency of a lone transfer.
- Phase 2, on the same running network with the bus live (not held): 200 more transfers
  between nodes (seeded with the others; the six directions in turn) and 50 within tb-n1
  (大渡口区 ⇄ 九龙坡区, spread among them), issued one by one at a steady rate by the three
  nodes' processes (each application at its time from a common start, one transaction each),
  while the workers apply the earlier ones' steps. The rate is half of phase 1's overall
  rate (its 1,000 applications over the time from the first application to the last close:
  issuing and the saga's steps together, as they are here), between 0.5 and 10 per second:
  below what the machine sustains, so the figure is the path of one transfer on a busy
  network rather than a queue's. Figures, for the 200 between nodes: from issuing (the
  origin's `issued_at`, the letter's commit) to reception (the destination's `received_at`),
  p50, p99 and max, and the rate achieved; zero stuck is checked again over all.
- Baseline, in the same run, on the same running workers: bare signed pings, as many bus
  hops as the transfers between nodes made (each of their four steps goes node -> hub ->
  node: 8 hops), half node -> hub, half hub -> node, held and released the same way; the rate
  at which the bus alone moves them gives the "bus-only" transfers per second (hops / 8).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from federation.transport import open_bus
from shared.testing.backends import fresh_pg_database
from shared.testing.rabbitmq import amqp_url
from tests.federation.delivery.brokers import rabbitmq_vhost, require_rabbitmq_for_benchmark

pytestmark = pytest.mark.bench

SCALE = float(os.environ.get("PARTYNET_BENCH_SCALE", "1"))
#: Transfers in flight (a multiple of 16: the flows below are sixteenths).
TRANSFERS = max(16, int(1_000 * SCALE) // 16 * 16) if SCALE < 1 else 1_000
HUB = "hub"
REPO = Path(__file__).resolve().parents[2]
PII_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, benchmarks only
ADMIN_PASSWORD = "admin-password-1"
#: (folder = node id, its tenants (slug, name, code prefix))
NODES: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("tb-n1", (("dadukou", "中共重庆市大渡口区委员会", "500104"),
               ("jiulongpo", "中共重庆市九龙坡区委员会", "500107"))),
    ("tb-n2", (("tongguan", "中共铜陵市铜官区委员会", "340705"),)),
    ("tb-n3", (("qiaoxi", "中共石家庄市桥西区委员会", "130104"),)),
)
NODE_OF = {slug: node for node, tenants in NODES for slug, _n, _p in tenants}
PREFIX_OF = {slug: prefix for _node, tenants in NODES for slug, _n, prefix in tenants}
#: (from tenant, to tenant, sixteenths of the transfers)
FLOWS = (
    ("dadukou", "tongguan", 2), ("tongguan", "qiaoxi", 2), ("qiaoxi", "dadukou", 2),
    ("jiulongpo", "qiaoxi", 2), ("qiaoxi", "tongguan", 2), ("tongguan", "jiulongpo", 2),
    ("dadukou", "jiulongpo", 1), ("jiulongpo", "dadukou", 1),  # two tenants of one node
    ("tongguan", "tongguan", 1), ("qiaoxi", "qiaoxi", 1),  # within a tenant
)
#: Phase 2: transfers issued one by one at a steady rate, the bus live: STEADY between nodes
#: (measured) and STEADY_WITHIN within node tb-n1, across its two tenants.
STEADY = max(24, int(200 * SCALE)) if SCALE < 1 else 200
STEADY_WITHIN = STEADY // 4
#: Bounds of phase 2's rate (applications/s; it is half of phase 1's overall rate).
STEADY_MIN_RATE, STEADY_MAX_RATE = 0.5, 10.0
HOPS_PER_TRANSFER = 8  # letter, claim, released, receipt: each node -> hub -> node
#: Seconds to wait for every transfer to complete (generous: the figures say how long it took).
COMPLETION_TIMEOUT = 120 + 1.2 * TRANSFERS


def flow_counts() -> list[tuple[str, str, int]]:
    counts = [(a, b, TRANSFERS * w // 16) for a, b, w in FLOWS]
    short = TRANSFERS - sum(n for _a, _b, n in counts)
    a, b, n = counts[0]
    return [(a, b, n + short), *counts[1:]]


def _partynet() -> str:
    return str(Path(sys.executable).with_name("partynet"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


# --- the network: folders, commands, processes -------------------------------------------------


class Network:
    """The hub and three nodes installed in their folders under `root`."""

    def __init__(self, root: Path, databases: dict[str, str], bus_url: str) -> None:
        self.root, self.databases, self.bus_url = root, databases, bus_url
        self.port = _free_port()
        self.hub_url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "HUB_"))}
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO),
                                                           base.get("PYTHONPATH")]))
        self.envs: dict[str, dict[str, str]] = {HUB: {
            **base, "HUB_DATABASE_URL": databases[HUB], "HUB_BUS_URL": bus_url,
            "HUB_SECRET_KEY": "bench-hub-secret-0123456789", "HUB_BASE_URL": self.hub_url,
            "HUB_SIGNING_KEY_FILE": str(root / HUB / "hub-signing.key"), "HUB_DEBUG": "true"}}
        for node, _tenants in NODES:
            self.envs[node] = {
                **base, "NODE_DATABASE_URL": databases[node], "NODE_BUS_URL": bus_url,
                "NODE_SECRET_KEY": "bench-node-secret-0123456789", "NODE_PII_KEY": PII_KEY,
                "NODE_IDENTITY_HASH_KEY": "bench-identity-hash-key", "NODE_NODE_ID": node,
                "NODE_SIGNING_KEY_FILE": str(root / node / "node-signing.key"),
                "NODE_DEBUG": "true"}
        for app in self.envs:
            (root / app).mkdir(exist_ok=True)
        self.processes: list[tuple[str, subprocess.Popen[bytes], Any]] = []
        self.engines: dict[str, sa.Engine] = {}

    def command(self, app: str, *args: str) -> list[str]:
        return [_partynet(), "hub" if app == HUB else "node", *args]

    def chain(self, app: str, *commands: list[str]) -> subprocess.Popen[str]:
        """Commands one after the other in the background (an operator's `&&` chain)."""
        script = " && ".join(shlex.join(self.command(app, *c)) for c in commands)
        return subprocess.Popen(["sh", "-c", script], cwd=self.root / app, env=self.envs[app],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, app: str, *args: str) -> str:
        done = subprocess.run(self.command(app, *args), cwd=self.root / app,
                              env=self.envs[app], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{app} {args}: {done.stdout}{done.stderr}"
        return done.stdout

    def start(self, app: str, *args: str) -> subprocess.Popen[bytes]:
        name = f"{app}-{args[0]}-{args[1] if len(args) > 1 else ''}"
        log = (self.root / f"{name}.log").open("w")
        proc = subprocess.Popen(self.command(app, *args), cwd=self.root / app,
                                env=self.envs[app], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.processes.append((name, proc, log))
        return proc

    def python(self, app: str, job: dict[str, Any]) -> subprocess.Popen[str]:
        """This module's `_job` in a child process with the node's settings (its app)."""
        code = ("import json, sys; from tests.benchmarks.test_transfer_bench import _job; "
                "print(json.dumps(_job(json.loads(sys.argv[1]))))")
        return subprocess.Popen([sys.executable, "-c", code, json.dumps(job)], cwd=REPO,
                                env=self.envs[app], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def alive(self) -> None:
        for name, proc, _log in self.processes:
            assert proc.poll() is None, f"{name} exited ({proc.returncode})\n{self.logs()}"

    def logs(self, tail: int = 4_000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-tail:]}"
                         for p in sorted(self.root.glob("*.log")))

    def query(self, app: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        if app not in self.engines:
            self.engines[app] = sa.create_engine(self.databases[app], poolclass=sa.NullPool)
        with self.engines[app].connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def execute(self, app: str, sql: str, **params: Any) -> None:
        """A statement in a transaction of its own, committed."""
        self.query(app, "SELECT 1")  # makes the engine
        with self.engines[app].begin() as conn:
            conn.execute(sa.text(sql), params)

    def scalar(self, app: str, sql: str, **params: Any) -> Any:
        return self.query(app, sql, **params)[0][0]

    def close(self) -> None:
        for _name, proc, _log in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for _name, proc, log in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                proc.wait(timeout=10)
            log.close()
        for engine in self.engines.values():
            engine.dispose()


def phase(what: str, started: list[float] = [time.monotonic()]) -> None:  # noqa: B006
    """Progress on stderr (pytest -s shows it), with the seconds since the previous one."""
    now = time.monotonic()
    print(f"[transfer bench +{now - started[0]:6.1f} s] {what}", file=sys.stderr, flush=True)
    started[0] = now


def wait_until(check: Callable[[], bool], seconds: float, what: str, net: Network,
               interval: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        net.alive()
        assert time.monotonic() < deadline, f"{what}: not within {seconds:.0f} s\n{net.logs()}"
        time.sleep(interval)


# --- work done inside a node's app (a child process with the node's settings) ------------------


def _job(job: dict[str, Any]) -> Any:
    from node.app import create_app

    app = create_app()
    with app.app_context():
        work = {"seed": _seed, "issue": _issue, "ping": _ping}[job["do"]]
        profile = os.environ.get("PARTYNET_BENCH_PROFILE")  # a folder: cProfile each job
        if not profile:
            return work(job)
        import cProfile

        with cProfile.Profile() as profiler:
            result = work(job)
        profiler.dump_stats(Path(profile) / f"{job['do']}-{os.getpid()}.prof")
        return result


def _seed(job: dict[str, Any]) -> dict[str, Any]:
    """Per tenant: the automatic-approval rule, a leaving and an arriving branch, and
    `members` full members in the leaving branch (national IDs numbered from `first`)."""
    from node.audit.recording import acting_as
    from node.auth.principal import Principal
    from node.db import db
    from node.grants.models import Role
    from node.members.models import Stage
    from node.members.services import create_member
    from node.orgs.models import OrgKind
    from node.orgs.services import create_org
    from node.tenants.scoping import tenant_context
    from node.tenants.services import get_tenant_by_slug, root_org
    from node.transfers.services import configure_rules
    from tests.node.conftest import make_national_id

    out: dict[str, Any] = {}
    for slug, spec in job["tenants"].items():
        with acting_as("bench"):
            tenant = get_tenant_by_slug(slug)
            configure_rules(tenant, auto_approve=True)
            db.session.commit()
            principal = Principal(account_id=0, tenant_id=tenant.id, username="bench",
                                  grants=((Role.tenant_admin, tenant.code_prefix),))
            with tenant_context(tenant.id):
                root = root_org(tenant)
                leaving = create_org(principal, {"parent_id": root.id, "kind": OrgKind.branch,
                                                 "name": "转出党支部"})
                arriving = create_org(principal, {"parent_id": root.id, "kind": OrgKind.branch,
                                                  "name": "接收党支部"})
                db.session.commit()
                ids = []
                for i in range(spec["members"]):
                    n = spec["first"] + i
                    member = create_member(principal, tenant, {
                        "org_id": leaving.id, "name": f"转接党员{n}",
                        "national_id": make_national_id(n, tenant.code_prefix),
                        "stage": Stage.full, "phone": f"139{n:08d}"})
                    ids.append(member.id)
                    if i % 100 == 99:
                        db.session.commit()
                db.session.commit()
                out[slug] = {"arriving": arriving.code, "members": ids}
    return out


def _issue(job: dict[str, Any]) -> dict[str, Any]:
    """Each transfer as a secretary applies for it: one transaction; the automatic approvals
    issue the letter (and, within the node, carry it through to the end) in it. Paced when
    the job has a `barrier` folder: each transfer then has its offset (seconds) from a start
    that the parent writes there once every issuer is ready."""
    from node.accounts.models import Account
    from node.audit.recording import acting_as
    from node.auth.principal import Principal
    from node.db import db
    from node.grants.models import Role
    from node.tenants.scoping import tenant_context
    from node.tenants.services import get_tenant_by_slug
    from node.transfers.services import apply_transfer

    principals = {}
    for slug in {spec[0] for spec in job["transfers"]}:  # each tenant's administrator
        tenant = get_tenant_by_slug(slug)
        with tenant_context(tenant.id):
            account = db.session.scalar(sa.select(Account).where(Account.username == "admin"))
        principals[slug] = Principal(account_id=account.id, tenant_id=tenant.id,
                                     username="admin",
                                     grants=((Role.tenant_admin, tenant.code_prefix),))
    db.session.rollback()
    start = None
    if job.get("barrier"):  # paced: ready, then wait for the common start
        barrier = Path(job["barrier"])
        (barrier / f"ready-{os.getpid()}").touch()
        while not (barrier / "start").exists():
            time.sleep(0.01)
        start = float((barrier / "start").read_text())
    started, late, uids = time.time(), 0.0, []
    for slug, member_id, to_tenant, to_code, *at in job["transfers"]:
        if start is not None:
            due = start + at[0]
            time.sleep(max(0.0, due - time.time()))
            late = max(late, time.time() - due)
        principal = principals[slug]
        with acting_as("bench"), tenant_context(principal.tenant_id):
            transfer = apply_transfer(principal, member_id=member_id, to_tenant=to_tenant,
                                      to_org_code=to_code, reason="工作调动")
            uids.append(transfer.uid)
            db.session.commit()
    return {"seconds": time.time() - started, "count": len(job["transfers"]), "uids": uids,
            "late": late}


def _finish(proc: subprocess.Popen[str], what: str, timeout: float = 1_800) -> Any:
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{what}: {stdout}{stderr}"
    return json.loads(stdout.strip().splitlines()[-1])


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture()
def network(tmp_path: Path) -> Iterator[Network]:
    require_rabbitmq_for_benchmark()
    with contextlib.ExitStack() as stack:
        vhost = stack.enter_context(rabbitmq_vhost("partynet_bench_transfers"))
        databases = {app: stack.enter_context(
            fresh_pg_database(f"partynet_bench_tr_{app.replace('-', '_')}", required=True))
            for app in (HUB, *(node for node, _t in NODES))}
        net = Network(tmp_path, databases, amqp_url(vhost))
        stack.callback(net.close)
        yield net


def install(net: Network) -> None:
    """Migrations, keys, tenants, enrollment over HTTP; then the four bus workers, and the
    hub's tenant directory on every node."""
    hub = net.chain(HUB, ["db", "upgrade"], ["bus", "keygen"],
                    *(["enroll-token", "create", "--node-id", node,
                       *(f"--prefix={prefix}" for _s, _n, prefix in tenants), "--by", "bench"]
                      for node, tenants in NODES))
    nodes = {node: net.chain(node, ["db", "upgrade"], ["bus", "keygen"],
                             *(["tenant", "create", "--slug", slug, "--name", name,
                                "--code-prefix", prefix, "--admin-username", "admin",
                                "--admin-password", ADMIN_PASSWORD]
                               for slug, name, prefix in tenants))
             for node, tenants in NODES}
    outputs = {}
    for app, proc in ((HUB, hub), *nodes.items()):
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{app}: {stdout}{stderr}"
        outputs[app] = stdout
    tokens = re.findall(r"pne_\S+", outputs[HUB])
    assert len(tokens) == len(NODES), outputs[HUB]
    net.start(HUB, "serve", "--port", str(net.port), "--workers", "1")
    wait_until(lambda: _ready(net.hub_url), 60, "the hub serving", net)
    for (node, _tenants), token in zip(NODES, tokens, strict=True):
        net.run(node, "bus", "enroll", "--hub", net.hub_url, "--token", token)
    bus = open_bus(net.bus_url)
    bus.declare([HUB, *(node for node, _t in NODES)])
    bus.close()
    for app in (HUB, *(node for node, _t in NODES)):
        net.start(app, "bus", "worker")
    tenants = sum(len(t) for _n, t in NODES)
    for node, _tenants in NODES:
        wait_until(lambda node=node: net.scalar(node, "SELECT count(*) FROM directory_tenants")
                   == tenants, 120, f"the tenant directory reaching {node}", net)


def hold(net: Network, *, held: bool) -> dt.datetime:
    """Hold (or release) what the parties send each other: the relays skip a stream blocked
    until later (as they pause an unreachable destination), the workers keep running, warm.
    Returns the moment of the change."""
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1) if held else None
    for app in (HUB, *(node for node, _t in NODES)):
        net.execute(app, "UPDATE fed_streams SET blocked_until = :until, block_interval = 0",
                    until=until)
    return dt.datetime.now(dt.UTC)


def drained(net: Network) -> bool:
    """Every message every party queued has been published and applied by its receiver (the
    relay numbers a stream's messages when it publishes them: until then, they are only in
    the outbox)."""
    parties = [HUB, *(node for node, _t in NODES)]
    if any(net.scalar(app, "SELECT count(*) FROM fed_outbox WHERE sent_at IS NULL")
           for app in parties):
        return False
    sent = {(app, peer): out for app in parties
            for peer, out, _in in net.query(app, "SELECT peer, out_sequence, in_applied_up_to "
                                                 "FROM fed_streams")}
    applied = {(peer, app): in_ for app in parties
               for peer, _out, in_ in net.query(app, "SELECT peer, out_sequence, "
                                                     "in_applied_up_to FROM fed_streams")}
    return all(applied.get(key, 0) >= out for key, out in sent.items())


def _seconds(delta: dt.timedelta) -> float:
    return delta.total_seconds()


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --- the benchmark ----------------------------------------------------------------------------


def test_transfers_in_flight_across_three_nodes(network: Network) -> None:
    net = network
    load_before = os.getloadavg()
    phase("installing the hub and three nodes")
    install(net)
    phase("installed; seeding the members")
    flows = flow_counts()
    steady_flows = steady_counts()
    leaving = collections.Counter()
    for a, _b, n in (*flows, *steady_flows):
        leaving[a] += n

    # --- Members for both phases (not timed), then wait until the bus is quiet (their
    # identity hashes).
    seeders, first = {}, 1
    for node, tenants in NODES:
        spec = {}
        for slug, _name, _prefix in tenants:
            spec[slug] = {"members": leaving[slug], "first": first}
            first += leaving[slug]
        seeders[node] = net.python(node, {"do": "seed", "tenants": spec})
    seeded = {}
    for node, proc in seeders.items():
        seeded.update(_finish(proc, f"seeding {node}"))
    phase("seeded; waiting for the bus to be quiet")
    wait_until(lambda: drained(net), 300, "the seeding's messages applied", net, 0.5)
    hold(net, held=True)
    phase(f"issuing {TRANSFERS} transfers (the bus held)")

    # --- Phase 1: issue every transfer, the three nodes at once.
    jobs: dict[str, list[tuple[str, int, str, str]]] = {node: [] for node, _t in NODES}
    pools = {slug: list(data["members"]) for slug, data in seeded.items()}
    pending = [(a, b, n) for a, b, n in flows]
    while any(n for _a, _b, n in pending):  # interleave the flows of each tenant
        for i, (a, b, n) in enumerate(pending):
            if n:
                jobs[NODE_OF[a]].append((a, pools[a].pop(), b, seeded[b]["arriving"]))
                pending[i] = (a, b, n - 1)
    issued_from = time.time()
    issuers = {node: net.python(node, {"do": "issue", "transfers": transfers})
               for node, transfers in jobs.items()}
    issuing = {node: _finish(proc, f"issuing on {node}") for node, proc in issuers.items()}
    issue_seconds = time.time() - issued_from

    # --- All in flight: every letter to another node issued, in its node's outbox; the member
    # still active at the origin, nothing at the destination yet.
    leaving_to_other_node = collections.Counter()
    for a, b, n in flows:
        if NODE_OF[a] != NODE_OF[b]:
            leaving_to_other_node[NODE_OF[a]] += n
    in_flight = sum(leaving_to_other_node.values())
    for node, _t in NODES:
        assert net.query(node, "SELECT count(*) FROM transfers WHERE side = 'out' AND "
                               "state = 'issued' AND to_node <> from_node") \
            == [(leaving_to_other_node[node],)]
        assert net.query(node, "SELECT count(*) FROM transfers WHERE to_node <> from_node "
                               "AND side = 'in'") == [(0,)]
        assert net.query(node, "SELECT count(*) FROM members m JOIN transfers t ON "
                               "t.member_id = m.id AND t.side = 'out' WHERE "
                               "t.to_node <> t.from_node AND m.status = 'active'") \
            == [(leaving_to_other_node[node],)]
    assert net.query(HUB, "SELECT count(*) FROM hub_transfers") == [(0,)]
    phase(f"issued: {in_flight} transfers between nodes in flight; the bus released")
    released = hold(net, held=False)

    # --- Until every transfer is closed at its origin and received at its destination.
    wait_until(lambda: complete(net, flows), COMPLETION_TIMEOUT, "every transfer complete", net,
               0.5)
    completed_at = time.time()
    phase("complete; checking")
    load_after = os.getloadavg()
    outs, ins, cross = zero_stuck(net, flows)

    # --- Phase 1's figures.
    assert all(_utc(outs[uid][4]) < released for uid in cross)
    last_close = max(_utc(outs[uid][6]) for uid in cross)
    elapsed = _seconds(last_close - released)
    delays = sorted(_seconds(_utc(ins[uid][5]) - released) for uid in cross)
    cuts = statistics.quantiles(delays, n=100, method="inclusive")
    figures = {
        "transfers": TRANSFERS, "cross": len(cross), "rate": len(cross) / elapsed,
        "elapsed": elapsed, "issue_seconds": issue_seconds,
        "issue_rate": TRANSFERS / max(s["seconds"] for s in issuing.values()),
        "p50": statistics.median(delays), "p99": cuts[98], "max": delays[-1],
        "wall": completed_at - released.timestamp()}

    # --- Phase 2: on the same network, the bus live, transfers issued one by one at a
    # steady rate while the workers apply the earlier ones' steps (on tb-n1, applications
    # within the node too, while its worker receives members into the same tenants). The
    # rate: half of what phase 1 achieved from its first application to its last close
    # (issuing and the saga's steps together, as here), so the machine keeps headroom and the
    # figure is a transfer's own path (letter, claim, release: 6 bus hops) under load, not a
    # queue's.
    rate = min(STEADY_MAX_RATE, max(STEADY_MIN_RATE,
                                    TRANSFERS / (issue_seconds + elapsed) / 2))
    phase(f"phase 2: {STEADY} transfers between nodes and {STEADY_WITHIN} within one, "
          f"{rate:.2f} applications/s, the bus live")
    load_steady = os.getloadavg()
    steady = steady_phase(net, steady_flows, pools, seeded, rate, flows)
    load_steady_end = os.getloadavg()
    phase("phase 2 complete; checking everything again")
    all_flows = [*flows, *steady_flows]
    outs, ins, _cross = zero_stuck(net, all_flows)
    assert set(steady["uids"]) <= set(outs)
    steady_cross = [uid for uid in steady["uids"]
                    if NODE_OF[outs[uid][2]] != NODE_OF[outs[uid][3]]]
    assert len(steady_cross) == STEADY
    steady_delays = sorted(_seconds(_utc(ins[uid][5]) - _utc(outs[uid][4]))
                           for uid in steady_cross)
    issued_times = sorted(_utc(outs[uid][4]) for uid in steady_cross)
    span = _seconds(issued_times[-1] - issued_times[0])
    steady_cuts = statistics.quantiles(steady_delays, n=100, method="inclusive")
    steady_figures = {
        "count": len(steady_delays), "target": rate,
        "achieved": (len(steady_delays) - 1) / span if span else float("nan"),
        "span": span, "late": steady["late"],
        "p50": statistics.median(steady_delays), "p99": steady_cuts[98],
        "max": steady_delays[-1]}

    # --- Baseline: bare signed pings, as many hops as phase 1's transfers between nodes made.
    hops = len(cross) * HOPS_PER_TRANSFER
    base = baseline(net, hops)
    bus_only = base["rate"] / HOPS_PER_TRANSFER
    load_end = os.getloadavg()

    print(f"\nTransfers: {TRANSFERS:,} in flight across {len(NODES)} nodes "
          f"({len(cross):,} between nodes, {TRANSFERS - len(cross):,} within a node), "
          f"automatic approvals, RabbitMQ, PostgreSQL; load average before "
          f"{load_before[0]:.2f}, after the transfers {load_after[0]:.2f} "
          f"{load_after[1]:.2f} {load_after[2]:.2f}, at the end {load_end[0]:.2f}")
    print(f"  issuing: {issue_seconds:.1f} s for all, 3 node processes at once "
          f"({figures['issue_rate']:,.1f} applications/s in all; the {TRANSFERS - len(cross)}"
          f" within a node carried to the end in theirs)")
    print(f"  {len(cross):,} in flight between nodes, released at once: all closed in "
          f"{elapsed:.1f} s = {figures['rate']:,.1f} transfers/s; zero stuck")
    print(f"  release -> reception (member active at the destination): p50 "
          f"{figures['p50']:.2f} s, p99 {figures['p99']:.2f} s, max {figures['max']:.2f} s")
    print(f"  phase 2: {steady_figures['count']} between nodes and {STEADY_WITHIN} within "
          f"tb-n1, one by one at {rate:.2f} applications/s (between nodes: "
          f"{steady_figures['achieved']:.2f}/s over {span:.1f} s; at most "
          f"{steady_figures['late']:.2f} s behind schedule), the bus live; load average "
          f"{load_steady[0]:.2f} -> {load_steady_end[0]:.2f}; zero stuck")
    print(f"  issuing -> reception (issued_at at the origin -> received_at at the "
          f"destination): p50 {steady_figures['p50']:.2f} s, p99 "
          f"{steady_figures['p99']:.2f} s, max {steady_figures['max']:.2f} s")
    print(f"  baseline: {hops:,} bare signed pings (half node -> hub, half hub -> node) in "
          f"{base['seconds']:.1f} s: {base['rate']:,.0f} msg/s = {bus_only:,.1f} "
          f"transfers/s of bus hops alone; transfers reach "
          f"{figures['rate'] / bus_only:.2f} of it")
    print("  row: | run ({:.1f}, {:.1f}) | {:.1f} s ({:.0f} /s) | closed in {:.1f} s | **{:.1f}** "
          "| {:.1f} / **{:.1f}** / {:.1f} s | {:.1f} s, {:,.0f} msg/s | {:.1f} | {:.2f} |"
          .format(load_before[0], load_after[0], issue_seconds, figures["issue_rate"],
                  elapsed, figures["rate"], figures["p50"], figures["p99"], figures["max"],
                  base["seconds"], base["rate"], bus_only, figures["rate"] / bus_only))
    print("  row: | run ({:.1f}, {:.1f}) | {} + {} at {:.2f}/s | {:.2f}/s over {:.1f} s | "
          "{:.2f} / **{:.2f}** / {:.2f} s |"
          .format(load_steady[0], load_steady_end[0], steady_figures["count"],
                  STEADY_WITHIN, rate,
                  steady_figures["achieved"], span, steady_figures["p50"],
                  steady_figures["p99"], steady_figures["max"]))


def complete(net: Network, flows: list[tuple[str, str, int]]) -> bool:
    """Every transfer of `flows` (all issued so far) closed at its origin and received at
    its destination."""
    outgoing: collections.Counter[str] = collections.Counter()
    incoming: collections.Counter[str] = collections.Counter()
    for a, b, n in flows:
        outgoing[NODE_OF[a]] += n
        incoming[NODE_OF[b]] += n
    return all(
        net.scalar(node, "SELECT count(*) FROM transfers WHERE side = 'out' "
                         "AND state = 'closed'") == outgoing[node]
        and net.scalar(node, "SELECT count(*) FROM transfers WHERE side = 'in' "
                             "AND state = 'received'") == incoming[node]
        for node, _t in NODES)


def zero_stuck(net: Network, flows: list[tuple[str, str, int]]) -> tuple[
        dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]], list[str]]:
    """Check that every transfer issued so far (`flows`) is done: both sides terminal and
    agreeing, the hub agrees, nothing quarantined, every member active in exactly one place
    (transferred out at the origin). Returns the out sides and in sides by uid, as (node,
    state, from tenant, to tenant, issued_at, received_at, closed_at, identity hash), and the
    uids between nodes."""
    outs: dict[str, tuple[Any, ...]] = {}
    ins: dict[str, tuple[Any, ...]] = {}
    for node, _t in NODES:
        for uid, side, state, frm, to, issued, received, closed, digest in net.query(
                node, "SELECT uid, side, state, from_tenant, to_tenant, issued_at, "
                      "received_at, closed_at, identity_hash FROM transfers"):
            row = (node, state, frm, to, issued, received, closed, digest)
            (outs if side == "out" else ins)[uid] = row
    total = sum(n for _a, _b, n in flows)
    assert len(outs) == total and set(outs) == set(ins), (len(outs), len(ins))
    assert {row[1] for row in outs.values()} == {"closed"}
    assert {row[1] for row in ins.values()} == {"received"}
    per_flow = collections.Counter((row[2], row[3]) for row in outs.values())
    expected: collections.Counter[tuple[str, str]] = collections.Counter()
    for a, b, n in flows:
        expected[(a, b)] += n
    assert per_flow == expected, per_flow
    cross = [uid for uid, row in outs.items() if NODE_OF[row[2]] != NODE_OF[row[3]]]
    assert all(ins[uid][0] == NODE_OF[outs[uid][3]] for uid in outs)
    hub_rows = net.query(HUB, "SELECT uid, state, steps FROM hub_transfers")
    assert sorted(hub_rows) == sorted((uid, "closed", 4) for uid in cross), \
        collections.Counter((state, steps) for _u, state, steps in hub_rows)
    for app in (HUB, *(node for node, _t in NODES)):
        assert net.scalar(app, "SELECT count(*) FROM fed_quarantine") == 0, net.query(
            app, "SELECT reason, detail FROM fed_quarantine LIMIT 5")

    # Every member active in exactly one place, transferred out at the origin.
    places: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for node, _t in NODES:
        for digest, status, slug in net.query(
                node, "SELECT m.national_id_hash, m.status, t.slug FROM members m "
                      "JOIN tenants t ON t.id = m.tenant_id"):
            places[digest].append((slug, status))
    for uid, (_node, _s, frm, to, *_rest, digest) in outs.items():
        held = places[digest]
        active = [slug for slug, status in held if status == "active"]
        assert active == [to], (uid, held)
        if frm != to:
            assert (frm, "transferred_out") in held, (uid, held)
    return outs, ins, cross


def steady_counts() -> list[tuple[str, str, int]]:
    """Phase 2's transfers: STEADY between nodes, spread over the six directions, then
    STEADY_WITHIN within tb-n1 (大渡口区 ⇄ 九龙坡区)."""
    directions = [(a, b) for a, b, _w in FLOWS if NODE_OF[a] != NODE_OF[b]]
    return [*((a, b, STEADY // len(directions) + (i < STEADY % len(directions)))
              for i, (a, b) in enumerate(directions)),
            ("dadukou", "jiulongpo", STEADY_WITHIN - STEADY_WITHIN // 2),
            ("jiulongpo", "dadukou", STEADY_WITHIN // 2)]


def steady_phase(net: Network, flows: list[tuple[str, str, int]],
                 pools: dict[str, list[int]], seeded: dict[str, Any], rate: float,
                 issued_before: list[tuple[str, str, int]]) -> dict[str, Any]:
    """Issue `flows` one by one, the directions interleaved (those within a node spread
    evenly among those between nodes), application i at `i / rate` s after a start the three
    issuing processes wait for together (each is ready first: its app made, its principals
    found), on the live bus; wait until all are complete. Returns their uids and how far the
    issuing fell behind its schedule at most."""
    keyed: list[tuple[float, str, str]] = []
    for between in (True, False):
        part = []
        pending = [(a, b, n) for a, b, n in flows if (NODE_OF[a] != NODE_OF[b]) == between]
        while any(n for _a, _b, n in pending):
            for i, (a, b, n) in enumerate(pending):
                if n:
                    part.append((a, b))
                    pending[i] = (a, b, n - 1)
        keyed += [((k + 0.5 * (not between)) / len(part), a, b)
                  for k, (a, b) in enumerate(part)]
    order = [(a, b) for _key, a, b in sorted(keyed)]
    jobs: dict[str, list[tuple[str, int, str, str, float]]] = {node: [] for node, _t in NODES}
    for i, (a, b) in enumerate(order):
        jobs[NODE_OF[a]].append((a, pools[a].pop(), b, seeded[b]["arriving"], i / rate))
    barrier = net.root / "steady"
    barrier.mkdir()
    issuers = {node: net.python(node, {"do": "issue", "transfers": transfers,
                                       "barrier": str(barrier)})
               for node, transfers in jobs.items() if transfers}
    wait_until(lambda: len(list(barrier.glob("ready-*"))) == len(issuers), 300,
               "the steady issuers ready", net, 0.1)
    (barrier / "start.tmp").write_text(str(time.time() + 0.2))
    (barrier / "start.tmp").rename(barrier / "start")
    issuing = {node: _finish(proc, f"steady issuing on {node}")
               for node, proc in issuers.items()}
    uids = [uid for result in issuing.values() for uid in result["uids"]]
    assert len(uids) == len(order)
    wait_until(lambda: complete(net, [*issued_before, *flows]), 120 + 2 * len(uids),
               "phase 2 complete", net)
    return {"uids": uids, "late": max(result["late"] for result in issuing.values())}


def baseline(net: Network, hops: int) -> dict[str, float]:
    """`hops` pings through the running workers: the nodes' outboxes -> hub, the hub's ->
    nodes; seconds from their commit until every receiver applied them."""
    nodes = [node for node, _t in NODES]
    up = hops // 2
    per_node = up // len(nodes)
    down = per_node * len(nodes)
    hold(net, held=True)
    writers = [net.python(node, {"do": "ping", "to": {HUB: per_node}}) for node in nodes]
    writers.append(subprocess.Popen(
        [sys.executable, "-c", _PING_FROM_HUB, json.dumps({n: per_node for n in nodes})],
        cwd=REPO, env=net.envs[HUB], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True))
    for proc in writers:
        _finish(proc, "writing pings")
    started = hold(net, held=False).timestamp()
    wait_until(lambda: drained(net), 300, "the pings applied", net, 0.05)
    seconds = time.time() - started
    return {"seconds": seconds, "rate": (per_node * len(nodes) + down) / seconds}


#: The hub's pings to the nodes, written into its outbox (as the hub's services write
#: messages), in a child with the hub's settings.
_PING_FROM_HUB = """
import json, sys
from federation.delivery import send
from hub.app import create_app
from hub.db import db
from shared.db.session import transaction
import time
app = create_app()
first = None
with app.app_context():
    for node, count in json.loads(sys.argv[1]).items():
        for start in range(0, count, 1000):
            with transaction(db):
                for n in range(start, min(start + 1000, count)):
                    send(db.session(), "partynet.bus.ping.v1", destination=node,
                         data={"n": n, "payload": "x" * 600})
            first = first or time.time()
print(json.dumps({"first_commit": first}))
"""


def _ping(job: dict[str, Any]) -> dict[str, Any]:
    from federation.delivery import send
    from node.db import db
    from shared.db.session import transaction

    first = None
    for destination, count in job["to"].items():
        for start in range(0, count, 1_000):
            with transaction(db):
                for n in range(start, min(start + 1_000, count)):
                    send(db.session(), "partynet.bus.ping.v1", destination=destination,
                         data={"n": n, "payload": "x" * 600})
            first = first or time.time()
    return {"first_commit": first}
