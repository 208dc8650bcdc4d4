"""The national feed: the nodes' public articles and notices, searchable in Chinese."""
