"""The identity index: duplicate memberships across the network, by keyed hash only."""
