"""The node: one local organization department's site, hosting one or more tenants."""
