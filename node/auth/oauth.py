"""The node's OAuth 2 authorization server (authlib), one instance per app.

Grants: authorization code with mandatory S256 PKCE for every client, client credentials (the
client acts as its service account) and refresh with rotation; RFC 7009 revocation. Client
secrets are argon2 hashes and tokens and codes SHA-256 digests, so the database never holds a
usable credential. Every token is bound to its client's tenant.

authlib calls back into this module inside the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, current_app, g, json

from node.accounts.models import Account
from node.accounts.services import verify_password
from node.auth.models import AuthorizationCode, OAuthClient, Token, token_digest
from node.auth.services import SCOPES
from node.db import db
from node.settings import NodeSettings
from node.tenants.scoping import tenant_context
from shared.db import utcnow

log = logging.getLogger("partynet.oauth")

CODE_TTL = dt.timedelta(minutes=5)
REFRESH_TTL = dt.timedelta(days=30)
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
#: Longer client ids and secrets are refused unread: an argon2 check of a megabyte is a DoS.
MAX_CLIENT_ID = 64
MAX_SECRET = 256
_EXTENSION = "partynet_oauth"
_FAILED_FLAG = "partynet_client_auth_failed"


def _printable(value: str, limit: int) -> bool:
    return 0 < len(value) <= limit and value.isprintable() and value.isascii()


class Client(ClientMixin):  # type: ignore[misc]
    """authlib's view of an `OAuthClient` row."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row
        self.client_id = row.client_id
        self.tenant_id = row.tenant_id
        self.redirect_uris = [uri for uri in row.redirect_uris.splitlines() if uri]
        self.grant_types = frozenset(row.grant_types.split())
        self.scopes = row.scope.split()

    @property
    def is_public(self) -> bool:
        return self.row.client_secret_hash is None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous registration may be implied (OAuth 2.1).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes this client may have; all of them if none are asked for."""
        if not scope:
            return " ".join(self.scopes)
        allowed = [s for s in dict.fromkeys(scope.split()) if s in self.scopes]
        return " ".join(allowed) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact string match, no prefixes

    def check_client_secret(self, client_secret: str) -> bool:
        if self.is_public or len(client_secret) > MAX_SECRET:
            return False
        return verify_password(self.row.client_secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A confidential client must prove its secret; "none" would let anyone act as it.
        return method == "none" if self.is_public else method in SECRET_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class IssuedCode:
    """authlib's view of an `AuthorizationCode` row."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class IssuedToken:
    """authlib's view of a `Token` row."""

    def __init__(self, row: Token) -> None:
        self.row = row

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope


def load_user(tenant_id: int, account_id: int | None, *, service: bool = False) -> Account | None:
    """The active account a grant acts for, only if it belongs to the tenant."""
    if account_id is None:
        return None
    with tenant_context(tenant_id):
        account = db.session.get(Account, account_id)
    if (account is None or account.tenant_id != tenant_id or not account.is_active
            or account.is_service != service):
        return None
    return account


