"""The principal of a request and the one place where grants become reach.

A principal holds the account's grants as (role, org code) pairs. "May act with role R on org
X" is: some grant with a role at least R whose code is a prefix of X's code. Queries filter by
the same prefixes (see `node.auth.reach`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextvars import ContextVar

from node.grants.models import DELEGATING_ROLES, Role
from shared.codes import in_subtree
from shared.errors import Unauthorized


@dataclasses.dataclass(frozen=True)
class Principal:
    account_id: int
    tenant_id: int
    username: str
    member_id: int | None = None
    grants: tuple[tuple[Role, str], ...] = ()
    scopes: frozenset[str] = frozenset({"read", "write"})
    #: Codes of the granted orgs by id: the commonest filters (one's own branch) need no lookup.
    granted_orgs: Mapping[int, str] = dataclasses.field(default_factory=dict)

    def prefixes(self, role: Role) -> list[str]:
        """Codes of the subtrees where this principal acts with at least `role`, minimal."""
        codes = sorted({code for r, code in self.grants if r.at_least(role)})
        minimal: list[str] = []
        for code in codes:  # sorted: an ancestor comes before its descendants
            if not any(code.startswith(kept) for kept in minimal):
                minimal.append(code)
        return minimal

    def can(self, role: Role, code: str) -> bool:
        return any(r.at_least(role) and in_subtree(code, c) for r, c in self.grants)

    def may_grant(self, role: Role, code: str) -> bool:
        """The delegation rule: only roles no stronger than one's own, inside one's scope."""
        return any(
            r in DELEGATING_ROLES and r.at_least(role) and in_subtree(code, c)
            for r, c in self.grants
        )

    @property
    def strongest(self) -> Role | None:
        return max((r for r, _ in self.grants), key=lambda r: r.strength, default=None)


_current: ContextVar[Principal | None] = ContextVar("partynet_principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthorized("Sign in or send a bearer token.")
    return principal


def maybe_principal() -> Principal | None:
    return _current.get()


def set_principal(principal: Principal | None) -> None:
    _current.set(principal)
