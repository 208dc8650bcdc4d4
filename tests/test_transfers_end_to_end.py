"""A member's organization relationship moved from one node to another, end to end: the hub and
two nodes as separate processes (gunicorn and the bus workers, as their operators run them),
over real HTTP and a real bus: SQLite on the embedded bus, PostgreSQL on a private RabbitMQ node
(the helpers of tests/test_network_end_to_end.py).

enroll both nodes -> the hub's relay sends both nodes the tenant directory -> a secretary of
大渡口区 (node 1) applies for a member's transfer to 铜官区 (node 2) over the node's API and the
sending chain approves -> the letter, sealed for node 2, is routed by the hub -> node 2's
receiving chain approves over its API (assigning the branch) while every bus worker is killed
and RabbitMQ is stopped -> all restarted, node 2's relay and consumer as two processes, the
consumer only once the origin has let go -> the claim, the release and the receipt cross the
hub -> the member is active on node 2 with their data, transferred out on node 1, both sides
closed/received, each step routed once -> a person already on node 2's rolls: the hub refuses the letter
(already_active), the origin sees it rejected -> a member of node 1 floats with a branch of
node 2 (a floating certificate, issued, accepted and ended across the hub) -> the hub's API and console show the transfer
closed -> no text column of any hub table, its bus tables included (and for the embedded bus,
the bus file), holds the member's name or national ID.

From the application to the end, an observer (tests/transfer_observer.py) reads both nodes'
databases every 30 ms and records every instant it can see at which the invariant does not
hold (never on the rolls in two places; on the rolls at the origin unless its side is received
or closed) or the member is duplicated; it must see none, and must have seen the member at the
origin (the kill window), in flight (node 2's consumer held down) and arrived.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from federation.transport import open_bus
from shared.testing.rabbitmq import PrivateRabbitMQ
from tests.hub.test_end_to_end import _wait_for
from tests.node.conftest import make_national_id
from tests.test_network_end_to_end import (
    CSRF,
    HUB_ADMIN,
    HUB_PASSWORD,
    NODES,
    SETUPS,
    Api,
    Network,
    _hub_token,
    _node_session,
    _node_token,
    _output,
    _ready,
    install,
    open_network,
)
from tests.transfer_observer import ARRIVED, AT_ORIGIN, IN_FLIGHT, TransferObserver

NAME = "欧阳转接"
NATIONAL_ID = make_national_id(7777)
TWIN_NATIONAL_ID = make_national_id(7778)  # on both nodes' rolls
FLOATING_NAME = "司马流动"
FLOATING_NATIONAL_ID = make_national_id(7779)  # floating with a branch of node 2


@pytest.fixture(params=SETUPS, ids=["-".join(s) for s in SETUPS])
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Network]:
    """As tests/test_network_end_to_end.py's, but RabbitMQ is a private node of this test
    (shared/testing/rabbitmq.py), so that it can be restarted mid-saga."""
    with open_network(request.param, tmp_path, private_broker=True) as net:
        yield net


def _text_of_every_table(net: Network, app: str) -> str:
    """Every value of every row of every table of an app's database, as text."""
    net.query(app, "SELECT 1")  # makes the engine
    values: list[str] = []
    for table in sa.inspect(net.engines[app]).get_table_names():
        for row in net.query(app, f'SELECT * FROM "{table}"'):
            for value in row:
                if isinstance(value, bytes | memoryview):
                    values.append(bytes(value).decode("utf-8", "replace"))
                elif value is not None:
                    values.append(str(value))
    return "\n".join(values)


