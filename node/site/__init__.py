"""The tenant's public site: home page with the organization tree, one page per organization."""
