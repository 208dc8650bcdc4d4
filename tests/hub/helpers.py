"""Helpers shared by the hub tests (fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any

from federation.keys import SigningKey, encode_base64


def enrollment_body(token: str, node_id: str, key: SigningKey,
                    tenants: list[tuple[str, str]]) -> dict[str, Any]:
    return {"token": token, "node_id": node_id, "key_id": key.key_id,
            "public_key": encode_base64(key.public_bytes),
            "tenants": [{"slug": slug, "name": f"中共{slug}委员会", "code_prefix": prefix}
                        for slug, prefix in tenants]}
