"""Helpers shared by the hub tests (fixtures are in conftest.py)."""

from __future__ import annotations

import itertools
import re
from typing import Any

from federation.keys import SigningKey, encode_base64
from hub.accounts import services as accounts
from hub.accounts.models import HubAccount, HubRole
from hub.auth.services import create_client
from hub.db import db
from shared.db.session import transaction


def enrollment_body(token: str, node_id: str, key: SigningKey,
                    tenants: list[tuple[str, str]]) -> dict[str, Any]:
    return {"token": token, "node_id": node_id, "key_id": key.key_id,
            "public_key": encode_base64(key.public_bytes),
            "tenants": [{"slug": slug, "name": f"中共{slug}委员会", "code_prefix": prefix}
                        for slug, prefix in tenants]}


# --- hub accounts, sign-in and bearer tokens (for any hub test) ---------------------------------

PASSWORD = "hub-password-0123"
CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
_counter = itertools.count(1)


def hub_account(app: Any, role: str | HubRole = HubRole.administrator, *,
                username: str | None = None, password: str = PASSWORD,
                region_prefix: str | None = None) -> HubAccount:
    """A hub account made through the service (in the test's transaction). A region viewer
    gets the region 5001 unless another is given."""
    role = HubRole(role)
    if role == HubRole.region_viewer and region_prefix is None:
        region_prefix = "5001"
    with transaction(db):
        return accounts.create_account(
            username=username or f"{role.value.replace('_', '-')}-{next(_counter)}",
            display_name=f"测试{role.value}", role=role, password=password,
            region_prefix=region_prefix, created_by="test")


def csrf_of(client: Any, path: str = "/login") -> str:
    """The session's CSRF token, read from a page's form."""
    found = CSRF.search(client.get(path).get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Sign in through the sign-in page; returns the POST's response (303 on success)."""
    token = csrf_of(client, "/login")
    return client.post("/login", data={"csrf_token": token, "username": username,
                                       "password": password})


def bearer_token(app: Any, role: str | HubRole = HubRole.administrator, *,
                 region_prefix: str | None = None, scope: str = "read write") -> str:
    """An access token of a client-credentials client acting with `role`."""
    role = HubRole(role)
    if role == HubRole.region_viewer and region_prefix is None:
        region_prefix = "5001"
    with transaction(db):
        issued = create_client(name=f"test {role.value}", grant_types=["client_credentials"],
                               scope=scope, role=role, region_prefix=region_prefix,
                               created_by="test")
    response = app.test_client().post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": issued.client.client_id,
        "client_secret": issued.secret})
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