@pytest.mark.slow
def test_a_member_moves_from_one_node_to_another_through_the_hub(network: Network) -> None:
    net = network

    def wait(check: Callable[[], bool], what: str, seconds: float = 120) -> None:
        _wait_for(check, seconds, what, net)

    # --- Installation and enrollment, as in the network scenario.
    tokens, outputs = install(net, wait, client_role="auditor")
    for (folder, _node_id, _slug, _name, _prefix), token in zip(NODES, tokens, strict=True):
        net.run(folder, "bus", "enroll", "--hub", net.hub_url, "--token", token)
    bus = open_bus(net.bus_url)
    bus.declare(["hub", *(node_id for _f, node_id, *_r in NODES)])
    bus.close()
    workers = {"hub": net.start("hub", "bus", "worker")}
    for folder, *_rest in NODES:
        workers[folder] = net.start(folder, "bus", "worker")

    # --- The hub's relay tells both nodes where every tenant lives, and with which key.
    for folder, *_rest in NODES:
        wait(lambda folder=folder: net.query(folder, "SELECT count(*) FROM directory_tenants")
             == [(2,)], f"the tenant directory reaching {folder}")
    listed = net.run("node", "directory", "list").stdout
    assert "tenant tl-e2e/tongguan 340705" in listed and "node cq-e2e key ed25519:" in listed

    apis, roots = {}, {}
    for folder, _node_id, slug, _name, prefix in NODES:
        wait(lambda folder=folder: _ready(net.urls[folder]), f"{folder} serving")
        browser = _node_session(net.urls[folder], slug)
        apis[folder] = Api(net.urls[folder], _node_token(
            net.urls[folder], browser, _output(outputs[folder], "client_id")), net.logs)
        roots[folder] = next(org for org in apis[folder].get("/api/orgs")["items"]
                             if org["code"] == prefix)
    node1, node2 = apis["node"], apis["node2"]
    branch1 = node1.post("/api/orgs", {"parent_id": roots["node"]["id"], "kind": "branch",
                                       "name": "钢花社区党支部"}, status=201)
    branch2 = node2.post("/api/orgs", {"parent_id": roots["node2"]["id"], "kind": "branch",
                                       "name": "幸福社区党支部"}, status=201)
    member = node1.post("/api/members", {"org_id": branch1["id"], "name": NAME,
                                         "national_id": NATIONAL_ID, "stage": "full",
                                         "phone": "13800000000"}, status=201)

    # --- 大渡口区 applies: from now on an observer reads both nodes' databases every 30 ms
    # until the end (tests/transfer_observer.py: the invariant at every instant it can see).
    transfer = node1.post("/api/transfers", {
        "member_id": member["id"], "to_tenant": "tongguan", "to_org_code": "340705",
        "reason": "工作调动到铜陵"}, status=201)
    assert transfer["to_node"] == "tl-e2e"
    uid = transfer["uid"]
    broker: PrivateRabbitMQ | None = net.broker
    with TransferObserver(net.databases["node"], net.databases["node2"], uid) as observer:
        _move(net, wait, observer, apis, workers, member, transfer, branch2, broker)
        _refuse_a_person_on_both_rolls(net, wait, node1, node2, branch1, branch2)
        _float(wait, node1, node2, branch1, branch2)
        _national_view(net, outputs, uid)

    # --- What the observer saw, from the application to the end.
    print(observer.report())  # pytest -rP shows it
    assert not observer.violations, observer.report()
    assert not observer.errors, observer.report()
    assert observer.observations >= 200, observer.report()
    # Each window lasts seconds (the kill window holds a 3-second pause), so it is observed
    # many times over.
    assert observer.during["workers killed"] >= 20, observer.report()
    if broker is not None:
        assert observer.during["broker stopped"] >= 20, observer.report()
    # Every phase lasts long enough to be seen: at the origin throughout the kill window,
    # in flight while node 2's consumer is held down (waited for in `_move`), arrived from
    # there to the end (the refusal and the national view take seconds).
    assert observer.phases[AT_ORIGIN] >= 20, observer.report()
    assert observer.phases[IN_FLIGHT] >= 3, observer.report()
    assert observer.phases[ARRIVED] >= 20, observer.report()


