"""deploy/rabbitmq: the definitions match the code; a provisioned node gets exactly its rights."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection

from federation.transport import Delivery, TransportError, open_bus, queue_name
from federation.transport.topology import (
    DEAD_LETTER_EXCHANGE,
    DEFAULT_DELIVERY_LIMIT,
    EXCHANGE,
    dead_queue_name,
    queue_arguments,
)

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "rabbitmq"


def definitions() -> dict[str, Any]:
    return json.loads((DEPLOY / "definitions.json").read_text(encoding="utf-8"))


def test_definitions_declare_what_the_bus_declares() -> None:
    doc = definitions()
    queues = {q["name"]: q for q in doc["queues"]}
    bindings = {(b["source"], b["routing_key"], b["destination"]) for b in doc["bindings"]}

    assert {x["name"]: x["type"] for x in doc["exchanges"]} == {
        EXCHANGE: "direct", DEAD_LETTER_EXCHANGE: "direct"}
    for party in ("hub", "example"):
        assert queues[queue_name(party)]["arguments"] == queue_arguments(
            party, DEFAULT_DELIVERY_LIMIT)
        assert queues[dead_queue_name(party)]["arguments"] == {}
        assert (EXCHANGE, party, queue_name(party)) in bindings
        assert (DEAD_LETTER_EXCHANGE, dead_queue_name(party), dead_queue_name(party)) in bindings
    assert all(q["durable"] and not q["auto_delete"] for q in doc["queues"])


def test_permission_regexes_give_a_node_its_own_queue_only() -> None:
    perms = {p["user"]: p for p in definitions()["permissions"]}
    node, hub = perms["partynet-node-example"], perms["partynet-hub"]

    assert node["configure"] == "^$"
    assert re.search(node["write"], EXCHANGE)
    assert not re.search(node["write"], DEAD_LETTER_EXCHANGE)
    assert re.search(node["read"], queue_name("example"))
    for other in (queue_name("example2"), queue_name("hub"), dead_queue_name("example")):
        assert not re.search(node["read"], other)
    # The hub binds and reads dead letters, but cannot consume a node's work queue.
    assert re.search(hub["read"], queue_name("hub"))
    assert re.search(hub["read"], dead_queue_name("n1"))
    assert not re.search(hub["read"], queue_name("n1"))


def provision(vhost: str, node: str, password: str) -> None:
    env = {**os.environ, "PARTYNET_RABBITMQ_VHOST": vhost}
    done = subprocess.run(["bash", str(DEPLOY / "provision-node.sh"), node, "-"],
                          input=password, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def nodes(rabbitmq_vhost: str, ctl: Callable[..., str]) -> Iterator[dict[str, str]]:
    """Two provisioned nodes: {node id: password}; their users are deleted afterwards."""
    created = {f"a{secrets.token_hex(3)}": secrets.token_urlsafe(12),
               f"b{secrets.token_hex(3)}": secrets.token_urlsafe(12)}
    try:
        for node, password in created.items():
            provision(rabbitmq_vhost, node, password)
        yield created
    finally:
        for node in created:
            with contextlib.suppress(RuntimeError):
                ctl("delete_user", f"partynet-node-{node}")


def test_a_node_user_publishes_and_reads_only_its_own_queue(
        nodes: dict[str, str], rabbitmq_vhost: str, url_for: Callable[..., str],
        fast: dict[str, Any]) -> None:
    (a, password_a), (b, _) = nodes.items()
    url_a = url_for(rabbitmq_vhost, f"partynet-node-{a}", password_a)
    admin = open_bus(url_for(rabbitmq_vhost), **{**fast, "delivery_limit": DEFAULT_DELIVERY_LIMIT})
    # Full declare over what the script provisioned: any argument mismatch would fail here.
    admin.declare([a, b])
    hub_bus = open_bus(url_for(rabbitmq_vhost), **fast)  # the hub queue as other tests have it
    hub_bus.declare(["hub"])
    node_a = open_bus(url_a, declare="passive", **fast)

    node_a.declare([a])
    node_a.publish("hub", b"to the hub", message_id="from-a")
    admin.publish(a, b"to a", message_id="to-a")
    got: list[Delivery] = []
    node_a.consume(a, got.append, idle_timeout=0.7)
    hub: list[Delivery] = []
    hub_bus.consume("hub", hub.append, idle_timeout=0.7)

    assert [d.message_id for d in got] == ["to-a"]
    assert "from-a" in [d.message_id for d in hub]
    with pytest.raises(TransportError, match="ACCESS_REFUSED"):
        node_a.consume(b, lambda d: None, idle_timeout=0.7)
    with pytest.raises(TransportError, match="ACCESS_REFUSED"):
        open_bus(url_a, **fast).declare([a])  # declare=True needs configure permission
    with Connection(url_a, connect_timeout=2) as conn:
        with pytest.raises(AccessRefused):
            conn.channel().queue_bind(queue_name(a), EXCHANGE, b)
        with pytest.raises(AccessRefused):
            conn.channel().queue_declare(queue_name("stray"), durable=True, auto_delete=False)
    for bus in (node_a, admin, hub_bus):
        bus.close()


def test_provisioning_again_replaces_the_password(
        nodes: dict[str, str], rabbitmq_vhost: str, url_for: Callable[..., str],
        fast: dict[str, Any]) -> None:
    node, old = list(nodes.items())[1]  # b: the other test logs in as a
    provision(rabbitmq_vhost, node, "new-" + old)
    user = f"partynet-node-{node}"

    with pytest.raises(TransportError):
        open_bus(url_for(rabbitmq_vhost, user, old), declare="passive", **fast).declare([node])
    open_bus(url_for(rabbitmq_vhost, user, "new-" + old), declare="passive",
             **fast).declare([node])


def test_the_definitions_file_imports_and_the_bus_accepts_it(
        rabbitmq: None, ctl: Callable[..., str], url_for: Callable[..., str], fast: dict[str, Any],
        tmp_path: Path) -> None:
    suffix = secrets.token_hex(3)
    vhost = f"partynet_defs_{suffix}"
    text = (DEPLOY / "definitions.json").read_text(encoding="utf-8")
    doc = json.loads(text.replace('"partynet"', f'"{vhost}"')
                     .replace('"partynet-hub"', f'"partynet-hub-{suffix}"')
                     .replace('"partynet-node-example"', f'"partynet-node-example-{suffix}"'))
    users = [u["name"] for u in doc["users"]]
    try:
        ctl("import_definitions", stdin=json.dumps(doc))  # a path would be read by the broker
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        bus = open_bus(url_for(vhost), **{**fast, "delivery_limit": DEFAULT_DELIVERY_LIMIT})
        bus.declare(["hub", "example"])  # equivalent arguments, or PRECONDITION_FAILED
        bus.publish("example", b"x", message_id="m1")
        assert bus.queue_depth("example") == 1
        bus.close()
    finally:
        ctl("delete_vhost", vhost)
        for user in users:
            ctl("delete_user", user)
