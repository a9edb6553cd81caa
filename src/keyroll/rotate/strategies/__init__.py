"""keyroll.rotate.strategies."""
