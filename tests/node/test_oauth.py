"""The OAuth 2 authorization server, over real HTTP, driven by a real OAuth client.

The node runs as its own process (`partynet node serve`, gunicorn with two workers) on a
database prepared with the operator CLI, started once per module on SQLite and, for the tests
marked `also_on_postgresql`, once more on PostgreSQL. A person's part (sign-in, consent) is
played by a `requests.Session`; the redirect target is never served, the code is read from the
Location header.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import html
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from node.tenants.scoping import tenant_context
from shared.testing.backends import backends, fresh_pg_database

pytestmark = pytest.mark.xdist_group("oauth-http")

PARTYNET = str(Path(sys.executable).with_name("partynet"))
REDIRECT = "http://127.0.0.1:9/callback"
MAX_FAILURES = 3
ALICE_PASSWORD = "alice-password-1"
BETA_ALICE_PASSWORD = "beta-alice-password-2"
TEST_PII_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


@dataclasses.dataclass
class Node:
    base: str
    database_url: str
    clients: dict[str, dict[str, str]]

    def url(self, path: str) -> str:
        return self.base + path

    def oauth(self, name: str, **kwargs: Any) -> OAuth2Session:
        """A real OAuth client registered as `name`."""
        creds = self.clients[name]
        kwargs.setdefault("redirect_uri", REDIRECT)
        kwargs.setdefault("scope", "read write")
        if "client_secret" not in creds:
            kwargs.setdefault("token_endpoint_auth_method", "none")
            kwargs.setdefault("revocation_endpoint_auth_method", "none")
        return OAuth2Session(creds["client_id"], creds.get("client_secret"),
                             code_challenge_method="S256", **kwargs)


def _env(database_url: str, base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    env.update(NODE_DATABASE_URL=database_url, NODE_SECRET_KEY=secrets.token_urlsafe(24),
               NODE_PII_KEY=TEST_PII_KEY, NODE_IDENTITY_HASH_KEY="oauth-test-identity-key",
               NODE_DEBUG="true", NODE_BASE_URL=base,
               NODE_LOGIN_MAX_FAILURES=str(MAX_FAILURES))
    return env


# One process runs every setup command (through the real `partynet` entry point): each
# command's work is what the operator's would be, without paying the start-up once per command.
_RUN_COMMANDS = """
import json, sys
from click.testing import CliRunner
from shared.cli import main
results = []
for argv in json.load(sys.stdin):
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    results.append({"code": result.exit_code, "output": result.output})
    if result.exit_code:
        break
json.dump(results, sys.stdout)
"""


def _cli(env: dict[str, str], *commands: list[str]) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", _RUN_COMMANDS], env=env, text=True,
                          input=json.dumps([["node", *argv] for argv in commands]),
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for argv, result in zip(commands, results, strict=False):
        assert result["code"] == 0, f"{argv}: {result['output']}"
    assert len(results) == len(commands)
    return [result["output"] for result in results]


def _parse_client(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Schema, two tenants and their clients, through the operator CLI."""
    clients = {
        "web": ["--tenant", "alpha", "--name", "Web app", "--redirect-uri", REDIRECT],
        "spa": ["--tenant", "alpha", "--name", "Browser app", "--public",
                "--redirect-uri", REDIRECT],
        "robot": ["--tenant", "alpha", "--name", "Robot", "--grant-type", "client_credentials"],
        "vault": ["--tenant", "alpha", "--name", "Vault", "--grant-type", "client_credentials"],
        "beta-web": ["--tenant", "beta", "--name", "Beta app", "--redirect-uri", REDIRECT],
    }
    outputs = _cli(
        env,
        ["db", "upgrade"],
        ["tenant", "create", "--slug", "alpha", "--name", "Alpha committee",
         "--code-prefix", "500103001", "--admin-username", "alice",
         "--admin-password", ALICE_PASSWORD],
        # Beta has an "alice" too, with another password: names alone prove nothing.
        ["tenant", "create", "--slug", "beta", "--name", "Beta committee",
         "--code-prefix", "500104001", "--admin-username", "alice",
         "--admin-password", BETA_ALICE_PASSWORD],
        *(["client", "create", *argv] for argv in clients.values()),
        ["client", "list", "--tenant", "alpha"],
    )
    listing = outputs[-1]
    created = {name: _parse_client(out) for name, out in zip(clients, outputs[3:], strict=False)}
    assert all(created[name]["client_id"] in listing for name in ("web", "spa", "robot"))
    return created


