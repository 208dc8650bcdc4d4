"""How many SQL statements each step of a transfer takes, with automatic approvals: a budget per
step, so a repeated load or an N+1 query shows up here before it shows up in the benchmarks.

The steps travel through a queueing carrier and each is applied in its own transaction, as
between two nodes (the origin applies, then the destination receives the letter, and so on).
Run with `-s` and PARTYNET_SHOW_SQL=1 to see the statements and where they come from.
"""

from __future__ import annotations

import collections
import os
import traceback
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from node.db import db
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from node.transfers import carrier, services
from node.transfers.models import State

from .conftest import Pair, in_row, out_row

#: Statements (SELECT, INSERT, UPDATE, DELETE) per step, on either backend. Before the budget
#: the application took 39 statements (repeated tenant and org loads, a chain query repeated
#: after each automatic decision, the row written twice when the letter was issued).
BUDGET = {
    "origin: apply, approve, issue": 32,
    "destination: letter, approve, claim": 21,
    "origin: claim, release": 10,  # one of them: the floating certificates to end
    "destination: released, receive": 17,
    "origin: receipt, close": 5,
}
STEP_LABELS = {"letter": "destination: letter, approve, claim",
               "claim": "origin: claim, release",
               "released": "destination: released, receive",
               "receipt": "origin: receipt, close"}


def _origin_of_statement() -> str:
    frames = [f for f in traceback.extract_stack()
              if "/node/" in f.filename and "site-packages" not in f.filename
              and not f.filename.endswith("test_statements.py")]
    return " > ".join(f"{os.path.basename(f.filename)}:{f.name}" for f in frames[-3:])


def test_statements_per_step(pair: Pair, clock: Any, connection: sa.Connection) -> None:
    a, b = pair.a, pair.b
    for side in (a, b):
        with tenant_context(side.tenant.id):
            services.configure_rules(db.session.get(Tenant, side.tenant.id), auto_approve=True)
            db.session.commit()
    statements: list[tuple[str, str]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.split(None, 1)[0].upper()
        if verb in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            statements.append((statement, _origin_of_statement()))

    counts: dict[str, int] = {}

    def counted(label: str, work: Callable[[], Any]) -> Any:
        start = len(statements)
        result = work()
        counts[label] = len(statements) - start
        return result

    queue: list[tuple[str, dict[str, Any]]] = []
    carrier.use(lambda _session, _t, step, body: queue.append((step, body)))
    sa.event.listen(connection, "before_cursor_execute", listen)
    try:
        t = counted("origin: apply, approve, issue", lambda: a(
            services.apply_transfer, a.as_member(pair.member), member_id=None,
            to_tenant=b.tenant.slug, to_org_code=b.branch.code, reason="工作调动"))
        uid = t.uid
        while queue:
            step, body = queue.pop(0)
            side = a if step in services.OUT_SIDE_STEPS else b

            def apply(step: str = step, body: dict[str, Any] = body, side: Any = side) -> None:
                with tenant_context(side.tenant.id):  # one message, one transaction
                    services.apply_step(db.session(), tenant_slug=side.tenant.slug, uid=uid,
                                        step=step, body=body, sender_node=carrier.this_node())
                    db.session.commit()
            counted(STEP_LABELS[step], apply)
    finally:
        sa.event.remove(connection, "before_cursor_execute", listen)
        carrier.use(None)
    assert out_row(uid, a.tenant.id).state == State.closed
    assert in_row(uid, b.tenant.id).state == State.received
    if os.environ.get("PARTYNET_SHOW_SQL"):
        print(counts)
        for statement, where in statements:
            print(f"{where}\n    {' '.join(statement.split())[:160]}")
    assert set(counts) == set(BUDGET)
    over = {label: (n, BUDGET[label]) for label, n in counts.items() if n > BUDGET[label]}
    assert not over, f"statements over budget (count, budget): {over}; the repeats: " + str(
        [s for s, n in collections.Counter(w for _s, w in statements).items() if n > 1])
