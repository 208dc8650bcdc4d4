"""National statistics: snapshots received from the nodes, rolled up by code prefix."""
