"""`partynet demo` (what `make demo` runs): a hub and two nodes, enrolled, with their data on
the hub, over real HTTP; Ctrl-C leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests


def _partynet() -> str:
    return str(Path(sys.executable).with_name("partynet"))


def _free_port_base() -> int:
    """Three consecutive free ports (hub, then the two nodes)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base > 64000:
            continue
        sockets = []
        try:
            for port in range(base, base + 3):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no three consecutive free ports")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_demo_network_starts_enrolls_delivers_and_stops_cleanly(tmp_path):
    base = _free_port_base()
    hub, cq, tl = (f"http://127.0.0.1:{base + i}" for i in range(3))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "HUB_"))}
    launcher = subprocess.Popen(
        [_partynet(), "demo", "--instance", str(tmp_path / "demo"), "--port-base", str(base),
         "--small", "--wait", "150"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(launcher.stderr or ()), daemon=True)
    reader.start()
    banner: list[str] = []
    try:
        # The banner comes last, once the hub holds every tenant's data (bounded inside).
        assert launcher.stdout is not None
        for line in launcher.stdout:
            banner.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        text = "".join(banner)
        assert "Ctrl-C stops" in text, text + "".join(stderr) + _logs(tmp_path)
        for url in (f"{hub}/api/docs", f"{cq}/t/dadukou/", f"{cq}/t/jiulongpo/login",
                    f"{tl}/t/tongguan/", "demo-password-1"):
            assert url in text

        assert requests.get(f"{hub}/readyz", timeout=10).status_code == 200
        # The registry: both nodes active, with their tenants.
        with contextlib.closing(sqlite3.connect(tmp_path / "demo" / "hub" / "hub.db")) as db:
            assert db.execute("SELECT id, status FROM nodes ORDER BY id").fetchall() == [
                ("chongqing-1", "active"), ("tongling-1", "active")]
            assert sorted(db.execute("SELECT node_id, slug, code_prefix FROM node_tenants")
                          ) == [("chongqing-1", "dadukou", "500104"),
                                ("chongqing-1", "jiulongpo", "500107"),
                                ("tongling-1", "tongguan", "340705")]
        # The feed: Chinese search over every node's public articles.
        found = requests.get(f"{hub}/api/feed/search", params={"q": "党建"}, timeout=10).json()
        assert {item["tenant"] for item in found["items"]} == {"dadukou", "jiulongpo",
                                                                "tongguan"}
        grid = requests.get(f"{hub}/api/feed/search", params={"q": "网格服务岗"},
                            timeout=10).json()["items"]
        assert [item["title"] for item in grid] == ["钢花路社区党员认领网格服务岗"]
        # The statistics: member counts per tenant prefix, and the two of Chongqing together.
        rollups = {prefix: requests.get(f"{hub}/api/stats/rollup", params={"prefix": prefix},
                                        timeout=10).json()
                   for prefix in ("500104", "500107", "340705", "50")}
        for prefix in ("500104", "500107", "340705"):
            assert rollups[prefix]["tenants"] == 1
            assert rollups[prefix]["party_members"] > 0
            assert sum(rollups[prefix]["members"]["by_stage"].values()) > 0
        assert rollups["50"]["tenants"] == 2
        assert rollups["50"]["party_members"] == (rollups["500104"]["party_members"]
                                                  + rollups["500107"]["party_members"])
        # Each tenant's public site.
        for url in (f"{cq}/t/dadukou/", f"{cq}/t/jiulongpo/", f"{tl}/t/tongguan/"):
            assert requests.get(url, timeout=10).status_code == 200

        # The hub's directive and study item reach every tenant of both nodes (the hub's worker
        # relays them; bounded wait).
        expected = [("dadukou", 2), ("jiulongpo", 2)], [("tongguan", 2)]
        deadline = time.monotonic() + 60
        while True:
            held = tuple(_directives(tmp_path / "demo" / node / "node.db")
                         for node in ("chongqing-1", "tongling-1"))
            if held == expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert held == expected, _logs(tmp_path)

        # The demo's transfers between the nodes, through the hub: 大渡口区 -> 铜官区 waits
        # at 铜官区; 铜官区 -> 九龙坡区 is received automatically and closed by the receipt.
        demo_dir = tmp_path / "demo"
        deadline = time.monotonic() + 60
        while True:
            states = (_transfer_states(demo_dir / "tongling-1" / "node.db"),
                      _transfer_states(demo_dir / "chongqing-1" / "node.db"))
            if (("in", "dadukou", "tongguan", "delivered") in states[0]
                    and ("out", "tongguan", "jiulongpo", "closed") in states[0]
                    and ("in", "tongguan", "jiulongpo", "received") in states[1]) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert ("in", "dadukou", "tongguan", "delivered") in states[0], (states, _logs(tmp_path))
        assert ("out", "tongguan", "jiulongpo", "closed") in states[0], (states, _logs(tmp_path))
        assert ("in", "tongguan", "jiulongpo", "received") in states[1], states
        assert ("out", "dadukou", "dadukou", "applied") in states[1], states  # an inbox's
        with contextlib.closing(sqlite3.connect(demo_dir / "hub" / "hub.db")) as db:
            assert sorted(db.execute("SELECT origin_tenant, destination_tenant, state "
                                     "FROM hub_transfers")) == [
                ("dadukou", "tongguan", "issued"), ("tongguan", "jiulongpo", "closed")]
        assert f"{cq}/t/dadukou/console/transfers" in text

        pids = [int(line.split()[1]) for line in
                (tmp_path / "demo" / "demo.pids").read_text().splitlines()]
        # three gunicorn masters, three bus workers, the nodes' two payment sandboxes
        assert len(pids) == 8
        assert all(_group_alive(pid) for pid in pids)
    finally:
        # Ctrl-C: the launcher stops every child's process group, then exits.
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
            raise
    reader.join(timeout=10)
    assert launcher.returncode == 0, "".join(stderr)
    progress = "".join(stderr)
    assert "the hub has: statistics of 3/3 tenants, 9/9 public articles" in progress
    assert "stopped." in progress
    assert not any(_group_alive(pid) for pid in pids), "a child outlived the demo"
    assert not (tmp_path / "demo" / "demo.pids").exists()


def _directives(path: Path) -> list[tuple[str, int]]:
    """(tenant slug, directives pinned) in a node's database."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        return db.execute("SELECT t.slug, count(*) FROM directives d JOIN tenants t "
                          "ON t.id = d.tenant_id WHERE d.pinned GROUP BY t.slug "
                          "ORDER BY t.slug").fetchall()


def _logs(tmp_path: Path) -> str:
    folder = tmp_path / "demo" / "logs"
    return "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                   for p in sorted(folder.glob("*.log"))) if folder.exists() else ""


def test_demo_refuses_to_start_twice_on_one_instance(tmp_path):
    """The pids file of a running network stops a second launcher before it touches anything."""
    instance = tmp_path / "demo"
    instance.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True)
    try:
        (instance / "demo.pids").write_text(f"hub-web {sleeper.pid}\n")
        done = subprocess.run([_partynet(), "demo", "--instance", str(instance), "--reset"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert "already running" in done.stderr
        assert (instance / "demo.pids").exists()
    finally:
        sleeper.kill()
        sleeper.wait()



def _transfer_states(path: Path) -> set[tuple[str, str, str, str]]:
    """(side, from tenant, to tenant, state) of every transfer in a node's database."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        return set(db.execute("SELECT side, from_tenant, to_tenant, state FROM transfers"))