def _move(net: Network, wait: Callable[..., None], observer: TransferObserver,
          apis: dict[str, Api], workers: dict[str, Any], member: dict[str, Any],
          transfer: dict[str, Any], branch2: dict[str, Any],
          broker: PrivateRabbitMQ | None) -> None:
    """Issue the letter, and carry the transfer to its end through kills and a broker stop."""
    node1, node2 = apis["node"], apis["node2"]
    uid = transfer["uid"]
    # 大渡口区 approves up its chain: the letter leaves for node 2.
    for _ in range(5):
        if transfer["state"] not in ("applied", "approving"):
            break
        transfer = node1.post(f"/api/transfers/{transfer['id']}/approve", {"note": "同意"})
    assert transfer["state"] == "issued", transfer

    def incoming() -> dict[str, Any] | None:
        items = node2.get("/api/transfers", side="in")["items"]
        return next((item for item in items if item["uid"] == uid), None)

    wait(lambda: incoming() is not None, "the letter reaching node 2")
    arrived = incoming()
    assert arrived is not None and arrived["state"] == "delivered", arrived
    assert net.query("hub", "SELECT origin_node, destination_node, state FROM hub_transfers") \
        == [("cq-e2e", "tl-e2e", "issued")]

    # --- Every bus worker is killed (SIGKILL) mid-saga, and RabbitMQ stopped: node 2 claims
    # meanwhile; the member stays active at the origin, and nothing moves until they are back.
    for app in ("hub", "node", "node2"):
        os.killpg(workers[app].pid, signal.SIGKILL)
        workers[app].wait(timeout=30)
    observer.begin("workers killed")
    if broker is not None:
        broker.stop()
        observer.begin("broker stopped")

    # --- 铜官区's chain: the committee assigns the branch and approves, the branch claims.
    in_id = arrived["id"]
    state = node2.post(f"/api/transfers/{in_id}/approve", {"branch_id": branch2["id"]})
    for _ in range(5):
        if state["state"] not in ("delivered", "approving"):
            break
        state = node2.post(f"/api/transfers/{in_id}/approve", {})
    assert state["state"] == "claimed", state
    time.sleep(3)
    assert node1.get(f"/api/transfers/{transfer['id']}")["state"] == "issued"
    assert node1.get(f"/api/members/{member['id']}")["status"] == "active"
    if broker is not None:
        broker.start()  # the same data: what was queued is still there
        observer.end("broker stopped")
    observer.end("workers killed")
    # The hub's and node 1's workers come back; node 2 now runs its relay and its consumer as
    # two processes (as an operator may), the consumer only once the origin has let go, so
    # the member is seen in flight: the origin's side received, the member transferred out
    # there and not yet active on node 2.
    for app in ("hub", "node"):
        workers[app] = net.start(app, "bus", "worker")
    net.start("node2", "bus", "relay")  # the claim leaves
    wait(lambda: observer.seen(IN_FLIGHT) >= 3, "the observer seeing the member in flight", 120)
    net.start("node2", "bus", "consume")

    # --- The release and the receipt cross the hub.
    wait(lambda: node1.get(f"/api/transfers/{transfer['id']}")["state"] == "closed",
         "the receipt closing the origin's side")
    assert node2.get(f"/api/transfers/{in_id}")["state"] == "received"
    moved = [m for m in node2.get("/api/members")["items"] if m["name"] == NAME]
    assert len(moved) == 1 and moved[0]["status"] == "active", moved
    assert moved[0]["org_id"] == branch2["id"]
    assert node1.get(f"/api/members/{member['id']}")["status"] == "transferred_out"
    wait(lambda: net.query("hub", "SELECT state FROM hub_transfers") == [("closed",)],
         "the hub recording the receipt")
    # Each step crossed the hub exactly once, kills notwithstanding.
    assert net.query("hub", "SELECT steps FROM hub_transfers") == [(4,)]


