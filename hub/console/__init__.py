"""The hub administrator's console: nodes, enrollment tokens, quarantine, feed, accounts."""
