"""Flask glue shared by hub and node: the API class, problem+json errors, pagination."""
