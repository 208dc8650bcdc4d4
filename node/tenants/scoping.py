"""Tenant isolation, enforced in one place for every ORM query and insert.

Every model with `TenantScoped` gets `tenant_id = <current tenant>` added to every SELECT, UPDATE
and DELETE the ORM emits (including lazy loads), and new rows are stamped with the current tenant.
A query that touches tenant data with no tenant in context fails loudly instead of leaking:
operator code that really means "all tenants" says so with `all_tenants()`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)

_ALL = -1
_current: ContextVar[int | None] = ContextVar("partynet_tenant", default=None)


class TenantContextMissing(RuntimeError):
    """Tenant data was queried with no tenant in context: a bug, never a user error."""


class TenantScoped:
    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(sa.ForeignKey("tenants.id"), index=True)


def current_tenant_id() -> int | None:
    value = _current.get()
    return None if value == _ALL else value


@contextlib.contextmanager
def tenant_context(tenant_id: int) -> Iterator[None]:
    token = _current.set(tenant_id)
    try:
        yield
    finally:
        _current.reset(token)


@contextlib.contextmanager
def all_tenants() -> Iterator[None]:
    """Operator scope: queries see every tenant (CLI, token lookup before the tenant is known)."""
    token = _current.set(_ALL)
    try:
        yield
    finally:
        _current.reset(token)


def set_tenant(tenant_id: int | None) -> None:
    """Set the tenant for the rest of this context (a request); cleared with `clear_tenant`."""
    _current.set(tenant_id)


def clear_tenant() -> None:
    _current.set(None)


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, TenantScoped) for m in state.all_mappers)


def _scope_queries(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load:
        return
    value = _current.get()
    if value == _ALL:
        return
    if value is None:
        if _touches_tenant_data(state):
            raise TenantContextMissing("query on tenant data with no tenant in context")
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == value,
                             include_aliases=True)
    )


def _stamp_new_rows(session: Session, _flush_context: Any, _instances: Any) -> None:
    value = _current.get()
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if obj.tenant_id is None:
            if value is None or value == _ALL:
                raise TenantContextMissing(f"new {type(obj).__name__} with no tenant in context")
            obj.tenant_id = value
        elif value not in (None, _ALL) and obj.tenant_id != value:
            raise TenantContextMissing(f"{type(obj).__name__} written into another tenant")


def install(session_factory: Any) -> None:
    """Attach the isolation hooks to a sessionmaker (idempotent)."""
    if not event.contains(session_factory, "do_orm_execute", _scope_queries):
        event.listen(session_factory, "do_orm_execute", _scope_queries)
        event.listen(session_factory, "before_flush", _stamp_new_rows)
