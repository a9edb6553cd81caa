"""keyroll.inventory."""
