"""Reach: how a principal's grants filter queries and guard single records.

Out-of-reach records answer 404 (not 403), so a principal cannot even learn they exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from node.auth.principal import Principal
from node.grants.models import Role
from shared.codes import subtree_upper_bound
from shared.errors import Forbidden, NotFound


def within(column: sa.ColumnElement[str] | sa.orm.InstrumentedAttribute[str],
           prefixes: list[str]) -> ColumnElement[bool]:
    """SQL condition: `column` lies in one of the subtrees (an index range scan each)."""
    if not prefixes:
        return sa.false()
    return sa.or_(*(sa.and_(column >= p, column < subtree_upper_bound(p)) for p in prefixes))


def require_reach(principal: Principal, role: Role, code: str) -> None:
    """The record exists but may be outside reach: answer as if it did not exist."""
    if not principal.can(role, code):
        raise NotFound()


def require_role(principal: Principal, role: Role, code: str) -> None:
    """For records every principal of the tenant may see (the org tree): 403, not 404."""
    if not principal.can(role, code):
        raise Forbidden(f"This needs the {role.value} role here.")
