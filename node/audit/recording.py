"""Writes audit entries for every insert, update and delete of `Audited` rows, automatically.

Runs in `after_flush`, in the same transaction as the change: the change and its trace commit or
roll back together. Explicit events with no row change (revealing a national ID, a bulk import)
are written with `record()`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
from collections.abc import Iterator
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from node.audit.models import Audited, AuditEntry
from node.auth.principal import maybe_principal
from node.tenants.scoping import current_tenant_id
from shared.db import utcnow

_actor_label: ContextVar[str | None] = ContextVar("partynet_actor", default=None)
_remote_addr: ContextVar[str | None] = ContextVar("partynet_remote_addr", default=None)


@contextlib.contextmanager
def acting_as(label: str) -> Iterator[None]:
    """Name the actor of changes made outside a request (e.g. `cli:alice`)."""
    token = _actor_label.set(label)
    try:
        yield
    finally:
        _actor_label.reset(token)


def set_remote_addr(addr: str | None) -> None:
    _remote_addr.set(addr)


def jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _actor() -> tuple[int | None, str]:
    principal = maybe_principal()
    if principal is not None:
        return principal.account_id, principal.username
    return None, _actor_label.get() or "system"


def entry_row(*, action: str, entity_type: str, entity_id: int | None, scope_code: str | None,
              before: dict[str, Any] | None, after: dict[str, Any] | None,
              tenant_id: int | None = None) -> dict[str, Any]:
    account_id, label = _actor()
    return {
        "tenant_id": tenant_id if tenant_id is not None else current_tenant_id(),
        "at": utcnow(),
        "actor_account_id": account_id,
        "actor": label,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "scope_code": scope_code,
        "before": before,
        "after": after,
        "remote_addr": _remote_addr.get(),
    }


def record(session: Session, **kwargs: Any) -> None:
    """Write one explicit audit entry in the current transaction."""
    session.execute(sa.insert(AuditEntry), [entry_row(**kwargs)])


def _columns(obj: Audited) -> list[str]:
    mapper = inspect(type(obj))
    skip = type(obj).__audit_exclude__ | {"created_at", "updated_at", "tenant_id"}
    return [attr.key for attr in mapper.column_attrs if attr.key not in skip]


def _snapshot(obj: Audited) -> dict[str, Any]:
    return {key: jsonable(getattr(obj, key)) for key in _columns(obj)}


def _changes(obj: Audited) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in _columns(obj):
        history = state.attrs[key].history
        if history.has_changes():
            before[key] = jsonable(history.deleted[0]) if history.deleted else None
            after[key] = jsonable(history.added[0]) if history.added else None
    return before, after


def _after_flush(session: Session, _ctx: Any) -> None:
    rows = []
    for obj in session.new:
        if isinstance(obj, Audited):
            rows.append(entry_row(action=f"{obj.__audit_name__}.create",
                                  entity_type=obj.__audit_name__, entity_id=obj.id,
                                  scope_code=obj.audit_scope(), before=None,
                                  after=_snapshot(obj), tenant_id=obj.tenant_id))
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if after or before:
                rows.append(entry_row(action=f"{obj.__audit_name__}.update",
                                      entity_type=obj.__audit_name__, entity_id=obj.id,
                                      scope_code=obj.audit_scope(), before=before, after=after,
                                      tenant_id=obj.tenant_id))
    for obj in session.deleted:
        if isinstance(obj, Audited):
            rows.append(entry_row(action=f"{obj.__audit_name__}.delete",
                                  entity_type=obj.__audit_name__, entity_id=obj.id,
                                  scope_code=obj.audit_scope(), before=_snapshot(obj),
                                  after=None, tenant_id=obj.tenant_id))
    if rows:
        session.connection().execute(sa.insert(AuditEntry), rows)


def install(session_factory: Any) -> None:
    if not event.contains(session_factory, "after_flush", _after_flush):
        event.listen(session_factory, "after_flush", _after_flush)