def _same_tenant(client: Client, user: Account | None) -> Account:
    if user is None or user.tenant_id != client.tenant_id:
        raise InvalidGrantError("The account does not belong to this client's tenant.")
    return user


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only: a code is useless without its verifier."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Send code_challenge_method=S256.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_AUTH_METHODS, "none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        client: Client = request.client
        user = _same_tenant(client, request.user)
        data = request.payload.data
        now = utcnow()
        # Codes are deleted when used; this sweeps the ones that never were.
        db.session.execute(sa.delete(AuthorizationCode).where(AuthorizationCode.expires_at < now))
        db.session.add(AuthorizationCode(
            code_hash=token_digest(code), client_id=client.client_id, tenant_id=client.tenant_id,
            account_id=user.id, redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope or "", code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=now + CODE_TTL))
        db.session.flush()

    def query_authorization_code(self, code: str, client: Client) -> IssuedCode | None:
        row = db.session.scalar(sa.select(AuthorizationCode).where(
            AuthorizationCode.code_hash == token_digest(code),
            AuthorizationCode.client_id == client.client_id))
        if row is None or row.expires_at <= utcnow() or row.tenant_id != client.tenant_id:
            return None
        return IssuedCode(row)

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        # The delete is the claim: of two concurrent redemptions only one deletes the row.
        result = db.session.execute(sa.delete(AuthorizationCode).where(
            AuthorizationCode.id == authorization_code.row.id))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidGrantError("The code was already used.")

    def authenticate_user(self, authorization_code: IssuedCode) -> Account | None:
        row = authorization_code.row
        return load_user(row.tenant_id, row.account_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_AUTH_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh token works once

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        row = db.session.scalar(sa.select(Token).where(
            Token.refresh_token_hash == token_digest(refresh_token)))
        if (row is None or row.revoked_at is not None or row.refresh_expires_at is None
                or row.refresh_expires_at <= utcnow()):
            return None
        return IssuedToken(row)

    def authenticate_user(self, refresh_token: IssuedToken) -> Account | None:
        row = refresh_token.row
        return load_user(row.tenant_id, row.account_id)

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        # Revoking the whole row also ends the old access token; the conditional update is the
        # claim that makes a concurrent second use of the same refresh token fail.
        result = db.session.execute(
            sa.update(Token).where(Token.id == refresh_token.row.id, Token.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidGrantError("The refresh token was already used.")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(SECRET_AUTH_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: Client = self.request.client
        account = load_user(client.tenant_id, client.row.service_account_id, service=True)
        if account is None:
            raise UnauthorizedClientError("The client has no active service account.")
        self.request.user = account


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [*SECRET_AUTH_METHODS, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        digest = token_digest(token_string)
        row = db.session.scalar(sa.select(Token).where(
            sa.or_(Token.access_token_hash == digest, Token.refresh_token_hash == digest)))
        return IssuedToken(row) if row is not None else None

    def revoke_token(self, token: IssuedToken, request: OAuth2Request) -> None:
        # One row is one grant: its access and refresh tokens end together (RFC 7009 §2.1).
        if token.row.revoked_at is None:
            token.row.revoked_at = utcnow()
            db.session.flush()


def _random_token(**_kwargs: Any) -> str:
    return secrets.token_urlsafe(32)


class NodeAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, settings: NodeSettings) -> None:
        super().__init__()
        self.settings = settings

    def query_client(self, client_id: str | None) -> Client | None:
        if not client_id or not _printable(client_id, MAX_CLIENT_ID):
            return None
        row = db.session.scalar(sa.select(OAuthClient).where(
            OAuthClient.client_id == client_id, OAuthClient.is_active.is_(True)))
        return Client(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        client: Client = request.client
        user = _same_tenant(client, request.user)
        now = utcnow()
        refresh = token.get("refresh_token")
        db.session.add(Token(
            access_token_hash=token_digest(token["access_token"]),
            refresh_token_hash=token_digest(refresh) if refresh else None,
            client_id=client.client_id, tenant_id=client.tenant_id, account_id=user.id,
            scope=token.get("scope") or "", issued_at=now,
            expires_at=now + dt.timedelta(seconds=int(token["expires_in"])),
            refresh_expires_at=now + REFRESH_TTL if refresh else None))
        db.session.flush()

    def authenticate_client(self, request: OAuth2Request, methods: list[str],
                            endpoint: str = "token") -> Client:
        """Mark failed client authentication, so the caller counts it for throttling."""
        try:
            return super().authenticate_client(request, methods, endpoint)
        except UnicodeDecodeError:  # undecodable HTTP Basic credentials
            g.setdefault(_FAILED_FLAG, True)
            raise InvalidClientError(status_code=401,
                                     description="Malformed client credentials.") from None
        except InvalidClientError:
            g.setdefault(_FAILED_FLAG, True)
            raise

    def respond(self, run: Callable[[NodeAuthorizationServer], Response]) -> Response:
        """Run an endpoint; errors authlib raises outside its own handling become 4xx too."""
        try:
            return run(self)
        except OAuth2Error as error:
            return self.handle_error_response(None, error)
        except ValueError:  # e.g. an error description built from unprintable client input
            log.warning("malformed OAuth request", exc_info=True)
            return self.error_response(400, "invalid_request", "The request is malformed.")

    def error_response(self, status: int, error: str, description: str,
                       headers: dict[str, str] | None = None) -> Response:
        """An RFC 6749 §5.2 error body for answers authlib has no error class for."""
        body = json.dumps({"error": error, "error_description": description})
        response = Response(body, status=status, mimetype="application/json")
        response.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache",
                                 **(headers or {})})
        return response


def client_auth_failed() -> bool:
    """Whether this request failed client authentication (see `authenticate_client`)."""
    return bool(g.get(_FAILED_FLAG, False))


def requesting_client_id(basic_header: str | None, form_client_id: str | None) -> str | None:
    """The client id a token request claims, for throttling before anything is verified."""
    try:
        client_id, _ = extract_basic_authorization({"Authorization": basic_header or ""})
    except ValueError:
        client_id = None
    client_id = client_id or form_client_id
    if not client_id:
        return None
    # Keys are stored: an unprintable or oversized claim is kept only as a digest.
    return client_id if _printable(client_id, MAX_CLIENT_ID) else token_digest(client_id)


def init_app(app: Flask, settings: NodeSettings) -> NodeAuthorizationServer:
    server = NodeAuthorizationServer(settings)
    server.init_app(app)
    server.scopes_supported = list(SCOPES)
    server.register_token_generator("default", BearerTokenGenerator(
        _random_token, _random_token, lambda _client, _grant: settings.access_token_ttl))
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    app.extensions[_EXTENSION] = server
    return server


def authorization_server() -> NodeAuthorizationServer:
    server: NodeAuthorizationServer = current_app.extensions[_EXTENSION]
    return server
