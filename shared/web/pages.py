"""What the server-rendered pages of node and hub share: response headers, the error page and
the front-end packages served from the npm registry's install (never a CDN)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from shared.web import i18n

#: Pages load scripts, styles and images from this site only (htmx and ECharts are served
#: from the app's own vendor route) and may not be framed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'")
#: How long browsers and shared caches may keep an anonymous public page.
PUBLIC_MAX_AGE = 300
#: Front-end packages by the name pages use, and their folder under `node_modules`.
VENDOR_PACKAGES = {"swagger-ui": Path("swagger-ui-dist"), "htmx": Path("htmx.org", "dist"),
                   "echarts": Path("echarts", "dist"), "axe-core": Path("axe-core")}


def page_error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    """The app's `error.html` with a readable message, and the status."""
    page = render_template("error.html", status=status, message=message)
    return page, status, headers or {}


def finish_page(response: Response, *, public: bool, anonymous: bool,
                secure: bool) -> Response:
    """Security and cache headers of a page, and the language cookie.

    A page is cached (by browsers and shared caches, for a few minutes) only when it is a
    public page, nobody is signed in and no cookie is being set; anything else (sign-in,
    forms, errors) is `no-store`.
    """
    headers = response.headers
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Account pages carry tokens in their URLs (reset links): never in a Referer header.
    headers.setdefault("Referrer-Policy",
                       "strict-origin-when-cross-origin" if public else "no-referrer")
    i18n.remember_language(response, secure=secure)
    if (public and anonymous and response.status_code == 200
            and i18n.language_choice() is None and "Set-Cookie" not in headers):
        headers.setdefault("Cache-Control", f"public, max-age={PUBLIC_MAX_AGE}")
    else:
        headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Cookie")
    return response


def is_page(response: Response) -> bool:
    """Pages only: not the API (problem+json, Swagger UI) nor JSON/OAuth answers or files."""
    return not request.path.startswith("/api") and response.mimetype == "text/html"


def serve_vendor(app: Flask, vendor_dir: str | Path) -> None:
    """`/api/vendor/<package>/<file>`: front-end packages installed from the npm registry at
    setup (`make setup`), never from a CDN."""
    root = Path(vendor_dir).resolve()
    packages = {name: root / folder for name, folder in VENDOR_PACKAGES.items()}

    @app.get("/api/vendor/<package>/<path:filename>")
    def vendor(package: str, filename: str):  # type: ignore[no-untyped-def]
        if package not in packages:
            abort(404)
        return send_from_directory(packages[package], filename, max_age=86400)


@functools.cache
def _static_version(folder: str, filename: str) -> str:
    try:
        with open(f"{folder}/{filename}", "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(filename: str) -> str:
    """A static file's URL with a content version, so it can be cached for long."""
    folder = current_app.static_folder or ""
    return url_for("static", filename=filename, v=_static_version(folder, filename))


def vendor_url(package: str, filename: str) -> str:
    """A file of a front-end package installed from the registry (see `serve_vendor`)."""
    return url_for("vendor", package=package, filename=filename)
