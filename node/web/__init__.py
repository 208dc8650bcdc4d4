"""What every web page of the node shares: language, layout, the browser session, CSRF,
the tenant chosen by host name or path, error pages and response headers.

Feature pages live with their feature (`node/site/pages.py`, `node/accounts/pages.py`,
`node/auth/routes.py`); this package holds only what they have in common.
"""
