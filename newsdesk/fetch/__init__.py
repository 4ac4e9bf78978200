"""fetch stage package."""