def _refuse_a_person_on_both_rolls(net: Network, wait: Callable[..., None], node1: Api,
                                   node2: Api, branch1: dict[str, Any],
                                   branch2: dict[str, Any]) -> None:
    """A person already on node 2's rolls (registered there too): the hub refuses the letter,
    and the origin's side comes back rejected (already_active); the member stays."""
    twin_id = TWIN_NATIONAL_ID
    node2.post("/api/members", {"org_id": branch2["id"], "name": "重复登记", "national_id": twin_id,
                                "stage": "full"}, status=201)
    twin = node1.post("/api/members", {"org_id": branch1["id"], "name": "重复登记",
                                       "national_id": twin_id, "stage": "full"}, status=201)
    wait(lambda: net.query("node", "SELECT count(*) FROM identity_flags") == [(1,)],
         "the hub's identity index knowing the person on both nodes")
    second = node1.post("/api/transfers", {
        "member_id": twin["id"], "to_tenant": "tongguan", "to_org_code": "340705",
        "reason": "重复测试"}, status=201)
    for _ in range(5):
        if second["state"] not in ("applied", "approving"):
            break
        second = node1.post(f"/api/transfers/{second['id']}/approve", {})
    wait(lambda: node1.get(f"/api/transfers/{second['id']}")["state"] == "rejected",
         "the hub's refusal reaching the origin")
    refused = node1.get(f"/api/transfers/{second['id']}")
    assert refused["reason_code"] == "already_active", refused
    assert node1.get(f"/api/members/{twin['id']}")["status"] == "active"
    assert net.query("hub", "SELECT state, refusal FROM hub_transfers WHERE uid = :uid",
                     uid=second["uid"]) == [("undeliverable", "already_active")]
    assert net.query("node2", "SELECT count(*) FROM transfers WHERE uid = :uid",
                     uid=second["uid"]) == [(0,)]


def _float(wait: Callable[..., None], node1: Api, node2: Api, branch1: dict[str, Any],
           branch2: dict[str, Any]) -> None:
    """A member of 大渡口区 floats with a branch of 铜官区 on node 2 (a floating certificate,
    its steps sealed and routed by the hub): node 2 sees and accepts it, node 1 sees it active
    and the member floating; node 1 ends it (returned) and node 2 sees it ended."""
    member = node1.post("/api/members", {"org_id": branch1["id"], "name": FLOATING_NAME,
                                         "national_id": FLOATING_NATIONAL_ID, "stage": "full"},
                        status=201)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    cert = node1.post("/api/floating", {
        "member_id": member["id"], "host_tenant": "tongguan", "host_org_code": branch2["code"],
        "starts_on": today.isoformat(), "until": (today + dt.timedelta(days=90)).isoformat(),
        "reason": "外出务工，地点不固定"}, status=201)
    assert cert["status"] == "pending", cert

    def hosted() -> dict[str, Any] | None:
        items = node2.get("/api/floating", side="host")["items"]
        return next((item for item in items if item["uid"] == cert["uid"]), None)

    wait(lambda: hosted() is not None, "the floating certificate reaching node 2")
    host_side = hosted()
    assert host_side is not None and host_side["status"] == "pending", host_side
    assert node2.post(f"/api/floating/{host_side['id']}/accept")["status"] == "active"
    wait(lambda: node1.get(f"/api/floating/{cert['id']}")["status"] == "active",
         "the acceptance reaching node 1")
    assert node1.get(f"/api/members/{member['id']}")["status"] == "floating"
    assert node1.post(f"/api/floating/{cert['id']}/end", {"reason": "returned"})["status"] \
        == "ended"
    wait(lambda: node2.get(f"/api/floating/{host_side['id']}")["status"] == "ended",
         "the end reaching node 2")
    assert node1.get(f"/api/members/{member['id']}")["status"] == "active"


