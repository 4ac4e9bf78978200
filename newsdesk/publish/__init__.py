"""publish stage package."""
