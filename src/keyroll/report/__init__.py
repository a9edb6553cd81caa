"""keyroll.report."""
