"""The web chat channel: the widget's messages, forwarded to Rasa's REST channel."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from bot.api.deps import ChatRateLimit, RasaClientDep, SettingsDep, client_key
from bot.api.errors import ApiError
from bot.api.schemas import (
    ChatButton,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ErrorResponse,
    NewConversationRequest,
    NewConversationResponse,
)
from bot.api.several_requests import Part, split_message
from bot.console.web import customer_message_mode
from bot.i18n import Lang
from bot.payloads import PayloadSigner, as_customer_text, is_intent_syntax
from bot.rasa_client import failed_action
from bot.shops import resolve_store

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["chat"])

CHANNEL = "web"


def ui_language(requested: str | None) -> Lang | None:
    """The page's language as 'fr' / 'en' ('fr-FR' counts as 'fr'); None when neither."""
    prefix = (requested or "").strip().lower()[:2]
    if prefix == "fr":
        return "fr"
    if prefix == "en":
        return "en"
    return None


def web_sender(store: str, sender_id: str) -> str:
    """Rasa's conversation id: one per widget conversation and shop."""
    return f"{CHANNEL}-{store}-{sender_id}"


def new_sender_id() -> str:
    """A fresh widget conversation id (the widget's own shape: 'w' and 32 hex digits)."""
    return "w" + secrets.token_hex(16)


def client_turn_id(client_message_id: str, part: int) -> str:
    """Rasa's message_id of one part of a message the widget identified (its resends share
    it); apart from the gateway's own ids (32 hex digits)."""
    return f"web:{client_message_id}:{part}"


def payload_signer(request: Request) -> PayloadSigner:
    """The app's signer of quick-reply payloads (created with the app)."""
    signer: PayloadSigner = request.app.state.payload_signer
    return signer


def to_chat_message(
    rasa_message: Mapping[str, Any], *, signer: PayloadSigner, conversation: str, part: int = 0
) -> ChatMessage | None:
    """One message of Rasa's REST channel in the widget's shape; None when nothing to show.

    Each button's payload is signed for `conversation`: sent back with its signature, it
    reaches Rasa as the intent it names. Rasa's `custom` and `attachment` payloads have no
    rendering in the widget and are left out.
    """
    text = rasa_message.get("text")
    image = rasa_message.get("image")
    buttons = [
        ChatButton(
            title=button["title"],
            payload=button["payload"],
            signature=signer.sign(conversation, button["payload"]),
        )
        for button in rasa_message.get("buttons") or []
        if isinstance(button, Mapping)
        and isinstance(button.get("title"), str)
        and isinstance(button.get("payload"), str)
    ]
    message = ChatMessage(
        text=text if isinstance(text, str) and text.strip() else None,
        buttons=buttons,
        image=image if isinstance(image, str) and image else None,
        part=part,
    )
    if message.text is None and message.image is None and not message.buttons:
        return None
    return message


