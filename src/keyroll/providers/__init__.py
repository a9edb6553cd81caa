"""Clients for every service keyroll talks to; each behind a Protocol so tests can swap it."""
