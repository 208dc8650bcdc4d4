"""Organizational life (三会一课 and the rest): meetings, attendance, check-in, review and the
compliance of every branch with the cadence its tenant sets."""
