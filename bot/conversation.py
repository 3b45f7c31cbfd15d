"""What the chat actions need to know about a conversation besides its slots.

Kept out of ``actions/`` (rasa-sdk actions only, see docs/architecture.md) and out of
:mod:`bot.replies`, which stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.db.mailbox import HandoffChannel
from bot.shops import checked_store
from bot.stores import StorePolicy, load_store

__all__ = ["conversation_channel", "conversation_store"]

# Rasa's name for the `rasa shell` input channel.
_SHELL_INPUT_CHANNEL = "cmdline"


def conversation_store(store_id: object) -> StorePolicy:
    """The policy of the store a conversation is about.

    Args:
        store_id: the ``store`` slot: the store the message's channel checked where it
            entered (``bot.shops.resolve_store``), set by the NLU from the message metadata;
            trusted as it is (``bot.shops.checked_store``).

    Raises:
        UnknownStoreError: the slot is not a shop (unset, or a value no entry checked): the
            action's failure path answers with the apology that names no shop.
    """
    return load_store(checked_store(store_id))


def conversation_channel(metadata: Mapping[str, Any], input_channel: str | None) -> HandoffChannel:
    """The channel a conversation comes from, as the handoff queue names it.

    The gateway and the e-mail pipeline say it in the message metadata (``channel``);
    ``rasa shell`` sends no metadata but has its own input channel; anything else reaching
    Rasa's REST channel is the web chat.

    Args:
        metadata: the latest user message's metadata.
        input_channel: Rasa's input channel name of that message.
    """
    declared = metadata.get("channel")
    if isinstance(declared, str):
        try:
            return HandoffChannel(declared.strip().lower())
        except ValueError:
            pass
    if input_channel == _SHELL_INPUT_CHANNEL:
        return HandoffChannel.SHELL
    return HandoffChannel.WEB
