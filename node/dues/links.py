"""Where the payment provider calls back: the node's public base URL (NODE_BASE_URL), never a
host name from the request, since the provider may reach the node another way."""

from __future__ import annotations

from flask import current_app, url_for


def notify_url(provider: str) -> str:
    settings = current_app.extensions["node"]
    return settings.base_url.rstrip("/") + url_for("dues.Callback", provider=provider)
