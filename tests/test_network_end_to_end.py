"""The hub and two nodes as separate processes, over real HTTP and a real bus, end to end.

One scenario per backend, the steps in order: SQLite databases on the embedded bus, and
PostgreSQL databases on RabbitMQ (both required under CI, skipped elsewhere only when
unreachable). Each app runs as its operators run it: `partynet hub|node ...` commands, gunicorn
(`serve`) and the bus workers, all child processes of the `Machine` of tests/hub/test_end_to_end.py.

enroll both nodes with tokens over HTTP -> a secretary publishes an article over the node's API
-> the hub's feed has it and a Chinese search finds it -> edited: the hub shows the new title and
the old words no longer match -> withdrawn: gone from the hub -> an article of the other node
taken down by a hub administrator (console) -> the origin node shows it withdrawn -> a member
registered on a node, statistics snapshots -> the hub's roll-up counts the member, and no table
of the hub's database holds the member's name, national ID or member number -> a study item
(a directive) published over the hub's API -> read and completed by a secretary on the node
-> the receipt on the hub -> one node's worker stops -> the hub flags it silent, and only it.

The hub's API has no take-down endpoint: the administrator takes the item down on the console
(`POST /console/feed/<id>/takedown`, the same service as `partynet hub feed takedown`).
"""

from __future__ import annotations

import contextlib
import html
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from federation.messages.content import content_key
from federation.transport import open_bus
from shared.identity import normalize_national_id
from shared.testing.backends import fresh_pg_database
from shared.testing.rabbitmq import PrivateRabbitMQ, amqp_url, private_rabbitmq, require_rabbitmq
from tests.federation.delivery.brokers import rabbitmq_vhost
from tests.hub.test_end_to_end import Machine, _free_port, _wait_for

SETUPS = [("sqlite", "embedded"), ("postgresql", "rabbitmq")]
#: (folder, node id, tenant slug, tenant name, code prefix)
NODES = (("node", "cq-e2e", "dadukou", "大渡口区委", "500104"),
         ("node2", "tl-e2e", "tongguan", "铜官区委", "340705"))
