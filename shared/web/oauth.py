"""The OAuth 2 authorization server glue (authlib) node and hub share; each app runs its own
server for its own accounts (`node.auth.oauth`, `hub.auth.oauth` say whose).

Grants: authorization code with mandatory S256 PKCE for every client, client credentials (the
client acts as its service account) and refresh with rotation; RFC 7009 revocation. Client
secrets are argon2 hashes and tokens and codes SHA-256 digests, so the database never holds a
usable credential. An app subclasses `AppAuthorizationServer`, names its three tables and says
how an account is loaded and which columns (a node's tenant) bind rows to their client.

authlib calls back into this module inside the caller's transaction; nothing here commits,
except `client_endpoint`, which is the token and revocation endpoints' one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
from flask import Flask, Response, current_app, g, json, request

from shared.db import Database, transaction, utcnow
from shared.errors import TooManyAttempts
from shared.web.passwords import verify_password
from shared.web.throttle import Throttle

log = logging.getLogger("partynet.oauth")

CODE_TTL = dt.timedelta(minutes=5)
REFRESH_TTL = dt.timedelta(days=30)
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
#: Longer client ids and secrets are refused unread: an argon2 check of a megabyte is a DoS.
MAX_CLIENT_ID = 64
MAX_SECRET = 256
_EXTENSION = "partynet_oauth"
_FAILED_FLAG = "partynet_client_auth_failed"


#: What a token may do: `read` for GET/HEAD/OPTIONS, `write` for the rest (each app's bearer.py).
SCOPES = ("read", "write")
GRANT_TYPES = ("authorization_code", "client_credentials")


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a redirect URI (https, or http on a loopback address), or None."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return "not a URL"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if not host or not uri.isprintable() or " " in uri:
        return "must be an absolute URL"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http":
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return None
    return "use https (http only on a loopback address)"


def client_problems(*, name: str, kinds: Sequence[str], scopes: Sequence[str],
                    redirect_uris: Sequence[str], public: bool) -> dict[str, list[str]]:
    """What is wrong with a client registration, by field (both apps register clients alike)."""
    errors: dict[str, list[str]] = {}
    if not name.strip() or len(name) > 120:
        errors["name"] = ["Give a name of 1–120 characters."]
    if unknown := [k for k in kinds if k not in GRANT_TYPES]:
        errors["grant_type"] = [f"Unknown grant type {k!r}." for k in unknown]
    if not scopes or any(s not in SCOPES for s in scopes):
        errors["scope"] = [f"Use one or more of: {' '.join(SCOPES)}."]
    uri_errors = [f"{uri}: {problem}" for uri in redirect_uris
                  if (problem := redirect_uri_problem(uri))]
    if uri_errors:
        errors["redirect_uri"] = uri_errors
    if "authorization_code" in kinds and not redirect_uris:
        errors.setdefault("redirect_uri", []).append(
            "The authorization code grant needs at least one redirect URI.")
    if redirect_uris and "authorization_code" not in kinds:
        errors.setdefault("redirect_uri", []).append(
            "Redirect URIs are only used by the authorization code grant.")
    if public and "client_credentials" in kinds:
        errors["public"] = ["A public client has no secret, so it cannot use client credentials."]
    return errors


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _printable(value: str, limit: int) -> bool:
    return 0 < len(value) <= limit and value.isprintable() and value.isascii()


class Client(ClientMixin):  # type: ignore[misc]
    """authlib's view of an OAuth client row (`client_id`, `client_secret_hash`,
    `redirect_uris`, `grant_types`, `scope`)."""

    def __init__(self, row: Any) -> None:
        self.row = row
        self.client_id: str = row.client_id
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
    """authlib's view of an authorization code row."""

    def __init__(self, row: Any) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return str(self.row.redirect_uri)

    def get_scope(self) -> str:
        return str(self.row.scope)


