"""The quarantine for a tenant's administrators: held messages that claim their tenant.

The node's quarantine (`federation.delivery.quarantine`) is node-wide; a message records the
tenant it claims (`QuarantinedMessage.tenant`, the slug). A tenant administrator sees, releases
and discards those claiming their own tenant; anything else, including a message claiming no
tenant (the operator's, through `partynet node bus quarantine`), answers as if it did not
exist. Release and discard go through the node's own consumer, as the CLI does, and are
recorded in the audit log.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

from federation.delivery import Consumer, Outcome
from federation.delivery.models import QuarantinedMessage
from federation.delivery.quarantine import HELD, held
from node.audit.recording import record
from node.auth.principal import Principal
from node.bus.services import node_party
from node.db import db
from node.grants.models import Role
from node.settings import NodeSettings
from node.tenants.models import Tenant
from shared.errors import Conflict, Forbidden, NotFound

#: A pretty-printed body longer than this is cut for the page (the API gives it whole).
MAX_SHOWN = 200_000


def _require_tenant_admin(principal: Principal, tenant: Tenant) -> None:
    if not principal.can(Role.tenant_admin, tenant.code_prefix):
        raise Forbidden("The quarantine is for the tenant's administrators.")


def list_entries(principal: Principal, tenant: Tenant, *, status: str | None = HELD,
                 reason: str | None = None, after_id: int | None = None,
                 limit: int = 50) -> Sequence[QuarantinedMessage]:
    """Messages claiming the tenant, oldest first; `status` None is every status."""
    _require_tenant_admin(principal, tenant)
    return held(db.session(), status=status, reason=reason, tenants=[tenant.slug],
                after_id=after_id or 0, limit=limit)


def get_entry(principal: Principal, tenant: Tenant, entry_id: int) -> QuarantinedMessage:
    _require_tenant_admin(principal, tenant)
    entry = db.session.get(QuarantinedMessage, entry_id)
    if entry is None or entry.tenant != tenant.slug:
        raise NotFound("No such quarantined message.")
    return entry


def body_text(entry: QuarantinedMessage) -> str:
    """The body for a person to read: JSON indented with its keys sorted, else the text as
    received (undecodable bytes replaced). Pages escape it; it is never markup."""
    raw = bytes(entry.body)
    text = raw.decode("utf-8", "replace")
    with contextlib.suppress(ValueError, RecursionError):  # not JSON: shown as it came
        text = json.dumps(json.loads(raw), ensure_ascii=False, indent=2, sort_keys=True)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "\n…"


def _decided_by(principal: Principal, tenant: Tenant) -> str:
    return f"{tenant.slug}:{principal.username}"


def _held(principal: Principal, tenant: Tenant, entry_id: int) -> QuarantinedMessage:
    entry = get_entry(principal, tenant, entry_id)
    if entry.status != HELD:
        raise Conflict(f"This message was already {entry.status}.",
                       errors={"status": [entry.status]})
    return entry


def _audit(action: str, entry: QuarantinedMessage, note: str, **after: str) -> None:
    record(db.session(), action=action, entity_type="quarantine", entity_id=entry.id,
           scope_code=None, before={"status": HELD},
           after={"status": entry.status, "reason": entry.reason, "type": entry.type,
                  "source": entry.source, "message_id": entry.message_id, "note": note,
                  **after})


def release_entry(principal: Principal, tenant: Tenant, entry_id: int, *, note: str,
                  settings: NodeSettings) -> tuple[QuarantinedMessage, Outcome]:
    """Check the message again (without the clock window) and receive it, as the node's
    consumer does: it is still applied at most once. Refused again: a Conflict, nothing
    changes (the caller's transaction rolls back)."""
    entry = _held(principal, tenant, entry_id)
    outcome = Consumer(node_party(settings)).release(
        entry.id, by=_decided_by(principal, tenant), note=note)
    _audit("quarantine.release", entry, note, outcome=outcome.value)
    return entry, outcome


def discard_entry(principal: Principal, tenant: Tenant, entry_id: int, *, note: str,
                  settings: NodeSettings) -> QuarantinedMessage:
    """Mark the message discarded: kept, never applied."""
    entry = _held(principal, tenant, entry_id)
    Consumer(node_party(settings)).discard(entry.id, by=_decided_by(principal, tenant),
                                           note=note)
    _audit("quarantine.discard", entry, note)
    return entry