@router.post(
    "/chat",
    dependencies=[ChatRateLimit],
    responses={
        413: {"model": ErrorResponse, "description": "message_too_long (with max_chars)"},
        422: {
            "model": ErrorResponse,
            "description": "empty_message, invalid_json, invalid_request",
        },
        429: {"model": ErrorResponse, "description": "rate_limited (with Retry-After)"},
        503: {"model": ErrorResponse, "description": "assistant_unavailable"},
        504: {"model": ErrorResponse, "description": "assistant_timeout"},
    },
)
async def chat(
    request: Request, body: ChatRequest, settings: SettingsDep, rasa: RasaClientDep
) -> ChatResponse:
    """Sends one customer message (or a button's '/intent' payload) to the assistant.

    A message starting with '/' reaches Rasa as an intent only when it is the payload of a
    button the gateway relayed to this conversation, with that button's signature; any other
    is sent as the customer's words (`bot/payloads.py`).
    """
    # A lone surrogate ("\ud800" in the JSON) is no character: Rasa's tokenizer would fail on it.
    message = body.message.encode("utf-8", "replace").decode("utf-8").strip()
    if not message:
        raise ApiError(422, "empty_message", detail="The message is empty.")
    if len(message) > settings.max_message_chars:
        raise ApiError(413, "message_too_long", max_chars=settings.max_message_chars)
    store = resolve_store(body.store, settings.default_store)
    sender = web_sender(store, body.sender_id)
    signer = payload_signer(request)
    page_language = ui_language(body.language)
    sent_at = dt.datetime.now(dt.UTC)
    # The id this message's second part had if it was cut into parts before (a resend).
    sent_in_parts = (
        None if body.client_message_id is None else client_turn_id(body.client_message_id, 1)
    )
    if is_intent_syntax(message) and signer.verify(sender, message, body.signature):
        # A quick reply the gateway relayed in this conversation: its intent, whole.
        parts = [Part(message)]
    else:
        # Two requests in one message ("livrez-vous en Suisse et combien coûte la livraison ?")
        # are sent as two turns, and both answers come back (bot/api/several_requests.py).
        # Every part, and every text read to cut it, is the customer's words: a '/...' part
        # is never Rasa's intent syntax (bot/payloads.py).
        parts = await split_message(
            message,
            ui_language=page_language,
            parse=lambda text: rasa.parse(as_customer_text(text)),
            # A resend of a message sent in parts is cut the same way whatever its parts
            # started (a form waiting): each part keeps its id, so the parts that were
            # answered get their stored answers and only the one that failed runs again.
            waiting_for=lambda: rasa.waiting_for(sender, unless_sent=sent_in_parts),
        )
        if any(is_intent_syntax(part.text) for part in parts):
            logger.info("A '/' text not offered as a button in %s: sent as words", sender)
        # The parse of a part was made on these very words (as_customer_text).
        parts = [Part(as_customer_text(part.text), part.parse) for part in parts]
    messages: list[ChatMessage] = []
    failed_parts: list[int] = []
    for index, part in enumerate(parts):
        metadata: dict[str, Any] = {
            "store": store,
            "ui_language": page_language,
            "channel": CHANNEL,
            # The per-client limit of failed proofs of ownership counts under this address.
            "client": client_key(request),
        }
        if part.parse is not None:
            # A part of a message cut in two was parsed to cut it: Rasa takes that parse
            # instead of parsing it again (bot/rasa_ext/reuse_parse.py).
            metadata["parse_data"] = dict(part.parse)
        if body.client_message_id is not None:
            # The widget's resend of a message (its gateway or Rasa restarted mid-turn): the
            # same id, so Rasa answers a turn it already ran again instead of running it
            # twice. Rasa looks for the id in this conversation's tracker only: no other
            # conversation's answers can come back (bot/rasa_ext/idempotency.py).
            metadata["message_id"] = client_turn_id(body.client_message_id, index)
        replies = await rasa.send_message(sender=sender, message=part.text, metadata=metadata)
        # An action of the part's turn failed (the action server killed mid-call): Rasa said
        # "send it again"; the widget shows the other parts' answers, keeps the text and
        # resends it with its id (bot/rasa_ext/action_failures.py, docs/contracts.md).
        failed = failed_action(replies)
        if failed is not None:
            logger.warning(
                "Action %s failed in %s (part %d): the customer is asked to resend",
                failed,
                sender,
                index,
            )
            failed_parts.append(index)
        for reply in replies:
            shown = to_chat_message(reply, signer=signer, conversation=sender, part=index)
            if shown is not None:
                messages.append(shown)
    # A person expected or answering (support console): the widget then polls for them.
    handoff = await run_in_threadpool(customer_message_mode, request, sender, message, sent_at)
    return ChatResponse(
        messages=messages, handoff=handoff, resend=bool(failed_parts), failed_parts=failed_parts
    )


@router.post(
    "/chat/new",
    dependencies=[ChatRateLimit],
    responses={
        422: {"model": ErrorResponse, "description": "invalid_json, invalid_request"},
        429: {"model": ErrorResponse, "description": "rate_limited (with Retry-After)"},
        503: {"model": ErrorResponse, "description": "assistant_unavailable"},
        504: {"model": ErrorResponse, "description": "assistant_timeout"},
    },
)
async def new_conversation(
    body: NewConversationRequest, settings: SettingsDep, rasa: RasaClientDep
) -> NewConversationResponse:
    """The widget's "new conversation" button: restarts the conversation left, if any, on
    the assistant's side (its slots, a verified order included, are gone) and gives a fresh
    conversation id. Limits that are not the conversation's (failed proofs of ownership,
    counted per order and client in the database) are untouched.
    """
    if body.sender_id is not None:
        store = resolve_store(body.store, settings.default_store)
        await rasa.append_events(web_sender(store, body.sender_id), [{"event": "restart"}])
    return NewConversationResponse(sender_id=new_sender_id())
