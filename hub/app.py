"""The hub application factory: a flat, ordered list of steps."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from hub.accounts.pages import blp as account_pages_blp
from hub.accounts.routes import blp as accounts_blp
from hub.auth import bearer, oauth
from hub.auth.pages import blp as auth_pages_blp
from hub.auth.routes import blp as oauth_blp
from hub.bus.routes import blp as metrics_blp
from hub.console import layout as console_layout
from hub.console.pages import blp as console_blp
from hub.console.routes import blp as quarantine_blp
from hub.db import db
from hub.directives.pages import blp as directive_pages_blp
from hub.directives.routes import blp as directives_blp
from hub.feed.routes import blp as feed_blp
from hub.identity.pages import blp as identity_pages_blp
from hub.identity.routes import blp as identity_blp
from hub.keys.routes import blp as keys_blp
from hub.meta.routes import VERSION
from hub.meta.routes import blp as meta_blp
from hub.nodes.routes import blp as nodes_blp
from hub.portal import web as portal_web
from hub.portal.pages import blp as portal_blp
from hub.settings import HubSettings
from hub.stats.routes import blp as stats_blp
from hub.transfers.pages import blp as transfer_pages_blp
from hub.transfers.routes import blp as transfers_blp
from shared.web.api import Api
from shared.web.pages import serve_vendor

BLUEPRINTS = (meta_blp, nodes_blp, keys_blp, stats_blp, feed_blp, accounts_blp, quarantine_blp,
              directives_blp, identity_blp, transfers_blp)
#: Signed-in pages: sign-in and password, the administrator's console.
PAGE_BLUEPRINTS = (auth_pages_blp, console_blp, account_pages_blp, directive_pages_blp,
                   identity_pages_blp, transfer_pages_blp)
#: Front-end packages from the npm registry, installed in the checkout by `make setup`.
VENDOR_DIR = Path(__file__).resolve().parent.parent / "node_modules"


def create_app(settings: HubSettings | None = None) -> Flask:
    settings = settings or HubSettings.from_env()
    app = Flask(__name__, instance_relative_config=False)
    if settings.trusted_proxies:
        # Behind nginx: client addresses (for throttling) and https come from headers.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions["hub"] = settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.debug,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        API_TITLE="partynet hub API",
        API_VERSION=VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
            }},
            "security": [{"bearer": []}],
            "info": {"description": "Enrollment, the key directory, the national statistics "
                                    "and feed, hub accounts and the quarantine of the partynet "
                                    "hub. Bearer tokens come from the hub's OAuth server "
                                    "(/oauth/token). Errors are RFC 9457 problem+json."},
        },
    )
    if (db.engine is None
            or db.engine.url.render_as_string(hide_password=False) != settings.database_url):
        db.configure(settings.database_url)
    app.teardown_appcontext(lambda _exc: db.session.remove())
    app.before_request(_read_only_api_reads)
    app.teardown_request(lambda _exc: db.end_read_only())
    bearer.init_app(app)  # /api: bearer token, scope and hub role, in one place
    oauth.init_app(app, settings)
    api = Api(app)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
    app.register_blueprint(oauth_blp)  # /oauth/*: RFC 6749 JSON and a consent page
    app.register_blueprint(metrics_blp)  # Prometheus text, not JSON
    portal_web.init_app(app, api)  # pages: language, layout helpers, headers, HTML error pages
    console_layout.init_app(app)  # signed-in pages: CSRF token, account, console menu
    app.register_blueprint(portal_blp)  # the national portal
    for blp in PAGE_BLUEPRINTS:
        app.register_blueprint(blp)
    serve_vendor(app, VENDOR_DIR)  # htmx, ECharts from node_modules, never a CDN
    return app


def _read_only_api_reads() -> None:
    """An API read is a read-only unit of work: no transaction round trips, no SQLite lock."""
    if request.method in ("GET", "HEAD", "OPTIONS") and request.path.startswith("/api/"):
        db.read_only()
