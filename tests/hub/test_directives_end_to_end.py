"""A directive from the hub to a node and its read-back, as real processes on one machine:
the hub administrator publishes (CLI), the node's worker receives it, a secretary signs in to
the node's pages, sees it pinned, opens and completes it, the node reports (CLI), and the hub
shows the completion per node and region.
"""

from __future__ import annotations

import re

import pytest
import requests

from federation.transport import open_bus
from tests.hub.test_end_to_end import NODE_ID, Machine, _free_port, _query, _serving, _wait_for
from tests.hub.test_end_to_end import machine as machine  # the fixture

CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
TITLE = "关于学习贯彻全会精神的通知"


def _node_serving(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.slow
def test_a_directive_reaches_a_node_and_its_read_back_reaches_the_hub(machine: Machine):
    # The node's pages over plain HTTP on one machine: session cookies without `Secure`.
    machine.node_env["NODE_DEBUG"] = "true"
    hub_setup = machine.chain("hub", ["db", "upgrade"], ["bus", "keygen"],
                              ["enroll-token", "create", "--node-id", NODE_ID,
                               "--prefix", "500104", "--by", "e2e"])
    node_setup = machine.chain("node", ["db", "upgrade"], ["bus", "keygen"],
                               ["tenant", "create", "--slug", "dadukou", "--name", "大渡口区委",
                                "--code-prefix", "500104", "--admin-username", "admin",
                                "--admin-password", "admin-password-1"])
    outputs = {}
    for app, setup in (("hub", hub_setup), ("node", node_setup)):
        stdout, stderr = setup.communicate(timeout=60)
        assert setup.returncode == 0, stdout + stderr
        outputs[app] = stdout
    token = outputs["hub"].strip().splitlines()[-1]
    server = machine.start("hub", "serve", "--port", str(machine.port), "--workers", "1")
    _wait_for(lambda: _serving(machine, server), 30, "the hub serving", machine)
    machine.run("node", "bus", "enroll", "--hub", machine.hub_url, "--token", token)
    bus = open_bus(f"embedded://{machine.bus}")
    bus.declare(["hub", NODE_ID])
    bus.close()
    machine.start("hub", "bus", "worker")
    machine.start("node", "bus", "worker")
    node_port = _free_port()
    node_url = f"http://127.0.0.1:{node_port}"
    machine.start("node", "serve", "--port", str(node_port), "--workers", "1")

    # The hub administrator publishes a pinned study item for the secretaries of region 50.
    created = machine.run("hub", "directive", "create", "--title", TITLE, "--kind", "study",
                          "--priority", "urgent", "--pinned", "--audience", "secretaries",
                          "--region", "50", "--by", "e2e-admin", "--publish")
    assert "published to 1 node(s)" in created.stdout
    _wait_for(lambda: _query(machine.node_db, "SELECT title, pinned FROM directives")
              == [(TITLE, 1)], 30, "the directive reaching the node", machine)
    (node_directive_id,), = _query(machine.node_db, "SELECT id FROM directives")

    # The tenant administrator (a secretary) signs in: it is pinned on the console's overview;
    # opening it records the read, and the study item is marked completed.
    _wait_for(lambda: _node_serving(node_url), 30, "the node serving", machine)
    browser = requests.Session()
    login = browser.get(f"{node_url}/t/dadukou/login", timeout=10)
    signed_in = browser.post(f"{node_url}/t/dadukou/login", timeout=10, data={
        "csrf_token": CSRF.search(login.text).group(1), "username": "admin",
        "password": "admin-password-1"}, allow_redirects=False)
    assert signed_in.status_code == 303
    assert TITLE in browser.get(f"{node_url}/t/dadukou/console", timeout=10).text
    page = browser.get(f"{node_url}/t/dadukou/directives/{node_directive_id}", timeout=10)
    assert page.status_code == 200 and TITLE in page.text
    done = browser.post(f"{node_url}/t/dadukou/directives/{node_directive_id}/complete",
                        data={"csrf_token": CSRF.search(page.text).group(1)}, timeout=10,
                        allow_redirects=False)
    assert done.status_code == 303

    # The node reports (the worker would within five minutes; the operator asks now) and the
    # hub shows the read-back: one secretary targeted, read and completed.
    reported = machine.run("node", "directives", "report")
    assert "dadukou: 1 receipt(s) queued" in reported.stdout
    _wait_for(lambda: _query(machine.hub_db, "SELECT node_id, tenant, targeted, read, "
                                             "completed FROM directive_targets")
              == [(NODE_ID, "dadukou", 1, 1, 1)], 30, "the receipt reaching the hub", machine)
    shown = machine.run("hub", "directive", "show", "1", "--level", "6")
    assert NODE_ID in shown.stdout and "500104" in shown.stdout
    assert "read 1 (100%)  completed 1 (100%)" in shown.stdout
