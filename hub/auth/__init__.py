"""Who is asking the hub: browser sessions, bearer tokens, the OAuth server and the roles."""