def _national_view(net: Network, outputs: dict[str, str], uid: str) -> None:
    """The hub's national view over the API (an auditor's client) and on the console; and
    nothing of the person on the hub: every table, the bus's own included."""
    hub = Api(net.hub_url, _hub_token(net.hub_url, _output(outputs["hub"], "client_id"),
                                      _output(outputs["hub"], "client_secret")), net.logs)
    items = {item["uid"]: item for item in hub.get("/api/transfers")["items"]}
    item = items[uid]
    assert (item["state"], item["origin"]["region"], item["destination"]["region"]) == (
        "closed", "500104", "340705")
    summary = hub.get("/api/transfers/summary")
    assert (summary["in_flight"], summary["closed"]) == (1, 1)  # the refused one is in flight
    console = requests.Session()
    login = console.get(f"{net.hub_url}/login", timeout=10)
    assert console.post(f"{net.hub_url}/login", timeout=10, allow_redirects=False, data={
        "csrf_token": CSRF.search(login.text).group(1), "username": HUB_ADMIN,
        "password": HUB_PASSWORD}).status_code == 303
    page = console.get(f"{net.hub_url}/console/transfers", timeout=10)
    assert page.status_code == 200 and "cq-e2e/dadukou" in page.text
    assert NAME not in page.text

    everything = _text_of_every_table(net, "hub")
    assert uid in everything and "tongguan" in everything  # the dump holds the hub's data
    for secret in (NAME, NATIONAL_ID, "13800000000", TWIN_NATIONAL_ID, FLOATING_NAME,
                   FLOATING_NATIONAL_ID):
        assert secret not in everything, secret
    if net.bus_url.startswith("embedded://"):
        raw = b"".join(p.read_bytes() for p in net.root.glob("bus.sqlite3*"))
        for secret in (NAME, NATIONAL_ID, FLOATING_NAME, FLOATING_NATIONAL_ID):
            assert secret.encode() not in raw, secret


def test_the_observer_sees_each_phase_and_every_violation(tmp_path: Path) -> None:
    """The observer itself, on two SQLite files holding the tables it reads: a clean handover
    is seen phase by phase with no violation; a member back on the origin's rolls, a side that
    disagrees with its member, and a duplicate at the destination are each reported."""
    urls = {}
    for app in ("origin", "destination"):
        urls[app] = f"sqlite:///{tmp_path / (app + '.db')}"
        engine = sa.create_engine(urls[app])
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT, "
                                 "national_id_hash TEXT, status TEXT)"))
            conn.execute(sa.text("CREATE TABLE transfers (uid TEXT, side TEXT, state TEXT, "
                                 "member_id INTEGER, identity_hash TEXT, member_name TEXT)"))
        engine.dispose()
    engines = {app: sa.create_engine(url) for app, url in urls.items()}

    def commit(app: str, *statements: str) -> None:
        with engines[app].begin() as conn:  # one transaction, as the product commits
            for statement in statements:
                conn.execute(sa.text(statement))

    def until(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 10
        while not check():
            assert time.monotonic() < deadline, f"{what}: {observer.report()}"
            time.sleep(0.01)

    commit("origin", "INSERT INTO members VALUES (1, '甲', 'h1', 'active')",
           "INSERT INTO transfers VALUES ('u1', 'out', 'issued', 1, 'h1', '甲')")
    with TransferObserver(urls["origin"], urls["destination"], "u1", interval=0.005) as observer:
        until(lambda: observer.seen(AT_ORIGIN) > 0, "at the origin")
        commit("destination", "INSERT INTO transfers VALUES ('u1', 'in', 'claimed', NULL, "
                              "'h1', '甲')")
        commit("origin", "UPDATE members SET status = 'transferred_out'",
               "UPDATE transfers SET state = 'received'")
        until(lambda: observer.seen(IN_FLIGHT) > 0, "in flight")
        commit("destination", "INSERT INTO members VALUES (7, '甲', 'h1', 'active')",
               "UPDATE transfers SET state = 'received', member_id = 7")
        commit("origin", "UPDATE transfers SET state = 'closed'")
        until(lambda: observer.seen(ARRIVED) > 0, "arrived")
        assert not observer.violations and not observer.errors, observer.report()

        commit("origin", "UPDATE members SET status = 'active'")  # on both rolls
        until(lambda: len(observer.violations) > 0, "a violation")
        commit("origin", "UPDATE transfers SET state = 'issued'")  # consistent at the origin
        commit("destination", "INSERT INTO members VALUES (8, '甲', 'h2', 'transferred_out')")
        until(lambda: any("duplicated" in v for v in observer.violations), "a duplicate")
    for engine in engines.values():
        engine.dispose()
    found = "\n".join(observer.violations)
    assert "origin's member is active while its side is closed" in found
    assert "on the rolls in two places" in found
    assert "duplicated at the destination" in found
    assert not observer.errors, observer.report()
