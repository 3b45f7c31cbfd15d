"""The answer service: Rasa's NLG endpoint, rendering every bot text from the shops' data.

Rasa (``nlg:`` in its endpoints file) posts each response it wants to say here, with the
conversation's tracker: ``{"response": "utter_greet", "arguments": {...}, "tracker": {...},
"channel": {"name": "rest"}}``, and sends what this returns: ``{"text": ...}``. The shop is the
tracker's ``store`` slot, as the message's channel checked it where it entered
(:func:`bot.shops.checked_store`: trusted, never replaced by another shop), the language its
``language`` slot (French until it is known), the channel the ``channel`` of the latest
message's metadata (the gateway says ``web``, the e-mail pipeline ``email``), else
Rasa's input channel: a text with its own wording for that channel (``email: {fr, en}`` in
``texts.yml``) is sent in that wording.

It runs in the app environment as its own small process (``python -m bot.answers.service``,
started by ``make run``, the tests, ``make shell`` and ``make scale-demo`` beside the action
server), listens on the loopback in the local profile and requires a token (``?token=``, the
``token`` of Rasa's endpoint) whenever ``ANSWER_SERVICE_TOKEN`` is set, which the production
profile demands.

A text that cannot be rendered (an invalid file, a missing fact) never leaves the customer
without an answer: the service logs the error and answers with the shop's apology and
contact route (:func:`bot.replies.technical_problem`). A ``store`` slot that is not a shop (no
entry checked it) is logged as an error and answered with the apology that names no shop (its
contact route is "the shop's customer service"): no other shop's address is given.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, HTTPException, Query

from bot.answers.library import CHANNELS, render
from bot.config import SettingsError, get_settings
from bot.errors import UnknownStoreError
from bot.i18n import Lang, normalise_language
from bot.replies import technical_problem
from bot.secret_rules import secret_problem
from bot.shops import checked_store
from bot.stores import StorePolicy, load_store

__all__ = ["app", "conversation_channel", "create_app", "nlg_answer", "router"]

logger = logging.getLogger(__name__)

TOKEN_ENV_VAR = "ANSWER_SERVICE_TOKEN"  # noqa: S105 - the variable's name, not a secret

router = APIRouter(tags=["answers"])


def _slots(tracker: Any) -> Mapping[str, Any]:
    slots = tracker.get("slots") if isinstance(tracker, Mapping) else None
    return slots if isinstance(slots, Mapping) else {}


def conversation_channel(body: Mapping[str, Any]) -> str | None:
    """The channel of the conversation: the latest message's ``channel`` metadata, else Rasa's.

    ``None`` when neither names one of :data:`bot.answers.library.CHANNELS`.
    """
    tracker = body.get("tracker")
    latest = tracker.get("latest_message") if isinstance(tracker, Mapping) else None
    metadata = latest.get("metadata") if isinstance(latest, Mapping) else None
    candidates: list[Any] = [metadata.get("channel") if isinstance(metadata, Mapping) else None]
    channel = body.get("channel")
    candidates.append(channel.get("name") if isinstance(channel, Mapping) else None)
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip().lower() in CHANNELS:
            return candidate.strip().lower()
    return None


def _safe_text(store_id: str | None, lang: Lang) -> str:
    policy: StorePolicy | None = None
    try:
        policy = load_store(store_id) if store_id else None
    except Exception:
        logger.exception("No store policy for the safe text")
    return technical_problem(policy, lang)


def nlg_answer(body: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to one NLG request (Rasa's request body), never an exception.

    Args:
        body: ``{"response", "arguments", "tracker", "channel"}`` as Rasa posts it.

    Returns:
        ``{"text": ...}``; a logged safe text when the response cannot be rendered.
    """
    slots = _slots(body.get("tracker"))
    lang = normalise_language(slots.get("language"))
    response = body.get("response")
    store_id: str | None = None
    try:
        store_id = checked_store(slots.get("store"))
    except UnknownStoreError as exc:
        logger.error("Cannot render %r: %s; answering with the apology of no shop", response, exc)
        return {"text": _safe_text(None, lang)}
    try:
        if not isinstance(response, str) or not response:
            raise ValueError(f"no response name in the request: {response!r}")
        arguments = body.get("arguments")
        text = render(
            response,
            store_id,
            lang,
            arguments if isinstance(arguments, Mapping) else None,
            channel=conversation_channel(body),
        )
    except Exception:
        logger.exception(
            "Cannot render %r for store %s (%s); answering with the safe text",
            response,
            store_id,
            lang,
        )
        text = _safe_text(store_id, lang)
    return {"text": text}


def _check_token(token: str | None) -> None:
    expected = os.environ.get(TOKEN_ENV_VAR) or None
    if expected is None:
        return
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="missing or wrong token")


@router.post("/nlg")
def nlg(
    body: Annotated[dict[str, Any], Body()],
    token: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Rasa's NLG endpoint (see the module's docstring)."""
    _check_token(token)
    return nlg_answer(body)


@router.get("/health")
def health() -> dict[str, str]:
    """Answers as long as the service serves requests."""
    return {"status": "ok"}


def create_app() -> FastAPI:
    """The answer service's app (the NLG endpoint and its health check)."""
    settings = get_settings()
    if settings.bot_profile == "production":
        # Set, long, random, no placeholder (bot/secret_rules.py); one line, no traceback.
        problem = secret_problem(TOKEN_ENV_VAR, os.environ.get(TOKEN_ENV_VAR))
        if problem:
            raise SettingsError(
                f"error: BOT_PROFILE=production: {problem}: the token Rasa's `nlg` endpoint sends."
            )
    service = FastAPI(title="Answer service", docs_url=None, redoc_url=None)
    service.include_router(router)
    return service


app = create_app()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.answers.service --port 5057 [--host 127.0.0.1]``."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bot.answers.service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5057)
    args = parser.parse_args(argv)
    if not os.environ.get(TOKEN_ENV_VAR):
        # An internal service authenticates its callers: without a token any process of the
        # machine (or of the network, on --host 0.0.0.0) could use it.
        print(
            f"error: {TOKEN_ENV_VAR} is not set: the answer service answers only callers with "
            "its token (Rasa sends it from its endpoints file; make run draws one per run).",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "bot.answers.service:app", host=args.host, port=args.port, access_log=False, workers=1
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
