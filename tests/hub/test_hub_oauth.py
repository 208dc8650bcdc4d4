"""The hub's OAuth 2 server: client credentials, authorization code with PKCE, refresh,
revocation; tokens carry the account's hub role."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from hub.accounts import services as accounts
from hub.accounts.models import HubRole
from hub.auth.models import HubToken
from hub.auth.services import create_client
from hub.db import db
from shared.db.session import transaction
from shared.web.oauth import token_digest
from tests.hub.helpers import auth, bearer_token, csrf_of, hub_account, sign_in

REDIRECT = "https://tools.example.org/callback"


def _client(**kwargs):  # type: ignore[no-untyped-def]
    with transaction(db):
        return create_client(created_by="test", **kwargs)


def test_client_credentials_give_a_token_acting_with_the_clients_role(app, client, session):
    issued = _client(name="统计导出", grant_types=["client_credentials"], role=HubRole.auditor)
    assert issued.client.client_secret_hash.startswith("$argon2")
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": "Basic " + base64.b64encode(
                               f"{issued.client.client_id}:{issued.secret}".encode()).decode()})
    assert response.status_code == 200, response.get_json()
    token = response.get_json()["access_token"]
    row = session.scalar(sa.select(HubToken))
    assert row.access_token_hash == token_digest(token) and token not in row.access_token_hash
    me = client.get("/api/me", headers=auth(token))
    assert me.status_code == 200
    assert me.get_json()["account"]["role"] == "auditor"
    assert client.get("/api/accounts", headers=auth(token)).status_code == 403


def test_a_wrong_secret_is_refused_and_throttled(app, client, settings):
    issued = _client(name="脚本", grant_types=["client_credentials"])
    client_id = issued.client.client_id
    for _ in range(settings.login_max_failures):
        wrong = client.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": "wrong"})
        assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"
    right = client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": issued.secret})
    assert right.status_code == 429 and right.get_json()["error"] == "temporarily_unavailable"


def test_a_deactivated_service_account_gets_no_token_and_its_tokens_stop(app, client, session):
    admin = hub_account(app)
    token = bearer_token(app, HubRole.auditor)
    assert client.get("/api/me", headers=auth(token)).status_code == 200
    service = accounts.get_account(client.get("/api/me", headers=auth(token))
                                   .get_json()["account"]["id"])
    with transaction(db):
        accounts.deactivate_account(service, by=accounts.principal_for(admin))
    stopped = client.get("/api/me", headers=auth(token))
    assert stopped.status_code == 401
    assert stopped.headers["Content-Type"] == "application/problem+json"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                         ).decode().rstrip("=")
    return verifier, challenge


def test_authorization_code_with_pkce_refresh_and_revocation(app, client, session):
    account = hub_account(app, HubRole.administrator)
    issued = _client(name="运维工具", redirect_uris=[REDIRECT], public=True)
    verifier, challenge = _pkce()
    query = {"response_type": "code", "client_id": issued.client.client_id,
             "redirect_uri": REDIRECT, "scope": "read", "state": "xyz",
             "code_challenge": challenge, "code_challenge_method": "S256"}
    path = "/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in query.items())
    anonymous = client.get(path)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    sign_in(client, account.username)
    consent = client.get(path)
    assert consent.status_code == 200 and "运维工具" in consent.get_data(as_text=True)
    approved = client.post(path, data={"csrf_token": csrf_of(client, path),
                                       "decision": "approve"})
    assert approved.status_code == 302
    answer = parse_qs(urlsplit(approved.headers["Location"]).query)
    assert answer["state"] == ["xyz"]
    code = answer["code"][0]
    without_verifier = client.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": issued.client.client_id})
    assert without_verifier.status_code == 400
    tokens = client.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": issued.client.client_id, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.get_json()
    body = tokens.get_json()
    assert body["scope"] == "read"
    me = client.get("/api/me", headers=auth(body["access_token"]))
    assert me.status_code == 200 and me.get_json()["account"]["username"] == account.username
    # a read-only token of an administrator still may not write
    refused = client.post(f"/api/accounts/{account.id}/deactivate", json={},
                          headers=auth(body["access_token"]))
    assert refused.status_code == 403
    again = client.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": issued.client.client_id, "code_verifier": verifier})
    assert again.status_code == 400  # a code works once
    refreshed = client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
        "client_id": issued.client.client_id})
    assert refreshed.status_code == 200, refreshed.get_json()
    new = refreshed.get_json()
    assert client.get("/api/me", headers=auth(body["access_token"])).status_code == 401
    revoked = client.post("/oauth/revoke", data={"token": new["access_token"],
                                                  "client_id": issued.client.client_id})
    assert revoked.status_code == 200
    assert client.get("/api/me", headers=auth(new["access_token"])).status_code == 401


def test_denying_the_consent_sends_the_error_to_the_client(app, client):
    account = hub_account(app, HubRole.auditor)
    issued = _client(name="工具", redirect_uris=[REDIRECT], public=True)
    _verifier, challenge = _pkce()
    path = (f"/oauth/authorize?response_type=code&client_id={issued.client.client_id}"
            f"&redirect_uri={REDIRECT}&code_challenge={challenge}&code_challenge_method=S256")
    sign_in(client, account.username)
    denied = client.post(path, data={"csrf_token": csrf_of(client, path), "decision": "deny"})
    assert denied.status_code == 302 and "error=access_denied" in denied.headers["Location"]
    forged = client.post(path, data={"csrf_token": "forged", "decision": "approve"})
    assert forged.status_code == 400
    unknown = client.get("/oauth/authorize?response_type=code&client_id=nope")
    assert unknown.status_code == 400 and "<html" in unknown.get_data(as_text=True)