def _launch(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen([PARTYNET, "node", "serve", "--host", "127.0.0.1", "--port",
                                 str(port), "--workers", "2"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def _wait_until_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the node exited: {log_path.read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the node did not become ready: {log_path.read_text()}")


def also_on_postgresql(test: Any) -> Any:
    """Run this test against a node on PostgreSQL too (when reachable), not only SQLite.

    The whole module on both would double its time; these cover what differs by database:
    the atomic claims of codes and refresh tokens, throttling rows, odd bytes in input.
    """
    test.also_on_postgresql = True
    return test


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "node" in metafunc.fixturenames:
        wanted = backends() if getattr(metafunc.function, "also_on_postgresql", False) else [
            "sqlite"]
        metafunc.parametrize("node", wanted, indirect=True, scope="module")


@pytest.fixture(scope="module")
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Node]:
    folder = tmp_path_factory.mktemp("oauth-node")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            database_url = f"sqlite:///{folder / 'node.db'}"
        else:
            database_url = stack.enter_context(fresh_pg_database("partynet_oauth"))
        yield from _serve(folder, database_url)


def _serve(folder: Path, database_url: str) -> Iterator[Node]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(database_url, base)
    log_path = folder / "server.log"
    # The server boots while the CLI prepares its database; it is ready once both are done.
    proc = _launch(env, port, log_path)
    try:
        clients = _prepare(env)
        _wait_until_ready(proc, port, log_path)
        yield Node(base=base, database_url=database_url, clients=clients)
    finally:
        proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(node: Node) -> Iterator[requests.Session]:
    """Alice of alpha, signed in once for the module (argon2 is slow on purpose)."""
    with _signed_in_browser(node) as session:
        yield session


@pytest.fixture(scope="module")
def node_db(node: Node) -> Iterator[sa.Engine]:
    engine = sa.create_engine(node.database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def forget_failures(request: pytest.FixtureRequest) -> Iterator[None]:
    """Failed attempts are counted per address (all tests share 127.0.0.1): start clean."""
    if "node" not in request.fixturenames:  # an in-process test: its transaction rolls back
        yield
        return
    node_db: sa.Engine = request.getfixturevalue("node_db")

    def forget() -> None:
        with node_db.begin() as connection:
            connection.execute(sa.text("DELETE FROM login_failures"))

    forget()
    yield
    forget()


# --- a person in a browser ------------------------------------------------------------------

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_ACTION = re.compile(r'<form method="post" action="([^"]*)">')


def _form(page: requests.Response) -> tuple[str, dict[str, str]]:
    """The first form's action (absolute) and hidden fields, as a browser would submit them."""
    action = _ACTION.search(page.text)
    assert action is not None, page.text
    fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    return urljoin(page.url, html.unescape(action.group(1))), fields


def _sign_in(node: Node, browser: requests.Session, login_url: str, username: str = "alice",
             password: str = ALICE_PASSWORD) -> requests.Response:
    page = browser.get(login_url)
    assert page.status_code == 200
    action, fields = _form(page)
    return browser.post(action, data={**fields, "username": username, "password": password},
                        allow_redirects=False)


def _consent(node: Node, browser: requests.Session, authorize_url: str,
             decision: str = "approve") -> str:
    """Sign in if asked, approve (or deny); return the Location sent back to the client."""
    response = browser.get(authorize_url, allow_redirects=False)
    if response.status_code in (302, 303) and "/login" in response.headers["Location"]:
        login_url = urljoin(node.base, response.headers["Location"])
        assert urlsplit(login_url).path == "/t/alpha/login"
        signed_in = _sign_in(node, browser, login_url)
        assert signed_in.status_code == 303
        response = browser.get(urljoin(node.base, signed_in.headers["Location"]),
                               allow_redirects=False)
    assert response.status_code == 200, response.text
    assert "Web app" in response.text or "Browser app" in response.text
    action, fields = _form(response)
    answer = browser.post(action, data={**fields, "decision": decision}, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def _authorize(node: Node, client: OAuth2Session, **params: Any) -> tuple[str, str, str]:
    verifier = generate_token(48)
    url, state = client.create_authorization_url(node.url("/oauth/authorize"),
                                                 code_verifier=verifier, **params)
    return url, state, verifier


def _code(location: str) -> str:
    assert location.startswith(REDIRECT + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert "error" not in query, query
    return query["code"][0]


def _signed_in_browser(node: Node) -> requests.Session:
    browser = requests.Session()
    response = _sign_in(node, browser, node.url("/t/alpha/login"))
    assert response.status_code == 303
    return browser


def _me(node: Node, access_token: str) -> requests.Response:
    return requests.get(node.url("/api/me"), headers={"Authorization": f"Bearer {access_token}"},
                        timeout=10)


def _token_flow(node: Node, browser: requests.Session, name: str = "web"
                ) -> tuple[OAuth2Session, dict[str, Any]]:
    client = node.oauth(name)
    url, _state, verifier = _authorize(node, client)
    location = _consent(node, browser, url)
    token = client.fetch_token(node.url("/oauth/token"), authorization_response=location,
                               code_verifier=verifier)
    return client, dict(token)


def _raw_token_request(node: Node, data: dict[str, str], auth: Any = None,
                       headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(node.url("/oauth/token"), data=data, auth=auth, headers=headers,
                         timeout=10)


# --- authorization code + PKCE --------------------------------------------------------------

@also_on_postgresql
def test_authorization_code_with_pkce_gives_a_working_token(node):
    client, token = _token_flow(node, requests.Session())  # signs in on the way

    assert token["token_type"] == "Bearer"
    assert token["scope"] == "read write"
    assert token["expires_in"] == 3600
    assert token["refresh_token"]
    me = _me(node, token["access_token"])
    assert me.status_code == 200
    assert me.json()["account"]["username"] == "alice"
    assert me.json()["tenant"] == "alpha"
    assert me.json()["grants"][0]["role"] == "tenant_admin"


def test_authorize_sends_an_anonymous_browser_to_the_tenant_sign_in(node):
    client = node.oauth("web")
    url, _state, _verifier = _authorize(node, client)
    response = requests.get(url, allow_redirects=False, timeout=10)

    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/t/alpha/login"
    assert parse_qs(target.query)["next"][0] == url.removeprefix(node.base)


def test_public_client_needs_no_secret_but_pkce(node, browser):
    client, token = _token_flow(node, browser, "spa")

    assert _me(node, token["access_token"]).status_code == 200
    refreshed = client.refresh_token(node.url("/oauth/token"),
                                     refresh_token=token["refresh_token"])
    assert _me(node, refreshed["access_token"]).status_code == 200


def test_a_denied_request_returns_access_denied_to_the_client(node, browser):
    client = node.oauth("web")
    url, state, _verifier = _authorize(node, client)
    location = _consent(node, browser, url, decision="deny")

    query = parse_qs(urlsplit(location).query)
    assert location.startswith(REDIRECT)
    assert query["error"] == ["access_denied"] and query["state"] == [state]
    assert "code" not in query


def test_wrong_code_verifier_is_invalid_grant(node, browser):
    client = node.oauth("web")
    url, _state, _verifier = _authorize(node, client)
    location = _consent(node, browser, url)

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(node.url("/oauth/token"), authorization_response=location,
                           code_verifier=generate_token(48))
    assert caught.value.error == "invalid_grant"


def test_missing_code_verifier_is_refused(node, browser):
    client = node.oauth("web")
    url, _state, _verifier = _authorize(node, client)
    code = _code(_consent(node, browser, url))

    response = _raw_token_request(
        node, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(node.clients["web"]["client_id"], node.clients["web"]["client_secret"]))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("params", [
    {},  # no code_challenge at all
    {"code_challenge": create_s256_code_challenge(generate_token(48)),
     "code_challenge_method": "plain"},
    {"code_challenge": create_s256_code_challenge(generate_token(48))},  # method defaults plain
], ids=["no-challenge", "plain", "no-method"])
def test_authorize_refuses_requests_without_s256_pkce(node, browser, params):
    creds = node.clients["web"]
    query = {"response_type": "code", "client_id": creds["client_id"],
             "redirect_uri": REDIRECT, "scope": "read", "state": "s1", **params}
    response = browser.get(node.url("/oauth/authorize?" + urlencode(query)),
                                            allow_redirects=False)

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    answer = parse_qs(urlsplit(location).query)
    assert answer["error"] == ["invalid_request"] and "code" not in answer


@also_on_postgresql
def test_a_code_works_only_once(node, browser):
    client = node.oauth("web")
    url, _state, verifier = _authorize(node, client)
    location = _consent(node, browser, url)
    client.fetch_token(node.url("/oauth/token"), authorization_response=location,
                       code_verifier=verifier)

    again = node.oauth("web")
    with pytest.raises(OAuthError) as caught:
        again.fetch_token(node.url("/oauth/token"), code=_code(location), code_verifier=verifier)
    assert caught.value.error == "invalid_grant"


def test_unregistered_redirect_uri_is_never_redirected_to(node, browser):
    client = node.oauth("web", redirect_uri="http://127.0.0.1:9/callback/../evil")
    url, _state, _verifier = _authorize(node, client)
    response = browser.get(url, allow_redirects=False)

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]


def test_token_request_must_repeat_the_exact_redirect_uri(node, browser):
    client = node.oauth("web")
    url, _state, verifier = _authorize(node, client)
    location = _consent(node, browser, url)

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(node.url("/oauth/token"), authorization_response=location,
                           code_verifier=verifier, redirect_uri=REDIRECT + "/")
    assert caught.value.error == "invalid_grant"


def test_asking_for_an_unknown_scope_is_refused(node, browser):
    client = node.oauth("web", scope="read admin")
    url, _state, _verifier = _authorize(node, client)
    response = browser.get(url, allow_redirects=False)

    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["invalid_scope"]


def test_read_scope_only_allows_reading(node, browser):
    client = node.oauth("web", scope="read")
    url, _state, verifier = _authorize(node, client)
    location = _consent(node, browser, url)
    token = client.fetch_token(node.url("/oauth/token"), authorization_response=location,
                               code_verifier=verifier)

    assert token["scope"] == "read"
    assert _me(node, token["access_token"]).status_code == 200
    change = requests.post(node.url("/api/me/password"),
                           headers={"Authorization": f"Bearer {token['access_token']}"},
                           json={"current_password": "not-the-password",
                                 "new_password": "another-password-9"}, timeout=10)
    assert change.status_code == 403


# --- refresh and revocation ------------------------------------------------------------------

@also_on_postgresql
def test_refresh_rotates_the_refresh_token(node, browser):
    client, first = _token_flow(node, browser)

    second = dict(client.refresh_token(node.url("/oauth/token"),
                                       refresh_token=first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    assert _me(node, second["access_token"]).status_code == 200
    assert _me(node, first["access_token"]).status_code == 401  # the old grant is over

    with pytest.raises(OAuthError) as caught:
        node.oauth("web").refresh_token(node.url("/oauth/token"),
                                        refresh_token=first["refresh_token"])
    assert caught.value.error == "invalid_grant"
    third = node.oauth("web").refresh_token(node.url("/oauth/token"),
                                            refresh_token=second["refresh_token"])
    assert _me(node, third["access_token"]).status_code == 200


@also_on_postgresql
def test_revoked_access_token_is_refused(node, browser):
    client, token = _token_flow(node, browser)
    assert _me(node, token["access_token"]).status_code == 200

    response = client.revoke_token(node.url("/oauth/revoke"), token=token["access_token"],
                                   token_type_hint="access_token")
    assert response.status_code == 200
    assert _me(node, token["access_token"]).status_code == 401


def test_revoked_refresh_token_cannot_refresh(node, browser):
    client, token = _token_flow(node, browser)

    response = client.revoke_token(node.url("/oauth/revoke"), token=token["refresh_token"],
                                   token_type_hint="refresh_token")
    assert response.status_code == 200
    with pytest.raises(OAuthError) as caught:
        client.refresh_token(node.url("/oauth/token"), refresh_token=token["refresh_token"])
    assert caught.value.error == "invalid_grant"


def test_a_client_cannot_revoke_another_clients_token(node, browser):
    _client, token = _token_flow(node, browser)

    robot = node.oauth("robot")
    response = robot.revoke_token(node.url("/oauth/revoke"), token=token["access_token"])
    assert response.status_code == 400
    assert _me(node, token["access_token"]).status_code == 200


def test_revoking_an_unknown_token_is_not_an_error(node):
    response = node.oauth("robot").revoke_token(node.url("/oauth/revoke"), token="no-such-token")
    assert response.status_code == 200  # RFC 7009 §2.2


# --- client credentials ----------------------------------------------------------------------

@also_on_postgresql
def test_client_credentials_acts_as_the_service_account(node):
    robot = node.oauth("robot")
    token = robot.fetch_token(node.url("/oauth/token"), grant_type="client_credentials")

    assert "refresh_token" not in token
    me = _me(node, token["access_token"])
    assert me.status_code == 200
    body = me.json()
    assert body["account"]["is_service"] is True
    assert body["account"]["username"] == node.clients["robot"]["service_account"]
    assert body["tenant"] == "alpha"
    assert body["grants"] == []  # an administrator grants it roles later


def test_a_public_or_authorization_code_client_cannot_use_client_credentials(node):
    for name in ("spa", "web"):
        with pytest.raises(OAuthError) as caught:
            node.oauth(name).fetch_token(node.url("/oauth/token"),
                                         grant_type="client_credentials")
        assert caught.value.error in ("invalid_client", "unauthorized_client")


# --- client authentication and throttling ---------------------------------------------------

def test_wrong_client_secret_is_refused(node):
    creds = node.clients["web"]
    robot = OAuth2Session(node.clients["robot"]["client_id"], "wrong-secret")
    with pytest.raises(OAuthError) as caught:
        robot.fetch_token(node.url("/oauth/token"), grant_type="client_credentials")
    assert caught.value.error == "invalid_client"

    # A confidential client cannot skip its secret by posing as a public one.
    response = _raw_token_request(node, {"grant_type": "authorization_code", "code": "x",
                                         "client_id": creds["client_id"],
                                         "redirect_uri": REDIRECT})
    assert response.json()["error"] == "invalid_client"


@also_on_postgresql
def test_repeated_client_authentication_failures_are_throttled(node):
    creds = node.clients["vault"]
    data = {"grant_type": "client_credentials"}
    for _ in range(MAX_FAILURES):
        response = _raw_token_request(node, data, auth=(creds["client_id"], "guess"))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"

    response = _raw_token_request(node, data, auth=(creds["client_id"], creds["client_secret"]))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"] == "temporarily_unavailable"
    revoke = requests.post(node.url("/oauth/revoke"), data={"token": "x"},
                           auth=(creds["client_id"], creds["client_secret"]), timeout=10)
    assert revoke.status_code == 429


def test_client_authentication_failures_are_counted_per_address_too(node):
    for n in range(MAX_FAILURES):  # a different (unknown) client id each time
        response = _raw_token_request(node, {"grant_type": "client_credentials"},
                                      auth=(f"guess-{n}", "guess"))
        assert response.status_code == 401

    creds = node.clients["robot"]
    response = _raw_token_request(node, {"grant_type": "client_credentials"},
                                  auth=(creds["client_id"], creds["client_secret"]))
    assert response.status_code == 429


# --- tenants ---------------------------------------------------------------------------------

@also_on_postgresql
def test_a_session_of_one_tenant_cannot_authorize_a_client_of_another(node):
    browser = _signed_in_browser(node)  # alice of alpha
    beta = node.oauth("beta-web")
    url, _state, _verifier = _authorize(node, beta)

    response = browser.get(url, allow_redirects=False)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/t/beta/login"

    # Approving anyway (a forged form with a valid CSRF token of this session) is refused.
    _action, fields = _form(browser.get(node.url("/t/alpha/login")))
    forged = browser.post(url, data={"csrf_token": fields["csrf_token"], "decision": "approve"},
                          allow_redirects=False)
    assert forged.status_code == 403
    assert "Location" not in forged.headers

    # And alpha's password does not open beta, even for a user of the same name.
    browser.cookies.set("lang", "en")  # the message below in English (Chinese by default)
    login = _sign_in(node, browser, node.url("/t/beta/login"), "alice", ALICE_PASSWORD)
    assert login.status_code == 200
    assert "Wrong username or password" in login.text
    assert browser.get(url, allow_redirects=False).headers["Location"].startswith("/t/beta/login")


def test_beta_user_gets_a_beta_token(node):
    client = node.oauth("beta-web")
    url, _state, verifier = _authorize(node, client)
    browser = requests.Session()
    login = browser.get(url, allow_redirects=False).headers["Location"]
    signed_in = _sign_in(node, browser, urljoin(node.base, login), "alice", BETA_ALICE_PASSWORD)
    consent = browser.get(urljoin(node.base, signed_in.headers["Location"]))
    action, fields = _form(consent)
    location = browser.post(action, data={**fields, "decision": "approve"},
                            allow_redirects=False).headers["Location"]
    token = client.fetch_token(node.url("/oauth/token"), authorization_response=location,
                               code_verifier=verifier)

    assert _me(node, token["access_token"]).json()["tenant"] == "beta"


# --- hostile input ---------------------------------------------------------------------------

@pytest.mark.parametrize("request_kwargs", [
    {"headers": {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()}},
    {"headers": {"Authorization": "Basic !!!"}},
    {"data": {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"}},
    {"data": {"grant_type": "client_credentials", "client_id": "é" * 500}},
    {"data": {"grant_type": "nonsense\"\\é"}},
    {"data": {"grant_type": "authorization_code", "code": "\x00",
              "client_id": "x" * 10_000}},
], ids=["basic-not-utf8", "basic-not-base64", "nul-client-id", "long-client-id",
        "odd-grant-type", "nul-code"])
@also_on_postgresql
def test_malformed_token_requests_are_client_errors(node, request_kwargs):
    kwargs = {"data": {"grant_type": "client_credentials"}, **request_kwargs}
    response = requests.post(node.url("/oauth/token"), timeout=10, **kwargs)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]


@pytest.mark.parametrize("query", [
    {"redirect_uri": 'http://127.0.0.1:9/"é\\'},
    {"response_type": 'token"é'},
    {"client_id": "no-such-client"},
    {"client_id": "\x00"},
    {"scope": "read\x00"},
], ids=["odd-redirect", "odd-response-type", "unknown-client", "nul-client", "nul-scope"])
@also_on_postgresql
def test_malformed_authorization_requests_are_client_errors(node, browser, query):
    creds = node.clients["web"]
    params = {"response_type": "code", "client_id": creds["client_id"], "redirect_uri": REDIRECT,
              "code_challenge": create_s256_code_challenge(generate_token(48)),
              "code_challenge_method": "S256", **query}
    response = browser.get(node.url("/oauth/authorize?" + urlencode(params)),
                                            allow_redirects=False)
    assert 300 <= response.status_code < 500
    if response.status_code >= 400:
        assert "text/html" in response.headers["Content-Type"]


# --- registration (in process) ---------------------------------------------------------------

@pytest.mark.parametrize(("options", "field"), [
    ({"grant_types": ["client_credentials"], "public": True}, "public"),
    ({"grant_types": ["authorization_code"]}, "redirect_uri"),
    ({"redirect_uris": ["http://example.org/cb"]}, "redirect_uri"),  # http off loopback
    ({"redirect_uris": ["https://example.org/cb#frag"]}, "redirect_uri"),
    ({"redirect_uris": ["/relative/cb"]}, "redirect_uri"),
    ({"redirect_uris": [REDIRECT], "scope": "read admin"}, "scope"),
    ({"redirect_uris": [REDIRECT], "scope": ""}, "scope"),
    ({"grant_types": ["password"]}, "grant_type"),
    ({"redirect_uris": [REDIRECT], "service_account": "alice"}, "service_account"),
], ids=["public-client-credentials", "code-without-redirect", "http-remote", "fragment",
        "relative", "unknown-scope", "no-scope", "password-grant", "service-account-for-code"])
def test_client_registration_refuses_unsafe_settings(world, options, field):
    from node.auth.services import create_client
    from shared.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        create_client(tenant=world.tenant(), name="App", **options)
    assert field in caught.value.errors


def test_a_client_secret_is_stored_only_as_an_argon2_hash(world, session):
    from node.accounts.services import verify_password
    from node.auth.services import create_client

    issued = create_client(tenant=world.tenant(), name="App", redirect_uris=[REDIRECT])

    stored = issued.client.client_secret_hash
    assert issued.secret and issued.secret not in stored and stored.startswith("$argon2")
    assert verify_password(stored, issued.secret)
    assert issued.client.grant_types == "authorization_code refresh_token"


def test_a_client_credentials_client_gets_its_own_service_account(world, session):
    from node.auth.services import create_client
    from node.grants.models import Grant

    tenant = world.tenant()
    issued = create_client(tenant=tenant, name="Nightly export",
                           grant_types=["client_credentials"])

    account = issued.service_account
    assert account is not None and account.is_service and account.password_hash is None
    assert account.username == "svc-nightly-export" and account.tenant_id == tenant.id
    assert issued.client.service_account_id == account.id
    with tenant_context(tenant.id):
        assert session.scalars(sa.select(Grant).where(Grant.account_id == account.id)).all() == []
    again = create_client(tenant=tenant, name="Nightly export",
                          grant_types=["client_credentials"])
    assert again.service_account.username == f"svc-{again.client.client_id}"


def test_only_a_service_account_of_the_tenant_can_be_named(world, session):
    from node.auth.services import create_client
    from shared.errors import InvalidInput

    a, b = world.tenant(), world.tenant()
    human = world.account(a, username="human")
    other = create_client(tenant=b, name="Other", grant_types=["client_credentials"])

    for username in (human.username, other.service_account.username):
        with pytest.raises(InvalidInput):
            create_client(tenant=a, name="App", grant_types=["client_credentials"],
                          service_account=username)
    shared = create_client(tenant=b, name="Second", grant_types=["client_credentials"],
                           service_account=other.service_account.username)
    assert shared.client.service_account_id == other.service_account.id
