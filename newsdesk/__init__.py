"""newsdesk: a self-hosted news intelligence engine. Sources in, curated article records out."""

__version__ = "0.2.0"
