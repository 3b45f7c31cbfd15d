"""Request and response bodies of the web chat API (`POST /api/chat`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SENDER_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
#: The widget's id of one customer message, the same on each resend (docs/contracts.md).
CLIENT_MESSAGE_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


class ChatRequest(BaseModel):
    """One customer message from the widget.

    `message` is checked in the route, not here: its limit comes from the settings and the
    answers differ (422 when empty, 413 when too long).
    """

    model_config = ConfigDict(extra="ignore")

    sender_id: str = Field(
        pattern=SENDER_ID_PATTERN,
        description="The widget's conversation id: 8 to 64 letters, digits, '-' or '_'.",
    )
    message: str = Field(description="The customer's text, or a button's '/intent' payload.")
    client_message_id: str | None = Field(
        default=None,
        pattern=CLIENT_MESSAGE_ID_PATTERN,
        description="The client's id of this customer message: 16 to 64 letters, digits, '-' "
        "or '_', drawn once per message and sent again with each resend of it. A resend of a "
        "message the assistant already answered in this conversation gets the same answer, "
        "and the message is not processed twice.",
    )
    signature: str | None = Field(
        default=None,
        max_length=128,
        description="With a button's payload: the signature the gateway gave that button. A "
        "'/...' message without a valid one is read as the customer's words.",
    )
    store: str | None = Field(
        default=None,
        max_length=64,
        description="A shop's id (data/stores/<id>/); unknown: default.",
    )
    language: str | None = Field(
        default=None,
        max_length=35,
        description=(
            "The page's UI language ('fr', 'en', 'fr-FR'), sent by the widget with a "
            "conversation's first message: a hint for a text that shows no language."
        ),
    )


class ChatButton(BaseModel):
    """A quick reply the bot offers: show `title`, send `payload` and `signature` when clicked."""

    title: str
    payload: str
    signature: str = Field(
        description="The gateway's signature of `payload` in this conversation (HMAC): sent "
        "back with the payload, it lets the click reach the assistant as the button's intent."
    )


class ChatMessage(BaseModel):
    """One message of the bot."""

    text: str | None = None
    buttons: list[ChatButton] = Field(default_factory=list)
    image: str | None = None
    part: int = Field(
        default=0,
        description="The part of the customer's message this message answers, from 0 in the "
        "order the parts were sent: 0 unless the gateway cut the message into several requests.",
    )


class ChatResponse(BaseModel):
    """The bot's answer to one customer message (possibly several bubbles)."""

    messages: list[ChatMessage]
    handoff: Literal["waiting", "live"] | None = Field(
        default=None,
        description="Set while a person is expected (waiting) or answering (live): the widget "
        "then polls GET /api/chat/live for their messages.",
    )
    resend: bool = Field(
        default=False,
        description="True when the assistant could not process the message (an action of its "
        "turn failed, e.g. the action server restarting): the messages end with a notice "
        "asking for it again; send the same message again, with the same client_message_id.",
    )
    failed_parts: list[int] = Field(
        default_factory=list,
        description="With resend: the parts of the message (ChatMessage.part) that were not "
        "processed; the messages of the other parts are answers, which the resend (same "
        "client_message_id) answers again (the stored answers, nothing processed twice).",
    )


class NewConversationRequest(BaseModel):
    """The widget's "new conversation" button."""

    model_config = ConfigDict(extra="ignore")

    sender_id: str | None = Field(
        default=None,
        pattern=SENDER_ID_PATTERN,
        description="The conversation being left (restarted on the assistant's side), if any.",
    )
    store: str | None = Field(default=None, max_length=64)


class NewConversationResponse(BaseModel):
    """A fresh conversation id, drawn by the gateway."""

    sender_id: str


class ErrorResponse(BaseModel):
    """Every error the gateway answers: a stable machine-readable code, never a trace."""

    model_config = ConfigDict(extra="allow")

    error: str
