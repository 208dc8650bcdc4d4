"""The principal of a hub request: an account with one hub role (and a region, for a region
viewer), from a browser session or a bearer token.

Administrators may change things; auditors read everything; region viewers read only
aggregates under their code prefix. "May read code X" is one test (`covers`).
"""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar

from hub.accounts.models import HubRole
from shared.errors import Forbidden, Unauthorized


@dataclasses.dataclass(frozen=True)
class HubPrincipal:
    account_id: int
    username: str
    role: HubRole
    #: A region viewer's code prefix; None for administrators and auditors.
    region_prefix: str | None = None
    scopes: frozenset[str] = frozenset({"read", "write"})

    @property
    def is_admin(self) -> bool:
        return self.role == HubRole.administrator

    @property
    def reads_everything(self) -> bool:
        return self.role.at_least(HubRole.auditor)

    def has(self, role: HubRole) -> bool:
        return self.role.at_least(role)

    def covers(self, code: str) -> bool:
        """Whether aggregates under `code` are within this principal's reach."""
        if self.reads_everything:
            return True
        return self.region_prefix is not None and code.startswith(self.region_prefix)

    def require(self, role: HubRole) -> None:
        if not self.has(role):
            raise Forbidden(f"This needs the hub role {role.value} or a stronger one.")


_current: ContextVar[HubPrincipal | None] = ContextVar("partynet_hub_principal", default=None)


def current_hub_principal() -> HubPrincipal:
    principal = _current.get()
    if principal is None:
        raise Unauthorized("Sign in or send a bearer token.")
    return principal


def maybe_hub_principal() -> HubPrincipal | None:
    return _current.get()


def set_hub_principal(principal: HubPrincipal | None) -> None:
    _current.set(principal)
