"""keyroll.rotate."""
