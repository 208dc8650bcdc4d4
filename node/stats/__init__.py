"""Statistics snapshots sent to the hub: per-organization counts, never people."""
