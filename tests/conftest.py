"""Suite-wide fixtures: the node test world is in tests/node/conftest.py."""
