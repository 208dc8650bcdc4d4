"""The installed partynet version: what /api/version says and heartbeats report."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("partynet")
except PackageNotFoundError:  # running from a checkout without installing
    VERSION = "0.0.0"
