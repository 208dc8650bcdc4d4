"""The national portal: the hub's public pages (the feed, its search, the node directory and
the national statistics), server-rendered in Chinese by default, English on request."""
