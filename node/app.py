"""The node application factory: a flat, ordered list of steps."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from node.accounts.pages import admin_blp as account_admin_pages_blp
from node.accounts.pages import blp as account_pages_blp
from node.accounts.routes import blp as accounts_blp
from node.accounts.routes import me_blp as me_account_blp
from node.audit import recording
from node.audit.pages import blp as audit_pages_blp
from node.audit.routes import blp as audit_blp
from node.auth import bearer, oauth
from node.auth.routes import blp as auth_blp
from node.bus.routes import blp as metrics_blp
from node.content.routes import blp as articles_blp
from node.db import db
from node.directives.pages import blp as directive_pages_blp
from node.directives.routes import blp as directives_blp
from node.dues.pages import blp as dues_pages_blp
from node.dues.routes import blp as dues_blp
from node.dues.routes import me_blp as me_dues_blp
from node.floating.pages import blp as floating_pages_blp
from node.floating.routes import blp as floating_blp
from node.floating.routes import me_blp as me_floating_blp
from node.grants.pages import blp as grant_pages_blp
from node.grants.routes import blp as grants_blp
from node.identity.pages import blp as identity_pages_blp
from node.imports.pages import blp as import_pages_blp
from node.imports.routes import blp as imports_blp
from node.meetings.pages import blp as meeting_pages_blp
from node.meetings.routes import blp as meetings_blp
from node.meetings.routes import me_blp as me_meetings_blp
from node.members.identity import configure_identity
from node.members.pages import blp as member_pages_blp
from node.members.routes import blp as members_blp
from node.members.routes import me_blp as me_member_blp
from node.meta.routes import VERSION
from node.meta.routes import blp as meta_blp
from node.orgs.pages import blp as org_pages_blp
from node.orgs.routes import blp as orgs_blp
from node.quarantine.pages import blp as quarantine_pages_blp
from node.quarantine.routes import blp as quarantine_blp
from node.reports.pages import blp as report_pages_blp
from node.reports.routes import blp as reports_blp
from node.reports.routes import me_blp as me_reports_blp
from node.settings import NodeSettings
from node.site.pages import blp as site_blp
from node.tenants import scoping
from node.tenants.pages import blp as tenant_pages_blp
from node.transfers.pages import blp as transfer_pages_blp
from node.transfers.routes import blp as transfers_blp
from node.web import layout
from shared.web.api import Api
from shared.web.bearer import READ_METHODS
from shared.web.pages import serve_vendor

#: Signed-in working pages: the member's own, the console, the tenant administrator's.
PAGE_BLUEPRINTS = (member_pages_blp, org_pages_blp, import_pages_blp, grant_pages_blp,
                   audit_pages_blp, tenant_pages_blp, account_admin_pages_blp,
                   directive_pages_blp, quarantine_pages_blp, meeting_pages_blp,
                   dues_pages_blp, report_pages_blp, identity_pages_blp, floating_pages_blp,
                   transfer_pages_blp)
BLUEPRINTS = (meta_blp, orgs_blp, members_blp, me_member_blp, accounts_blp, me_account_blp,
              grants_blp, audit_blp, imports_blp, articles_blp, directives_blp, quarantine_blp,
              meetings_blp, me_meetings_blp, dues_blp, me_dues_blp, reports_blp, me_reports_blp,
              transfers_blp, floating_blp, me_floating_blp)


def create_app(settings: NodeSettings | None = None) -> Flask:
    settings = settings or NodeSettings.from_env()
    app = Flask(__name__, instance_relative_config=False)
    if settings.trusted_proxies:
        # Behind nginx: client addresses (for throttling, audit) and https come from headers.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions["node"] = settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.debug,
        MAX_CONTENT_LENGTH=50 * 1024 * 1024,
        API_TITLE="partynet node API",
        API_VERSION=VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/api/vendor/swagger-ui/",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
            }},
            "security": [{"bearer": []}],
            "info": {"description": "Organizations, members and tiered authorization of a "
                                    "partynet node. Errors are RFC 9457 problem+json."},
        },
    )
    configure_identity(settings.pii_key, settings.pii_old_keys, settings.identity_hash_key)
    if (db.engine is None
            or db.engine.url.render_as_string(hide_password=False) != settings.database_url):
        db.configure(settings.database_url)
    scoping.install(db.session.session_factory)
    recording.install(db.session.session_factory)
    app.teardown_appcontext(lambda _exc: db.session.remove())
    app.before_request(_read_only_api_reads)  # before authentication: its query too
    app.teardown_request(lambda _exc: db.end_read_only())
    bearer.init_app(app)
    oauth.init_app(app, settings)
    api = Api(app)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
    app.register_blueprint(auth_blp)  # sign-in pages and /oauth/*: HTML and RFC 6749, not smorest
    app.register_blueprint(metrics_blp)  # Prometheus text, not JSON
    layout.init_app(app, api)  # pages: language, layout helpers, headers, HTML error pages
    app.register_blueprint(site_blp)  # the tenants' public sites
    app.register_blueprint(account_pages_blp)  # change and reset passwords
    for blp in PAGE_BLUEPRINTS:
        app.register_blueprint(blp)
    serve_vendor(app, settings.vendor_dir)  # htmx, ECharts, Swagger UI from node_modules
    return app


def _read_only_api_reads() -> None:
    """An API read is a read-only unit of work: no transaction round trips, no SQLite lock."""
    if request.method in READ_METHODS and request.path.startswith("/api/"):
        db.read_only()

