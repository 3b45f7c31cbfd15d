"""Liveness of the gateway itself (the stack's readiness check)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """Answers as long as the gateway process serves requests."""
    return {"status": "ok"}
