"""The reader-app routes, one router for ``create_app`` to include: Google Reader, then Fever."""

from __future__ import annotations

from fastapi import APIRouter

from . import fever, greader

router = APIRouter(include_in_schema=False)
router.include_router(greader.router)
router.include_router(fever.router)
