"""Hub accounts: the national administrators, auditors and region viewers."""
