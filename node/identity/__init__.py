"""Duplicate identity detection, node side: index entries to the hub, its flags back."""
