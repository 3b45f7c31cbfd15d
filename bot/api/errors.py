"""How the gateway answers errors: always JSON `{"error": "<code>", ...}`, never a trace.

ApiError                      raised by routes and dependencies for a known HTTP error
RequestValidationError        -> 422 `invalid_json` / `invalid_request` with the fields
RasaTimeoutError              -> 504 `assistant_timeout`
RasaUnavailableError          -> 503 `assistant_unavailable`
anything else                 -> 500 `internal_error` (see `middleware.InternalErrorMiddleware`)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from bot.errors import RasaUnavailableError
from bot.rasa_client import RasaTimeoutError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A known HTTP error: a status, a stable error code and optional extra JSON fields."""

    def __init__(
        self,
        status_code: int,
        code: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(code)
        self.status_code = status_code
        self.code = code
        self.headers = dict(headers or {})
        self.extra = extra

    def response(self) -> JSONResponse:
        """The JSON response this error is answered with."""
        return JSONResponse(
            {"error": self.code, **self.extra}, status_code=self.status_code, headers=self.headers
        )


def error_response(status_code: int, code: str, **extra: Any) -> JSONResponse:
    """A JSON error response `{"error": code, **extra}`."""
    return JSONResponse({"error": code, **extra}, status_code=status_code)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(
            422,
            "invalid_json",
            detail=[{"field": "body", "message": "The body is not valid JSON."}],
        )
    # Only where and what: pydantic's `input` would echo the customer's data back.
    detail = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            or "body",
            "message": str(error.get("msg", "invalid value")),
        }
        for error in errors
    ]
    return error_response(422, "invalid_request", detail=detail)


async def _rasa_timeout(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("Rasa timed out on %s %s: %s", request.method, request.url.path, exc)
    return error_response(504, "assistant_timeout")


async def _rasa_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("Rasa unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, "assistant_unavailable")


def install_error_handlers(app: FastAPI) -> None:
    """Registers the JSON error handlers on `app`."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RasaTimeoutError, _rasa_timeout)
    app.add_exception_handler(RasaUnavailableError, _rasa_unavailable)
