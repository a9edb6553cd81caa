"""keyroll.verify."""
