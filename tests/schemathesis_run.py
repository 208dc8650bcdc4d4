"""Schemathesis against a live node over HTTP: what `make schemathesis` runs.

    python -m tests.schemathesis_run [--backend sqlite|postgresql] [--max-examples 50]
                                     [--phases ...] [--seed N] [--report-dir DIR]

Seeds a fresh database (SQLite by default) through the services (a tenant with a small tree, members,
accounts, grants and officers), serves the app with werkzeug on a free 127.0.0.1 port in a
thread, and runs the schemathesis CLI against /api/openapi.json with the tenant
administrator's bearer token. The ids of the seeded records are offered to path, query and
body parameters (schemathesis dictionaries), so operations reach real records, not only 404s.

Checks: no 5xx, and every response conforms to the documented status codes and schemas. The
exit status is the CLI's; the JSON report (`--report-dir`) lists each failure with the
request that triggers it. `tests/node/test_schemathesis.py` runs a short version in the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import secrets
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
ADMIN_PASSWORD = "admin-password-1"


@dataclasses.dataclass(frozen=True)
class Seeded:
    token: str
    ids: dict[str, list[int]]  # parameter name -> ids of real records


def national_id(n: int, region: str = "500104") -> str:
    """A valid 18-digit national ID (GB 11643), distinct for each n."""
    birth = (dt.date(1960, 1, 1) + dt.timedelta(days=n // 1000)).strftime("%Y%m%d")
    body = f"{region}{birth}{n % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def seed() -> Seeded:
    """A tenant: root > {C1 > {B1 > G1, B2}, C2 > B3}; members, logins, grants, officers."""
    import sqlalchemy as sa

    from node.accounts.models import Account
    from node.accounts.services import create_account
    from node.audit.recording import acting_as
    from node.auth.models import Token, token_digest
    from node.auth.principal import Principal
    from node.db import db
    from node.grants.models import Role
    from node.grants.services import create_grant
    from node.members.models import Stage
    from node.members.services import create_member
    from node.orgs.models import OfficerPosition, OrgKind
    from node.orgs.services import add_officer, create_org
    from node.tenants.scoping import tenant_context
    from node.tenants.services import create_tenant, root_org
    from shared.db import transaction

    with acting_as("schemathesis"), transaction(db):
        tenant = create_tenant(slug="schemathesis", name="Schemathesis", code_prefix="500101777",
                               admin_username="admin", admin_password=ADMIN_PASSWORD)
    ids: dict[str, list[int]] = {}
    with tenant_context(tenant.id), acting_as("schemathesis"), transaction(db):
        root = root_org(tenant)
        admin_id = db.session.scalars(sa.select(Account.id).where(Account.username == "admin")
                                      ).one()
        admin = Principal(account_id=admin_id, tenant_id=tenant.id, username="admin",
                          grants=((Role.tenant_admin, root.code),))

        def org(parent: Any, kind: OrgKind, name: str) -> Any:
            return create_org(admin, {"parent_id": parent.id, "kind": kind, "name": name})

        c1, c2 = org(root, OrgKind.committee, "街道党工委"), org(root, OrgKind.committee, "机关工委")
        b1, b2, b3 = (org(c1, OrgKind.branch, "第一支部"), org(c1, OrgKind.branch, "第二支部"),
                      org(c2, OrgKind.branch, "机关支部"))
        g1 = org(b1, OrgKind.group, "第一党小组")
        stages = (Stage.applicant, Stage.activist, Stage.candidate, Stage.probationary,
                  Stage.full, Stage.full)
        members = [create_member(admin, tenant, {"org_id": branch.id, "name": f"党员{i}",
                                                 "national_id": national_id(i), "stage": stage})
                   for i, (branch, stage) in enumerate(
                       (b, s) for b in (b1, b2, b3) for s in stages)]
        accounts = [create_account(admin, username=f"member{m.id}", display_name=m.name,
                                   password="member-password-1", member_id=m.id)
                    for m in members[:5]]
        grants = [create_grant(admin, account_id=accounts[0].id, role=Role.org_admin,
                               org_id=b1.id),
                  create_grant(admin, account_id=accounts[1].id, role=Role.org_viewer,
                               org_id=c1.id)]
        # The administrator is also a member, so /api/me/member and /api/me/card answer.
        db.session.get(Account, admin_id).member_id = members[5].id
        officers = [add_officer(admin, b1, {"member_id": members[4].id,
                                            "position": OfficerPosition.secretary,
                                            "term_start": dt.date(2023, 3, 1)})]
        raw = secrets.token_urlsafe(32)
        db.session.add(Token(access_token_hash=token_digest(raw), tenant_id=tenant.id,
                             account_id=admin_id, scope="read write",
                             expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)))
        orgs = [root, c1, c2, b1, b2, b3, g1]
        ids = {"org": [o.id for o in orgs], "member": [m.id for m in members],
               "account": [admin_id, *(a.id for a in accounts)], "grant": [g.id for g in grants],
               "officer": [o.id for o in officers]}
    db.session.remove()
    return Seeded(raw, ids)


#: Which seeded ids each parameter is offered (path, query and body names of the API).
BINDINGS = {
    "org": ("path.org_id", "query.org_id", "query.parent_id", "body.parent_id",
            "body.new_parent_id", "body.org_id", "body.to_org_id"),
    "member": ("path.member_id", "body.member_id"),
    "account": ("path.account_id", "query.account_id", "body.account_id"),
    "grant": ("path.grant_id",),
    "officer": ("path.officer_id",),
}


def write_config(path: Path, seeded: Seeded, probability: float) -> None:
    lines = ["[dictionaries]"]
    lines += [f'{kind}-ids = {{ values = {json.dumps(values)} }}'
              for kind, values in seeded.ids.items()]
    lines.append("\n[parameters]")
    lines += [f'"{key}" = {{ dictionary = "{kind}-ids", probability = {probability} }}'
              for kind, keys in BINDINGS.items() for key in keys]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextlib.contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a throw-away PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'node.db'}"
        return
    from shared.testing.backends import create_pg_database, drop_pg_database

    name = f"partynet_schemathesis_{secrets.token_hex(3)}"
    url = create_pg_database(name)
    try:
        yield url
    finally:
        drop_pg_database(name)


@contextlib.contextmanager
def serve(database_url: str) -> Iterator[tuple[str, Seeded]]:
    """The app on a free port, on a fresh seeded database, for the block's duration."""
    from werkzeug.serving import make_server

    from node import migrate
    from node.app import create_app
    from node.db import db
    from node.settings import NodeSettings
    from shared.identity import generate_key_b64

    settings = NodeSettings(
        database_url=database_url, secret_key=secrets.token_urlsafe(24),
        pii_key=generate_key_b64(), identity_hash_key=secrets.token_urlsafe(24),
        node_id="schemathesis", vendor_dir=str(REPO / "node_modules"))
    app = create_app(settings)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log: the report says it
    assert db.engine is not None
    migrate.upgrade(db.engine)
    seeded = seed()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="node-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seeded
    finally:
        server.shutdown()
        thread.join(timeout=10)
        db.dispose()


