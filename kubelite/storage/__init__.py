"""kubelite."""
