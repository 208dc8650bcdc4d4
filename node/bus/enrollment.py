"""The node's side of enrollment: ask the hub with a one-time token, pin the hub's keys, apply
the signed key directory; later, refresh the directory against the pinned keys.

The network calls run outside any database transaction (a slow hub must not hold the node's
write lock); what they bring back is stored in one transaction by the caller:

    request = enrollment.request_enrollment(settings, hub_url=..., token=...)   # HTTP only
    with transaction(db):
        enrollment.apply_enrollment(request)                                    # database only
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests
import sqlalchemy as sa

from federation.canonical import CanonicalJsonError
from federation.delivery.keystore import apply_directory, remember_key
from federation.delivery.models import KnownKey
from federation.keys import (
    HUB,
    Directory,
    DirectoryError,
    PublicKey,
    decode_base64,
    encode_base64,
    load_directory,
    parse_time,
    utcnow,
)
from node.bus.services import load_signing_key
from node.db import db
from node.settings import NodeSettings
from node.tenants.services import list_tenants
from shared.db.session import transaction
from shared.errors import DomainError

ENROLL_PATH = "/api/federation/enroll"
DIRECTORY_PATH = "/api/federation/directory"
#: (connect, read) seconds: the hub does real work when enrolling, but not for minutes.
TIMEOUT = (10, 60)


class HubRefused(DomainError):
    """The hub said no, could not be reached, or answered something this node cannot trust."""

    status = 502
    code = "hub-refused"
    title = "The hub refused"


@dataclasses.dataclass(frozen=True)
class RegisteredTenant:
    slug: str
    code_prefix: str
    region: str


@dataclasses.dataclass(frozen=True)
class EnrollmentResult:
    node_id: str
    hub_keys: list[PublicKey]
    tenants: list[RegisteredTenant]
    directory: Directory
    revoked_keys: list[str]


def base_url(hub_url: str) -> str:
    url = hub_url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HubRefused(f"Not a hub URL: {hub_url!r} (expected https://hub.example.org).")
    return url


def is_insecure(hub_url: str) -> bool:
    """Plain HTTP to another machine: the one-time token would travel in clear."""
    parts = urllib.parse.urlsplit(hub_url)
    return parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1")


def request_enrollment(settings: NodeSettings, *, hub_url: str, token: str,
                       http: Any = requests, now: dt.datetime | None = None
                       ) -> EnrollmentResult:
    """Send the token, this node's key and its tenants; check what the hub answers."""
    key = load_signing_key(settings)
    with transaction(db):  # a short read, ended before the network call
        tenants = [{"slug": t.slug, "name": t.name, "code_prefix": t.code_prefix}
                   for t in list_tenants()]
    body = {"token": token, "node_id": settings.node_id, "key_id": key.key_id,
            "public_key": encode_base64(key.public_bytes), "tenants": tenants}
    url = base_url(hub_url) + ENROLL_PATH
    try:
        response = http.post(url, json=body, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise HubRefused(f"Cannot reach the hub at {url}: {exc}") from None
    if response.status_code != 200:
        raise _refusal(response)
    result = _read_result(_json(response), settings.node_id, now or utcnow())
    listed = {(k.owner, k.key_id): k.public for k in result.directory.keys}
    if listed.get((settings.node_id, key.key_id)) != key.public_bytes:
        raise HubRefused(f"The hub's directory does not list this node's key {key.key_id}.")
    return result


def apply_enrollment(result: EnrollmentResult) -> None:
    """Pin the hub's keys and apply the directory (in the caller's transaction)."""
    session = db.session()
    for key in result.hub_keys:
        remember_key(session, key)
    apply_directory(session, result.directory)


def fetch_directory(*, hub_url: str, http: Any = requests, now: dt.datetime | None = None
                    ) -> Directory:
    """The hub's current directory, checked against the hub keys pinned at enrollment."""
    with transaction(db):
        pinned = pinned_hub_keys()
    if not pinned:
        raise HubRefused("No hub key is pinned: enroll first (`partynet node bus enroll`).")
    url = base_url(hub_url) + DIRECTORY_PATH
    try:
        response = http.get(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise HubRefused(f"Cannot reach the hub at {url}: {exc}") from None
    if response.status_code != 200:
        raise _refusal(response)
    return _load_directory(response.content, pinned, now or utcnow())


def refresh_keys(directory: Directory) -> bool:
    """Apply a fetched directory (in the caller's transaction); False when it is not newer
    than the one applied already."""
    return apply_directory(db.session(), directory)


def pinned_hub_keys() -> list[PublicKey]:
    rows = db.session.scalars(sa.select(KnownKey).where(KnownKey.owner == HUB)
                              .order_by(KnownKey.key_id))
    return [PublicKey(owner=row.owner, key_id=row.key_id, public=row.public,
                      valid_from=row.valid_from, valid_until=row.valid_until,
                      revoked_at=row.revoked_at) for row in rows]


# --- reading the hub's answers -------------------------------------------------------------


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        raise HubRefused(f"The hub answered {response.status_code} with no JSON: "
                         f"{response.text[:200]!r}") from None


def _refusal(response: Any) -> HubRefused:
    """A problem+json answer, shown as the hub wrote it (title, detail, field errors)."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return HubRefused(f"The hub answered {response.status_code}: {response.text[:200]!r}")
    title = problem.get("title") or f"HTTP {response.status_code}"
    detail = problem.get("detail")
    code = problem.get("code")
    text = f"{title} ({response.status_code}{', ' + code if code else ''})"
    if detail and detail != title:
        text += f": {detail}"
    errors = _flatten(problem.get("errors") or {})
    return HubRefused(text, errors=errors or None)


def _flatten(errors: Any, path: str = "") -> dict[str, list[str]]:
    if isinstance(errors, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            flat.update(_flatten(value, f"{path}.{key}" if path else str(key)))
        return flat
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return {path or "_": errors}
    return {path or "_": [str(errors)]}


def _read_result(obj: Any, node_id: str, now: dt.datetime) -> EnrollmentResult:
    try:
        if obj.get("node_id") != node_id:
            raise ValueError(f"it is for node {obj.get('node_id')!r}, not {node_id!r}")
        hub_keys = [PublicKey(owner=k["owner"], key_id=k["key_id"],
                              public=decode_base64(k["public"]),
                              valid_from=parse_time(k["valid_from"]),
                              valid_until=parse_time(k["valid_until"]))
                    for k in obj["hub_keys"]]
        if not hub_keys or any(k.owner != HUB for k in hub_keys):
            raise ValueError("it gives no hub keys")
        tenants = [RegisteredTenant(slug=str(t["slug"]), code_prefix=str(t["code_prefix"]),
                                    region=str(t["region"])) for t in obj["tenants"]]
        raw = obj["directory"].encode("utf-8")
        revoked = [str(k) for k in obj.get("revoked_keys", [])]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise HubRefused(f"The hub's answer is not an enrollment result: {exc}") from None
    return EnrollmentResult(node_id=node_id, hub_keys=hub_keys, tenants=tenants,
                            directory=_load_directory(raw, hub_keys, now),
                            revoked_keys=revoked)


def _load_directory(raw: bytes, hub_keys: list[PublicKey], now: dt.datetime) -> Directory:
    try:
        return load_directory(raw, hub_keys=hub_keys, now=now)
    except DirectoryError as exc:
        raise HubRefused(f"The hub's key directory cannot be trusted: {exc}") from None
    except CanonicalJsonError as exc:
        raise HubRefused(f"The hub's key directory is not canonical JSON: {exc}") from None
