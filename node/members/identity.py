"""The node's national-ID cipher and keyed hasher, built once from settings."""

from __future__ import annotations

import dataclasses

from shared.identity import IdentityHasher, PiiCipher


@dataclasses.dataclass(frozen=True)
class IdentityTools:
    cipher: PiiCipher
    hasher: IdentityHasher


_tools: IdentityTools | None = None


def configure_identity(pii_key: str, old_keys: tuple[str, ...], hash_key: str) -> IdentityTools:
    global _tools
    _tools = IdentityTools(
        cipher=PiiCipher.from_b64(pii_key, old_keys=old_keys),
        hasher=IdentityHasher(hash_key.encode()),
    )
    return _tools


def identity() -> IdentityTools:
    if _tools is None:
        raise RuntimeError("identity tools are not configured (create the app first)")
    return _tools