ADMIN_PASSWORD = "admin-password-1"
HUB_ADMIN, HUB_PASSWORD = "hub-admin", "hub-password-0123"
REDIRECT = "http://127.0.0.1:9/callback"
CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
_ACTION = re.compile(r'<form[^>]*action="([^"]*)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
#: A node's heartbeat period here (the minimum): the silent check below waits 12 s.
HEARTBEAT = 5
SILENT_AFTER = 12


class Network(Machine):
    """A hub and two nodes on one machine: folders `hub`, `node` and `node2`."""

    def __init__(self, root: Path, databases: dict[str, str], bus_url: str) -> None:
        super().__init__(root)
        (root / "node2").mkdir()
        self.bus_url = bus_url
        self.databases = databases
        self.broker: PrivateRabbitMQ | None = None  # a private node (open_network)
        self.hub_env.update(HUB_DATABASE_URL=databases["hub"], HUB_BUS_URL=bus_url,
                            HUB_DEBUG="true")  # plain HTTP: cookies without `Secure`
        self.envs = {"hub": self.hub_env}
        for folder, node_id, _slug, _name, _prefix in NODES:
            self.envs[folder] = {
                **self.node_env, "NODE_DATABASE_URL": databases[folder], "NODE_NODE_ID": node_id,
                "NODE_BUS_URL": bus_url, "NODE_DEBUG": "true",
                "NODE_HEARTBEAT_INTERVAL": str(HEARTBEAT),
                "NODE_SIGNING_KEY_FILE": str(root / folder / "node-signing.key")}
        self.urls = {folder: f"http://127.0.0.1:{_free_port()}" for folder, *_ in NODES}
        self.engines: dict[str, sa.Engine] = {}

    def _env(self, app: str) -> dict[str, str]:
        return self.envs[app]

    def query(self, app: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows from an app's own database (SQLite or PostgreSQL alike)."""
        if app not in self.engines:
            self.engines[app] = sa.create_engine(self.databases[app], poolclass=sa.NullPool)
        with self.engines[app].connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def close(self) -> None:
        self.stop_all()
        for engine in self.engines.values():
            engine.dispose()


@contextlib.contextmanager
def open_network(setup: tuple[str, str], tmp_path: Path, *, private_broker: bool = False
                 ) -> Iterator[Network]:
    """The network's databases and bus for a (backend, transport) setup. On RabbitMQ: a vhost
    of the shared broker, or with `private_broker` a RabbitMQ node of the test's own
    (`network.broker`, shared/testing/rabbitmq.py), which it may stop and restart."""
    backend, transport = setup
    with contextlib.ExitStack() as stack:
        broker: PrivateRabbitMQ | None = None
        if transport == "rabbitmq" and private_broker:  # fails under CI where not installed
            broker = stack.enter_context(private_rabbitmq(tmp_path / "rabbitmq"))
            bus_url = broker.url()
        elif transport == "rabbitmq":
            require_rabbitmq()  # skipped when unreachable; a failure under CI
            bus_url = amqp_url(stack.enter_context(rabbitmq_vhost("partynet_e2e")))
        else:
            bus_url = f"embedded://{tmp_path / 'bus.sqlite3'}"
        databases = {}
        for app in ("hub", "node", "node2"):
            if backend == "sqlite":
                databases[app] = f"sqlite:///{tmp_path / (app + '.db')}"
            else:  # skipped when unreachable; a failure under CI
                databases[app] = stack.enter_context(
                    fresh_pg_database(f"partynet_e2e_{app}_{secrets.token_hex(2)}"))
        network = Network(tmp_path, databases, bus_url)
        network.broker = broker
        stack.callback(network.close)  # before the databases and the broker go
        yield network


@pytest.fixture(params=SETUPS, ids=["-".join(s) for s in SETUPS])
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Network]:
    with open_network(request.param, tmp_path) as net:
        yield net


# --- small HTTP helpers -------------------------------------------------------------------------


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _form(page: requests.Response, action_part: str) -> tuple[str, dict[str, str]]:
    """The action (absolute) and hidden fields of the page's form posting to `action_part`,
    as a browser submits them."""
    for form in re.findall(r"<form.*?</form>", page.text, re.DOTALL):
        action = _ACTION.search(form)
        if action is not None and action_part in action.group(1):
            return (urljoin(page.url, html.unescape(action.group(1))),
                    {name: html.unescape(value) for name, value in _HIDDEN.findall(form)})
    raise AssertionError(f"no form posting to {action_part}: {page.text}")


def _node_session(url: str, slug: str) -> requests.Session:
    """The tenant administrator (a secretary of the root organization) signed in."""
    browser = requests.Session()
    login = browser.get(f"{url}/t/{slug}/login", timeout=10)
    signed_in = browser.post(f"{url}/t/{slug}/login", timeout=10, data={
        "csrf_token": CSRF.search(login.text).group(1), "username": "admin",
        "password": ADMIN_PASSWORD}, allow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text
    return browser


def _node_token(url: str, browser: requests.Session, client_id: str) -> str:
    """An access token of the signed-in secretary: authorization code with PKCE, approved on
    the node's consent page (as the secretary's editing app would get it)."""
    client = OAuth2Session(client_id, redirect_uri=REDIRECT, scope="read write",
                           code_challenge_method="S256")
    verifier = generate_token(48)
    authorize, _state = client.create_authorization_url(f"{url}/oauth/authorize",
                                                        code_verifier=verifier)
    consent = browser.get(authorize, timeout=10, allow_redirects=False)
    if consent.status_code in (302, 303) and "/login" in consent.headers["Location"]:
        login = browser.get(urljoin(url, consent.headers["Location"]), timeout=10)
        action, fields = _form(login, "/login")
        signed_in = browser.post(action, data={**fields, "username": "admin",
                                               "password": ADMIN_PASSWORD},
                                 timeout=10, allow_redirects=False)
        assert signed_in.status_code == 303, signed_in.text
        consent = browser.get(urljoin(url, signed_in.headers["Location"]), timeout=10,
                              allow_redirects=False)
    assert consent.status_code == 200, consent.text
    action, fields = _form(consent, "/oauth/authorize")
    answer = browser.post(action, data={**fields, "decision": "approve"}, timeout=10,
                          allow_redirects=False)
    assert answer.status_code == 302, answer.text
    token = client.fetch_token(f"{url}/oauth/token", code_verifier=verifier,
                               authorization_response=answer.headers["Location"])
    return str(token["access_token"])


class Api:
    """JSON over HTTP with a bearer token; every answer's status is checked."""

    def __init__(self, base: str, token: str, logs: Callable[[], str]) -> None:
        self.base, self.logs = base, logs
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base + path, timeout=15, **kwargs)
        assert response.status_code == status, \
            f"{method} {path}: {response.text}\n{self.logs()}"
        return response.json() if response.content else None

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        return self.call("GET", path, status, params=params)

    def post(self, path: str, json: Any = None, status: int = 200) -> Any:
        return self.call("POST", path, status, json=json if json is not None else {})


def _hub_token(hub_url: str, client_id: str, secret: str) -> str:
    answer = requests.post(f"{hub_url}/oauth/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _output(text: str, label: str) -> str:
    found = re.search(rf"^{label}: (\S+)$", text, re.MULTILINE)
    assert found, text
    return found.group(1)


def _keys(hits: dict[str, Any]) -> list[str]:
    return [item["content_key"] for item in hits["items"]]


def install(net: Network, wait: Callable[[Callable[[], bool], str], None], *,
            client_role: str) -> tuple[list[str], dict[str, str]]:
    """Every operator installs (in parallel): the hub with an administrator account, a service
    client of `client_role` and an enrollment token per node; each node with its tenant and a
    public client. Then all serve. Returns the two enrollment tokens and each setup's output."""
    hub_setup = net.chain(
        "hub", ["db", "upgrade"], ["bus", "keygen"],
        *(["enroll-token", "create", "--node-id", node_id, "--prefix", prefix, "--by", "e2e"]
          for _folder, node_id, _slug, _name, prefix in NODES),
        ["account", "create", HUB_ADMIN, "--name", "国家管理员", "--password", HUB_PASSWORD],
        ["client", "create", "--name", f"e2e {client_role}", "--grant-type",
         "client_credentials", "--role", client_role])
    node_setups = {folder: net.chain(
        folder, ["db", "upgrade"], ["bus", "keygen"],
        ["tenant", "create", "--slug", slug, "--name", name, "--code-prefix", prefix,
         "--admin-username", "admin", "--admin-password", ADMIN_PASSWORD],
        ["client", "create", "--tenant", slug, "--name", "e2e editor", "--public",
         "--redirect-uri", REDIRECT]) for folder, _node_id, slug, name, prefix in NODES}
    outputs = {}
    for app, setup in (("hub", hub_setup), *node_setups.items()):
        stdout, stderr = setup.communicate(timeout=120)
        assert setup.returncode == 0, f"{app}: {stdout}{stderr}"
        outputs[app] = stdout
    tokens = re.findall(r"^pne_\S+$", outputs["hub"], re.MULTILINE)
    assert len(tokens) == 2, outputs["hub"]
    hub_server = net.start("hub", "serve", "--port", str(net.port), "--workers", "1")
    for folder, *_rest in NODES:
        net.start(folder, "serve", "--port", net.urls[folder].rsplit(":", 1)[1],
                  "--workers", "1")
    wait(lambda: _ready(net.hub_url) or hub_server.poll() is not None, "the hub serving")
    assert hub_server.poll() is None, net.logs()
    return tokens, outputs


# --- the scenario ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_hub_and_two_nodes_end_to_end(network: Network) -> None:
    net = network

    def wait(check: Callable[[], bool], what: str, seconds: float = 90) -> None:
        _wait_for(check, seconds, what, net)

    # --- Installation: each operator sets up (in parallel), the hub issues two tokens.
    tokens, outputs = install(net, wait, client_role="administrator")

    # --- Enrollment over HTTP, one token each; the registry lists both nodes and tenants.
    for (folder, node_id, slug, _name, prefix), token in zip(NODES, tokens, strict=True):
        enrolled = net.run(folder, "bus", "enroll", "--hub", net.hub_url, "--token", token)
        assert f"enrolled {node_id}" in enrolled.stdout
        assert f"tenant {slug}: prefix {prefix}" in enrolled.stdout
    assert sorted(net.query("hub", "SELECT id, status FROM nodes")) == [
        ("cq-e2e", "active"), ("tl-e2e", "active")]
    assert sorted(net.query("hub", "SELECT node_id, slug, code_prefix FROM node_tenants")) == [
        ("cq-e2e", "dadukou", "500104"), ("tl-e2e", "tongguan", "340705")]
    bus = open_bus(net.bus_url)
    bus.declare(["hub", *(node_id for _f, node_id, *_r in NODES)])
    bus.close()
    net.start("hub", "bus", "worker")
    workers = {folder: net.start(folder, "bus", "worker") for folder, *_rest in NODES}

    hub = Api(net.hub_url, _hub_token(net.hub_url, _output(outputs["hub"], "client_id"),
                                      _output(outputs["hub"], "client_secret")), net.logs)
    browsers, apis, root_orgs = {}, {}, {}
    for folder, _node_id, slug, _name, prefix in NODES:
        wait(lambda folder=folder: _ready(net.urls[folder]), f"{folder} serving")
        browsers[folder] = _node_session(net.urls[folder], slug)
        apis[folder] = Api(net.urls[folder], _node_token(
            net.urls[folder], browsers[folder], _output(outputs[folder], "client_id")), net.logs)
        root_orgs[folder] = next(org["id"] for org in apis[folder].get("/api/orgs")["items"]
                                 if org["code"] == prefix)

    def search(q: str) -> dict[str, Any]:
        return hub.get("/api/feed/search", q=q)  # type: ignore[no-any-return]

    # --- A secretary of 大渡口区 publishes an article over the node's API; the hub has it and
    # finds it by Chinese words of its title and of its body.
    node1 = apis["node"]
    article = node1.post("/api/articles", {
        "org_id": root_orgs["node"], "title": "大渡口区开展主题党日志愿服务活动",
        "summary": "党员走进社区开展义务植树。",
        "body": "本月主题党日，区委组织党员到钢花社区开展义务植树和环境整治志愿服务。"},
        status=201)
    node1.post(f"/api/articles/{article['id']}/publish")
    key = content_key("dadukou", article["id"])
    wait(lambda: key in _keys(search("志愿服务")), "the article found on the hub")
    found = search("义务植树 社区")
    assert _keys(found) == [key]
    assert found["items"][0]["node"] == "cq-e2e" and found["items"][0]["region"] == "500104"
    hub_id = found["items"][0]["id"]
    assert key in [item["content_key"] for item in hub.get("/api/feed", tenant="dadukou")["items"]]

    # Edited: the hub shows the new title; the words only the old text had no longer match.
    node1.call("PATCH", f"/api/articles/{article['id']}", json={
        "title": "大渡口区开展乡村振兴调研", "summary": "党员深入村社调研产业发展。",
        "body": "区委组织党员到跳磴镇调研乡村振兴和集体经济发展。"})
    wait(lambda: hub.get(f"/api/feed/{hub_id}")["title"] == "大渡口区开展乡村振兴调研",
         "the edit reaching the hub")
    assert _keys(search("乡村振兴")) == [key]
    assert _keys(search("义务植树")) == [] and _keys(search("志愿服务")) == []

    # Withdrawn: gone from the feed, the item and the search.
    node1.post(f"/api/articles/{article['id']}/withdraw", {"reason": "内容已过时"})
    wait(lambda: hub.session.get(f"{net.hub_url}/api/feed/{hub_id}", timeout=10).status_code
         == 404, "the withdrawal reaching the hub")
    assert _keys(search("乡村振兴")) == []
    assert key not in [item["content_key"] for item in hub.get("/api/feed")["items"]]

    # --- 铜官区 publishes; a hub administrator takes it down on the console; the origin node
    # shows it withdrawn and the hub no longer lists it.
    node2 = apis["node2"]
    other = node2.post("/api/articles", {
        "org_id": root_orgs["node2"], "title": "铜官区党员冬训动员会召开",
        "summary": "冬训聚焦党史学习教育。", "body": "铜官区召开党员冬训动员会，部署党史学习教育。"},
        status=201)
    node2.post(f"/api/articles/{other['id']}/publish")
    other_key = content_key("tongguan", other["id"])
    wait(lambda: _keys(search("冬训")) == [other_key], "the second node's article on the hub")
    other_hub_id = search("冬训")["items"][0]["id"]
    console = requests.Session()
    login = console.get(f"{net.hub_url}/login", timeout=10)
    assert console.post(f"{net.hub_url}/login", timeout=10, allow_redirects=False, data={
        "csrf_token": CSRF.search(login.text).group(1), "username": HUB_ADMIN,
        "password": HUB_PASSWORD}).status_code == 303
    page = console.get(f"{net.hub_url}/console/feed/{other_hub_id}", timeout=10)
    assert page.status_code == 200 and "铜官区党员冬训动员会召开" in page.text
    taken = console.post(f"{net.hub_url}/console/feed/{other_hub_id}/takedown", timeout=10,
                         allow_redirects=False,
                         data={"csrf_token": CSRF.search(page.text).group(1),
                               "reason": "含有未经核实的信息"})
    assert taken.status_code == 303, taken.text
    assert _keys(search("冬训")) == []
    wait(lambda: node2.get(f"/api/articles/{other['id']}")["status"] == "withdrawn",
         "the take-down reaching the origin node")

    # --- A member joins 大渡口区; statistics snapshots (counts only): the hub's roll-up has
    # both tenants and counts the member, and no trace of the person is anywhere on the hub.
    national_id = normalize_national_id("500104850612123")
    member = node1.post("/api/members", {
        "org_id": root_orgs["node"], "name": "欧阳秘名", "national_id": national_id,
        "stage": "full"}, status=201)
    for folder, *_rest in NODES:
        assert "queued" in net.run(folder, "stats", "publish").stdout

    def rolled_up() -> bool:
        rollup = hub.get("/api/stats/rollup", prefix="")
        return bool(rollup["tenants"] == 2 and rollup["orgs"] == 2)

    wait(rolled_up, "the snapshots reaching the hub")
    assert hub.get("/api/stats/rollup", prefix="500104")["party_members"] == 1
    assert hub.get("/api/stats/rollup", prefix="34")["party_members"] == 0
    everything = repr([net.query("hub", f'SELECT * FROM "{table}"')
                       for table in sa.inspect(net.engines["hub"]).get_table_names()])
    assert "500104" in everything  # the dump does hold the hub's data
    for secret in ("欧阳秘名", national_id, member["member_number"]):
        assert secret not in everything

    # --- A study item (a directive) over the hub's API for region 50: only 大渡口区's node gets it; its
    # secretary reads and completes it; the receipt reaches the hub.
    title = "学习材料：基层组织工作条例"
    directive = hub.post("/api/directives", {
        "title": title, "kind": "study", "body": "请各支部书记学习后标记已完成。",
        "priority": "high", "pinned": True, "audience": "secretaries",
        "target_kind": "region", "target_region": "50"}, status=201)
    hub.post(f"/api/directives/{directive['id']}/publish")
    wait(lambda: net.query("node", "SELECT title FROM directives") == [(title,)],
         "the directive reaching the node")
    (local_id,), = net.query("node", "SELECT id FROM directives")
    browser = browsers["node"]
    page = browser.get(f"{net.urls['node']}/t/dadukou/directives/{local_id}", timeout=10)
    assert page.status_code == 200 and title in page.text
    done = browser.post(f"{net.urls['node']}/t/dadukou/directives/{local_id}/complete",
                        data={"csrf_token": CSRF.search(page.text).group(1)}, timeout=10,
                        allow_redirects=False)
    assert done.status_code == 303
    assert "1 receipt(s) queued" in net.run("node", "directives", "report").stdout

    def completion() -> list[tuple[Any, ...]]:
        rows = hub.get(f"/api/directives/{directive['id']}/completion")["items"]
        return [(r["key"], r["targeted"], r["read"], r["completed"]) for r in rows]

    wait(lambda: completion() == [("cq-e2e", 1, 1, 1)], "the receipt reaching the hub")
    assert net.query("node2", "SELECT count(*) FROM directives") == [(0,)]

    # --- 铜官区's worker stops: no more heartbeats; the hub flags that node, and only it,
    # as silent (the other one keeps beating every HEARTBEAT seconds).
    worker = workers["node2"]
    worker.terminate()
    worker.wait(timeout=30)

    def flagged() -> bool:
        listed = net.run("hub", "node", "silent", "--after", str(SILENT_AFTER), check=False)
        return listed.returncode == 1 and "tl-e2e" in listed.stdout \
            and "cq-e2e" not in listed.stdout

    wait(flagged, "the silent node flagged", seconds=SILENT_AFTER + 40)
