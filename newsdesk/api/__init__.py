"""The REST API: ``create_app(nd)`` (FastAPI, OpenAPI at ``/docs``) and ``serve(nd, host, port)``."""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
