"""Duplicate identity detection across the network, as real processes on one machine: a hub
and two nodes (their own databases, the embedded bus, the bus workers, gunicorn for the first
node's pages). The same person is imported on both nodes; the hub flags the keyed hash and tells
both; a secretary sees the warning on the member page; the second node records the person as
having left; the hub resolves the flag and both nodes close it. The hub's database never holds
the person's name or national ID."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
import requests

from federation.transport import open_bus
from tests.hub.test_end_to_end import Machine, _free_port, _query, _wait_for
from tests.node.conftest import make_national_id

CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
#: (folder, node id, tenant slug, code prefix)
NODES = (("node", "cq-id", "dadukou", "500104"), ("node2", "tl-id", "tongguan", "340705"))
NAME = "秘密重复党员"
NATIONAL_ID = make_national_id(4242)
PASSWORD = "admin-password-1"


class TwoNodes(Machine):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        (root / "node2").mkdir()
        self.envs = {"hub": self.hub_env}
        self.dbs = {"hub": self.hub_db}
        for folder, node_id, _slug, _prefix in NODES:
            self.dbs[folder] = root / folder / "node.db"
            self.envs[folder] = {**self.node_env, "NODE_DATABASE_URL": f"sqlite:///{self.dbs[folder]}",
                                 "NODE_NODE_ID": node_id, "NODE_DEBUG": "true",
                                 "NODE_SIGNING_KEY_FILE": str(root / folder / "node.key")}

    def _env(self, app: str) -> dict[str, str]:
        return self.envs[app]

    def _program(self, app: str) -> str:
        return "hub" if app == "hub" else "node"


@pytest.fixture()
def net(tmp_path: Path):
    machine = TwoNodes(tmp_path)
    try:
        yield machine
    finally:
        machine.stop_all()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _csv(path: Path, prefix: str) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "national_id", "org_code", "stage"])
    writer.writerow([NAME, NATIONAL_ID, prefix, "full"])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _open_flags(net: TwoNodes, folder: str) -> list[tuple[str]]:
    return _query(net.dbs[folder], "SELECT hash FROM identity_flags WHERE resolved_at IS NULL")


@pytest.mark.slow
def test_a_person_on_two_nodes_is_flagged_on_both_and_resolved(net: TwoNodes):
    hub_setup = net.chain("hub", ["db", "upgrade"], ["bus", "keygen"],
                          *(["enroll-token", "create", "--node-id", node_id, "--prefix", prefix,
                             "--by", "e2e"] for _f, node_id, _s, prefix in NODES))
    node_setups = {folder: net.chain(
        folder, ["db", "upgrade"], ["bus", "keygen"],
        ["tenant", "create", "--slug", slug, "--name", slug, "--code-prefix", prefix,
         "--admin-username", "admin", "--admin-password", PASSWORD])
        for folder, _n, slug, prefix in NODES}
    outputs = {}
    for app, setup in (("hub", hub_setup), *node_setups.items()):
        stdout, stderr = setup.communicate(timeout=120)
        assert setup.returncode == 0, f"{app}: {stdout}{stderr}"
        outputs[app] = stdout
    tokens = re.findall(r"^pne_\S+$", outputs["hub"], re.MULTILINE)
    assert len(tokens) == 2, outputs["hub"]
    hub = net.start("hub", "serve", "--port", str(net.port), "--workers", "1")
    _wait_for(lambda: _ready(net.hub_url) or hub.poll() is not None, 30, "the hub serving", net)
    for (folder, _n, _s, _p), token in zip(NODES, tokens, strict=True):
        net.run(folder, "bus", "enroll", "--hub", net.hub_url, "--token", token)
    bus = open_bus(f"embedded://{net.bus}")
    bus.declare(["hub", *(node_id for _f, node_id, _s, _p in NODES)])
    bus.close()
    net.start("hub", "bus", "worker")
    for folder, *_rest in NODES:
        net.start(folder, "bus", "worker")
    node_url = f"http://127.0.0.1:{_free_port()}"
    net.start("node", "serve", "--port", node_url.rsplit(":", 1)[1], "--workers", "1")

    # The same person is registered on both nodes (a bulk import on each).
    for folder, _n, slug, prefix in NODES:
        net.run(folder, "members", "import", str(_csv(net.root / folder / "people.csv", prefix)),
                "--tenant", slug, "--no-progress")
    _wait_for(lambda: len(_open_flags(net, "node")) == 1 and len(_open_flags(net, "node2")) == 1,
              45, "both nodes flagged", net)
    [(digest,)] = _open_flags(net, "node")
    assert _open_flags(net, "node2") == [(digest,)]
    assert sorted(_query(net.hub_db, "SELECT hash, active FROM identity_entries")) == [
        (digest, 1), (digest, 1)]
    (elsewhere,), = _query(net.dbs["node"], "SELECT elsewhere FROM identity_flags")
    assert "tl-id" in elsewhere and "tongguan" in elsewhere and "340705" in elsewhere

    # The first node's administrator sees the warning on the member page and in the list.
    _wait_for(lambda: _ready(node_url), 30, "the node serving", net)
    browser = requests.Session()
    login = browser.get(f"{node_url}/t/dadukou/login", timeout=10)
    assert browser.post(f"{node_url}/t/dadukou/login", timeout=10, allow_redirects=False, data={
        "csrf_token": CSRF.search(login.text).group(1), "username": "admin",
        "password": PASSWORD}).status_code == 303
    (member_id,), = _query(net.dbs["node"], "SELECT id FROM members")
    page = browser.get(f"{node_url}/t/dadukou/console/members/{member_id}", timeout=10)
    assert "也在其他组织登记" in page.text and "tongguan" in page.text
    listed = browser.get(f"{node_url}/t/dadukou/console/identity/flagged", timeout=10)
    assert NAME in listed.text

    # The second node's administrator records that the person left: the hub resolves the
    # duplicate and both flags close.
    (other_id,), = _query(net.dbs["node2"], "SELECT id FROM members")
    net2_url = f"http://127.0.0.1:{_free_port()}"
    net.start("node2", "serve", "--port", net2_url.rsplit(":", 1)[1], "--workers", "1")
    _wait_for(lambda: _ready(net2_url), 30, "the second node serving", net)
    browser2 = requests.Session()
    login = browser2.get(f"{net2_url}/t/tongguan/login", timeout=10)
    assert browser2.post(f"{net2_url}/t/tongguan/login", timeout=10, allow_redirects=False, data={
        "csrf_token": CSRF.search(login.text).group(1), "username": "admin",
        "password": PASSWORD}).status_code == 303
    member_page = browser2.get(f"{net2_url}/t/tongguan/console/members/{other_id}", timeout=10)
    changed = browser2.post(
        f"{net2_url}/t/tongguan/console/members/{other_id}/status", timeout=10,
        allow_redirects=False, data={"csrf_token": CSRF.search(member_page.text).group(1),
                                     "to_status": "left",
                                     "effective_on": dt.date.today().isoformat()})
    assert changed.status_code == 303, changed.text
    _wait_for(lambda: not _open_flags(net, "node") and not _open_flags(net, "node2"), 45,
              "both flags resolved", net)
    assert sorted(_query(net.hub_db, "SELECT active FROM identity_entries")) == [(0,), (1,)]
    assert "也在其他组织登记" not in browser.get(
        f"{node_url}/t/dadukou/console/members/{member_id}", timeout=10).text

    # The hub's database (and its write-ahead log) never held the name or the national ID.
    for path in net.root.glob("hub/hub.db*"):
        raw = path.read_bytes()
        assert NAME.encode() not in raw and NATIONAL_ID.encode() not in raw, path
