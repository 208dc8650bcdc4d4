"""Directives and study material from the hub: shown to members, read back as counts."""
