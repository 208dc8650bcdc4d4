"""Check a restored node database before trusting it: schema, contents, and the PII key.

    NODE_DATABASE_URL=<the restored database> \
        /opt/partynet/.venv/bin/python deploy/backup/check-restore.py /etc/partynet/node.env

The environment wins over the env file, so NODE_DATABASE_URL points the check at the copy while
the keys come from the node's own settings. Exits non-zero when anything is wrong: the schema
is not at the code's migration head, there are no tenants, or a national ID does not decrypt
(the env file's NODE_PII_KEY / NODE_PII_OLD_KEYS do not match the backup).
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from node import migrate
from node.cli import load_env_file, make_app
from node.db import db
from node.members.identity import identity
from shared.identity import PiiDecryptError

SAMPLE = 200


def main() -> int:
    if len(sys.argv) > 1:
        load_env_file(Path(sys.argv[1]))
    make_app()
    assert db.engine is not None
    problems = []
    with db.engine.connect() as connection:
        current, head = migrate.current_revision(connection), migrate.head_revision()
        if current != head:
            problems.append(f"schema at {current}, the code's head is {head}: "
                            f"run `partynet node db upgrade` on the copy first")
        count = {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                 for table in ("tenants", "orgs", "members", "accounts", "audit_entries")}
        print("rows: " + ", ".join(f"{table} {n}" for table, n in count.items()))
        if not count["tenants"]:
            problems.append("no tenants")
        tokens = connection.execute(sa.text(
            "SELECT national_id_cipher FROM members ORDER BY id DESC LIMIT :n"),
            {"n": SAMPLE}).scalars().all()
    failed = 0
    for token in tokens:
        try:
            identity().cipher.decrypt(token)
        except PiiDecryptError:
            failed += 1
    print(f"national IDs: {len(tokens) - failed} of the {len(tokens)} newest decrypt")
    if failed:
        problems.append(f"{failed} national IDs do not decrypt with the configured PII keys")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print("restore check: " + ("FAILED" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