def run(*, backend: str, max_examples: int, phases: str, report_dir: Path,
        seed_value: int | None, workers: int, probability: float, extra: list[str]) -> int:
    report_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="partynet-st-") as tmp, database(
            backend, Path(tmp)) as database_url, serve(database_url) as (url, seeded):
        config = Path(tmp) / "schemathesis.toml"
        write_config(config, seeded, probability)
        command = [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
            f"{url}/api/openapi.json", "--checks", CHECKS, "--phases", phases,
            "--header", f"Authorization: Bearer {seeded.token}",
            "--max-examples", str(max_examples), "--workers", str(workers),
            "--report", "junit,ndjson", "--report-dir", str(report_dir),
            "--output-sanitize", "false", "--no-color", *extra]
        if seed_value is not None:
            command += ["--seed", str(seed_value)]
        print("$", " ".join(c if "Bearer" not in c else "Authorization: Bearer …"
                            for c in command), flush=True)
        return subprocess.run(command, cwd=tmp, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="database to serve from (postgresql: a throw-away database on "
                             "PARTYNET_TEST_PG or 127.0.0.1:5432)")
    parser.add_argument("--max-examples", type=int, default=50,
                        help="test cases per operation and phase (default 50)")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--report-dir", type=Path, default=REPO / "instance" / "schemathesis")
    parser.add_argument("--seed", type=int, default=None, help="reproduce an earlier run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--id-probability", type=float, default=0.6,
                        help="how often a parameter takes a seeded record's id (default 0.6)")
    args, extra = parser.parse_known_args(argv)
    return run(backend=args.backend, max_examples=args.max_examples, phases=args.phases, report_dir=args.report_dir,
               seed_value=args.seed, workers=args.workers, probability=args.id_probability,
               extra=extra)


if __name__ == "__main__":
    sys.exit(main())
