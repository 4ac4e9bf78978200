"""enrich stage package."""
