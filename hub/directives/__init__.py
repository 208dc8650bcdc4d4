"""Directives and study material: written on the hub, sent to the nodes, read back."""
