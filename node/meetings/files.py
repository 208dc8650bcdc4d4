"""Where meeting files live (the app's configuration), for the API and the pages alike."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from node.meetings.services import MAX_ATTACHMENT_BYTES


def attachments_root() -> Path:
    """`MEETINGS_ATTACHMENTS_DIR`, or `meeting-attachments/` in the instance folder."""
    configured = current_app.config.get("MEETINGS_ATTACHMENTS_DIR")
    return (Path(configured) if configured
            else Path(current_app.instance_path) / "meeting-attachments")


def max_bytes() -> int:
    return int(current_app.config.get("MEETINGS_MAX_ATTACHMENT_BYTES", MAX_ATTACHMENT_BYTES))
