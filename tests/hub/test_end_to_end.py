"""A hub and a node as real processes: enrollment over HTTP, then a heartbeat over the bus.

Everything goes through the operators' commands (`partynet hub ...`, `partynet node ...`), each
app with its own SQLite database, both workers on one embedded bus file.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from federation.transport import open_bus
from hub.meta.routes import VERSION

NODE_ID = "node-e2e"
TEST_PII_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, tests only


def _partynet() -> str:
    return str(Path(sys.executable).with_name("partynet"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Machine:
    """One machine with a hub and a node installed in their own folders."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.hub_url = f"http://127.0.0.1:{self.port}"
        self.bus = root / "bus.sqlite3"
        self.hub_db = root / "hub" / "hub.db"
        self.node_db = root / "node" / "node.db"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "HUB_"))}
        self.hub_env = {**base, "HUB_DATABASE_URL": f"sqlite:///{self.hub_db}",
                        "HUB_SECRET_KEY": "e2e-hub-secret-0123456789",
                        "HUB_SIGNING_KEY_FILE": str(root / "hub" / "hub-signing.key"),
                        "HUB_BUS_URL": f"embedded://{self.bus}", "HUB_BASE_URL": self.hub_url}
        self.node_env = {**base, "NODE_DATABASE_URL": f"sqlite:///{self.node_db}",
                         "NODE_SECRET_KEY": "e2e-node-secret-0123456789",
                         "NODE_PII_KEY": TEST_PII_KEY,
                         "NODE_IDENTITY_HASH_KEY": "e2e-identity-hash-key",
                         "NODE_NODE_ID": NODE_ID,
                         "NODE_SIGNING_KEY_FILE": str(root / "node" / "node-signing.key"),
                         "NODE_BUS_URL": f"embedded://{self.bus}"}
        self.processes: list[tuple[subprocess.Popen[bytes], Any]] = []
        for folder in ("hub", "node"):
            (root / folder).mkdir()

    def _env(self, app: str) -> dict[str, str]:
        return self.hub_env if app == "hub" else self.node_env

    def _program(self, app: str) -> str:
        """The `partynet` sub-command of the installation in folder `app`."""
        return "hub" if app == "hub" else "node"

    def run(self, app: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([_partynet(), self._program(app), *args], cwd=self.root / app,
                              env=self._env(app), capture_output=True, text=True, timeout=60)
        if check:
            assert done.returncode == 0, f"{app} {args}: {done.stdout}{done.stderr}"
        return done

    def chain(self, app: str, *commands: list[str]) -> subprocess.Popen[str]:
        """Several commands one after the other, in the background (a shell `&&` chain)."""
        script = " && ".join(shlex.join([_partynet(), self._program(app), *c])
                             for c in commands)
        return subprocess.Popen(["sh", "-c", script], cwd=self.root / app, env=self._env(app),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start(self, app: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{app}-{args[0]}-{len(self.processes)}.log").open("w")
        proc = subprocess.Popen([_partynet(), self._program(app), *args], cwd=self.root / app,
                                env=self._env(app), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.processes.append((proc, log))
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in self.root.glob("*.log"))

    def stop_all(self) -> None:
        for proc, _log in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc, log in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            log.close()


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
        return conn.execute(sql).fetchall()


def _wait_for(check: Callable[[], bool], seconds: float, what: str, machine: Machine) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in {seconds} s\n" \
                                            f"{machine.logs()}"
        time.sleep(0.2)


@pytest.fixture()
def machine(tmp_path: Path) -> Iterator[Machine]:
    machine = Machine(tmp_path)
    try:
        yield machine
    finally:
        machine.stop_all()


def _serving(machine: Machine, server: subprocess.Popen[bytes]) -> bool:
    assert server.poll() is None, machine.logs()
    try:
        return requests.get(f"{machine.hub_url}/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.slow
def test_a_node_enrolls_over_http_and_its_heartbeat_reaches_the_hub(machine):
    # Both operators set up their installation (in parallel: they are different people); the
    # hub administrator issues a token, which the node operator receives out of band.
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
    assert token.startswith("pne_")
    server = machine.start("hub", "serve", "--port", str(machine.port), "--workers", "1")
    _wait_for(lambda: _serving(machine, server), 30, "the hub serving", machine)

    # The node operator enrolls over HTTP.
    enrolled = machine.run("node", "bus", "enroll", "--hub", machine.hub_url, "--token", token)
    assert f"enrolled {NODE_ID}" in enrolled.stdout
    assert "tenant dadukou: prefix 500104, region 500104" in enrolled.stdout
    hub_key_id = (machine.root / "hub" / "hub-signing.key").read_text().split()[0]
    assert _query(machine.node_db, "SELECT key_id FROM fed_keys WHERE owner = 'hub'") == \
        [(hub_key_id,)]
    assert _query(machine.hub_db, "SELECT id, status FROM nodes") == [(NODE_ID, "active")]
    assert _query(machine.hub_db, "SELECT node_id, slug, code_prefix FROM node_tenants") == \
        [(NODE_ID, "dadukou", "500104")]

    # Meanwhile: the token works once only, and the refusal reads well.
    again = machine.chain("node", ["bus", "enroll", "--hub", machine.hub_url, "--token", token])
    # Both workers on one bus; the node reports its health; the hub registry shows it.
    bus = open_bus(f"embedded://{machine.bus}")
    bus.declare(["hub", NODE_ID])
    bus.close()
    machine.start("hub", "bus", "worker")
    machine.start("node", "bus", "worker")
    queued = machine.run("node", "bus", "heartbeat")
    assert "heartbeat" in queued.stdout and "queued" in queued.stdout
    _wait_for(lambda: _query(machine.hub_db, "SELECT version FROM nodes WHERE last_seen_at "
                                             "IS NOT NULL") == [(VERSION,)],
              20, "the heartbeat reaching the hub", machine)
    # Heartbeats are unsequenced (worth sending once, never retransmitting): published, the
    # row is gone, and the hub recorded each once in its inbox: the worker's own (sent when it
    # starts, then every NODE_HEARTBEAT_INTERVAL = 60 s) and the one queued above.
    _wait_for(lambda: _query(machine.node_db, "SELECT count(*) FROM fed_outbox") == [(0,)],
              20, "the node's outbox emptying", machine)
    assert _query(machine.hub_db, "SELECT count(*) FROM fed_inbox WHERE source = "
                                  f"'{NODE_ID}' AND type = 'partynet.node.heartbeat.v1'") == [(2,)]
    stdout, stderr = again.communicate(timeout=60)
    assert again.returncode == 1
    assert "Enrollment token already used (401, enrollment-token-used)" in stdout + stderr
