"""Health of the gateway: liveness (`/health`) and readiness with Rasa (`/health/ready`)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from bot.api.deps import RasaClientDep
from bot.api.rasa import RasaTimeoutError
from bot.errors import RasaUnavailableError

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

# A readiness probe must answer quickly even when Rasa hangs.
READY_TIMEOUT_S = 3.0


@router.get("/health")
def health() -> dict[str, str]:
    """Answers as long as the gateway process serves requests."""
    return {"status": "ok"}


@router.get("/health/ready", response_model=None)
async def ready(rasa: RasaClientDep) -> JSONResponse:
    """200 when Rasa answers `/status` with a loaded model, 503 (with the reason) otherwise."""
    try:
        status = await rasa.status(timeout_s=READY_TIMEOUT_S)
    except RasaTimeoutError:
        return _not_ready("timeout")
    except RasaUnavailableError as exc:
        logger.info("Rasa not ready: %s", exc)
        return _not_ready("unreachable")
    model_file = status.get("model_file")
    if not isinstance(model_file, str) or not model_file:
        return _not_ready("no_model")
    return JSONResponse({"status": "ok", "rasa": "ready", "model_file": model_file})


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "rasa": reason}, status_code=503)
