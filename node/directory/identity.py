"""This node's identity in the network: its party id and signing key, for whatever seals or
signs a step for another node (transfers, floating certificates).

In a request they come from the app's settings; in a bus worker from its party (`configure`,
called when the worker builds it); in a command from the environment's settings."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from federation import keyfile
from federation.envelope import Envelope
from federation.keys import SigningKey, utcnow
from federation.sealed import SealError, open_body, verify_step
from node.directory import services as directory
from node.directory.services import TenantPlace
from node.settings import NodeSettings
from shared.errors import InvalidInput
from shared.settings import SettingsError

_configured: tuple[str, SigningKey] | None = None
_key_files: dict[str, SigningKey] = {}


def configure(node_id: str, signing_key: SigningKey) -> None:
    """This node's party id and signing key, for code running outside a Flask app."""
    global _configured
    _configured = (node_id, signing_key)


def forget() -> None:
    """Back to the app's or the environment's settings (tests that played another node)."""
    global _configured
    _configured = None


def node_id() -> str:
    """This node's id: the app's settings in a request, the worker's party in a bus worker,
    else NODE_NODE_ID (a command; "node-local" where none is set)."""
    try:
        from flask import current_app

        return str(current_app.extensions["node"].node_id)
    except (RuntimeError, KeyError):
        if _configured is not None:
            return _configured[0]
        return os.environ.get("NODE_NODE_ID", "node-local")


def me() -> tuple[str, SigningKey]:
    """This node's id and signing key; InvalidInput when it has none (not enrolled), so that
    nothing is promised to another node that could not be signed."""
    try:
        from flask import current_app

        settings = current_app.extensions["node"]
    except (RuntimeError, KeyError):
        if _configured is not None:
            return _configured
        try:
            settings = NodeSettings.from_env()
        except SettingsError:
            raise InvalidInput("This node's bus identity is not configured: nothing can go "
                               "from it to another node.") from None
    path = settings.signing_key_file
    key = _key_files.get(path)
    if key is None:
        try:
            key = keyfile.read_signing_key(path)
        except keyfile.KeyFileMissing:
            raise InvalidInput("This node has no signing key: it is not enrolled in the "
                               "network, so nothing can go from it to another node.") from None
        _key_files[path] = key
    return str(settings.node_id), key


def _me_if_enrolled() -> str | None:
    try:
        return me()[0]
    except InvalidInput:
        return None


def locate_remote_tenant(session: Session, slug: str) -> TenantPlace | None:
    """A tenant of another node, from the hub's tenant directory; None: unknown there, or
    this node's own (the caller knows those better)."""
    here = _me_if_enrolled()
    place = directory.locate_tenant(session, slug)
    if place is None or place.node == here:
        return None
    return place


def remote_tenants(session: Session) -> list[TenantPlace]:
    """Tenants of other nodes a step may go to (a transfer, a floating certificate)."""
    return directory.known_tenants(session, exclude_node=_me_if_enrolled())


class RoutedStepRefused(Exception):
    """A routed step that cannot be applied (its origin's signature, its seal, its metadata,
    its tenant): the consumer quarantines it as handler_failed, with this text."""


def open_routed(session: Session, envelope: Envelope, *, inner_type: str,
                signed_meta: Iterable[str]) -> tuple[Envelope, dict[str, Any]]:
    """A step the hub forwarded from another node (a transfer's, a floating certificate's):
    for one of our tenants, its inner envelope the origin's own (keys from the hub's
    directory) and saying what the hub's metadata say; returns it and the opened body."""
    data = envelope.data
    if envelope.tenant != data["to_tenant"]:
        raise RoutedStepRefused(f"routed for tenant {envelope.tenant}, step for "
                                f"{data['to_tenant']}")
    here, key = me()
    try:
        inner = verify_step(data["signed"], keyring=directory.verification_ring(session),
                            me=here, now=utcnow(), inner_type=inner_type)
        if (inner.source != data["from_node"] or inner.tenant != data["to_tenant"]
                or any(inner.data[name] != data[name] for name in signed_meta)):
            raise SealError("the origin's signed step does not say what the hub says")
        return inner, open_body(inner, key)
    except SealError as error:
        raise RoutedStepRefused(str(error)) from None
