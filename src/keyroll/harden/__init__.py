"""keyroll.harden."""