class IssuedToken:
    """authlib's view of a token row."""

    def __init__(self, row: Any) -> None:
        self.row = row

    def check_client(self, client: Client) -> bool:
        return bool(self.row.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return str(self.row.scope)


class AppAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """One app's authorization server: its tables and how its accounts are loaded."""

    client_model: ClassVar[Any]
    code_model: ClassVar[Any]
    token_model: ClassVar[Any]

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    # --- what the app says ---------------------------------------------------------------

    def owner_fields(self, client: Client) -> dict[str, Any]:
        """Columns that bind a code or token row to its client's owner (a node's tenant)."""
        return {}

    def grant_user(self, row: Any) -> Any | None:
        """The active account a code or token row (`account_id`) acts for, or None."""
        raise NotImplementedError

    def service_user(self, client: Client) -> Any | None:
        """The active service account a client-credentials client acts as, or None."""
        raise NotImplementedError

    def check_user(self, client: Client, user: Any | None) -> Any:
        """The user a grant is for, if this client may act for it (InvalidGrantError)."""
        if user is None:
            raise InvalidGrantError("No active account.")
        return user

    # --- authlib's hooks -----------------------------------------------------------------

    def query_client(self, client_id: str | None) -> Client | None:
        if not client_id or not _printable(client_id, MAX_CLIENT_ID):
            return None
        model = self.client_model
        row = self.db.session.scalar(sa.select(model).where(
            model.client_id == client_id, model.is_active.is_(True)))
        return Client(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        client: Client = request.client
        user = self.check_user(client, request.user)
        now = utcnow()
        refresh = token.get("refresh_token")
        self.db.session.add(self.token_model(
            access_token_hash=token_digest(token["access_token"]),
            refresh_token_hash=token_digest(refresh) if refresh else None,
            client_id=client.client_id, account_id=user.id,
            scope=token.get("scope") or "", issued_at=now,
            expires_at=now + dt.timedelta(seconds=int(token["expires_in"])),
            refresh_expires_at=now + REFRESH_TTL if refresh else None,
            **self.owner_fields(client)))
        self.db.session.flush()

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

    def respond(self, run: Callable[[AppAuthorizationServer], Response]) -> Response:
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


def _server_of(grant: Any) -> AppAuthorizationServer:
    server: AppAuthorizationServer = grant.server
    return server


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
        server = _server_of(self)
        client: Client = request.client
        user = server.check_user(client, request.user)
        data = request.payload.data
        now = utcnow()
        model = server.code_model
        # Codes are deleted when used; this sweeps the ones that never were.
        server.db.session.execute(sa.delete(model).where(model.expires_at < now))
        server.db.session.add(model(
            code_hash=token_digest(code), client_id=client.client_id, account_id=user.id,
            redirect_uri=request.payload.redirect_uri or "", scope=request.scope or "",
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=now + CODE_TTL, **server.owner_fields(client)))
        server.db.session.flush()

    def query_authorization_code(self, code: str, client: Client) -> IssuedCode | None:
        server = _server_of(self)
        model = server.code_model
        row = server.db.session.scalar(sa.select(model).where(
            model.code_hash == token_digest(code), model.client_id == client.client_id))
        if row is None or row.expires_at <= utcnow() or any(
                getattr(row, name) != value for name, value in server.owner_fields(client).items()):
            return None
        return IssuedCode(row)

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        # The delete is the claim: of two concurrent redemptions only one deletes the row.
        server = _server_of(self)
        model = server.code_model
        result = server.db.session.execute(sa.delete(model).where(
            model.id == authorization_code.row.id))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidGrantError("The code was already used.")

    def authenticate_user(self, authorization_code: IssuedCode) -> Any | None:
        return _server_of(self).grant_user(authorization_code.row)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_AUTH_METHODS, "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh token works once

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        server = _server_of(self)
        model = server.token_model
        row = server.db.session.scalar(sa.select(model).where(
            model.refresh_token_hash == token_digest(refresh_token)))
        if (row is None or row.revoked_at is not None or row.refresh_expires_at is None
                or row.refresh_expires_at <= utcnow()):
            return None
        return IssuedToken(row)

    def authenticate_user(self, refresh_token: IssuedToken) -> Any | None:
        return _server_of(self).grant_user(refresh_token.row)

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        # Revoking the whole row also ends the old access token; the conditional update is the
        # claim that makes a concurrent second use of the same refresh token fail.
        server = _server_of(self)
        model = server.token_model
        result = server.db.session.execute(
            sa.update(model).where(model.id == refresh_token.row.id, model.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidGrantError("The refresh token was already used.")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(SECRET_AUTH_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        account = _server_of(self).service_user(self.request.client)
        if account is None:
            raise UnauthorizedClientError("The client has no active service account.")
        self.request.user = account


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [*SECRET_AUTH_METHODS, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        server = _server_of(self)
        model = server.token_model
        digest = token_digest(token_string)
        row = server.db.session.scalar(sa.select(model).where(
            sa.or_(model.access_token_hash == digest, model.refresh_token_hash == digest)))
        return IssuedToken(row) if row is not None else None

    def revoke_token(self, token: IssuedToken, request: OAuth2Request) -> None:
        # One row is one grant: its access and refresh tokens end together (RFC 7009 §2.1).
        if token.row.revoked_at is None:
            token.row.revoked_at = utcnow()
            _server_of(self).db.session.flush()


def _random_token(**_kwargs: Any) -> str:
    return secrets.token_urlsafe(32)


def install(app: Flask, server: AppAuthorizationServer, *, access_token_ttl: int,
            scopes: Sequence[str]) -> AppAuthorizationServer:
    """Bind `server` to `app` with the grants and the revocation endpoint above."""
    server.init_app(app)
    server.scopes_supported = list(scopes)
    server.register_token_generator("default", BearerTokenGenerator(
        _random_token, _random_token, lambda _client, _grant: access_token_ttl))
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    app.extensions[_EXTENSION] = server
    return server


def current_server() -> AppAuthorizationServer:
    server: AppAuthorizationServer = current_app.extensions[_EXTENSION]
    return server


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


def client_throttle_keys(client_id: str | None, remote_addr: str | None) -> list[str]:
    """Failed client authentication counts per claimed client id and per address.

    The address key is separate from the sign-in one, so people mistyping passwords behind a
    shared address do not lock out that address's API clients (and vice versa).
    """
    keys = []
    if client_id:
        keys.append(f"client:{client_id}")
    if remote_addr:
        keys.append(f"client-addr:{remote_addr}")
    return keys


class _Discard(Exception):
    """Roll back the endpoint's transaction but still send its (error) response."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def client_endpoint(run: Callable[[AppAuthorizationServer], Response], *, throttle: Throttle,
                    max_failures: int, window: int) -> Response:
    """Token and revocation: throttled per client and address, one transaction.

    Failed client authentication is counted in its own transaction after the endpoint's work
    is rolled back; over the limit the request is refused before any secret is checked.
    """
    server = current_server()
    client_id = requesting_client_id(request.headers.get("Authorization"),
                                     request.form.get("client_id"))
    keys = client_throttle_keys(client_id, request.remote_addr)
    try:
        with transaction(server.db):
            throttle.check(keys, max_failures=max_failures, window=window)
            response = server.respond(run)
            if response.status_code >= 400:
                raise _Discard(response)
    except TooManyAttempts as exc:
        return server.error_response(429, "temporarily_unavailable",
                                     "Too many failed client authentications; try later.",
                                     exc.headers)
    except _Discard as discard:
        response = discard.response
        if client_auth_failed():
            with transaction(server.db):
                throttle.note(keys, window=window)
    return response


def token_response() -> Callable[[AppAuthorizationServer], Response]:
    return lambda server: server.create_token_response()


def revocation_response() -> Callable[[AppAuthorizationServer], Response]:
    return lambda server: server.create_endpoint_response(Revocation.ENDPOINT_NAME)
