"""What the chat actions need to know about a conversation besides its slots.

Kept out of ``actions/`` because it reads the settings (``actions/`` holds rasa-sdk actions
only, see docs/architecture.md), and out of :mod:`bot.replies`, which stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.config import get_settings
from bot.db.mailbox import HandoffChannel
from bot.shops import resolve_store
from bot.stores import StorePolicy, load_store

__all__ = ["conversation_channel", "conversation_store"]

# Rasa's name for the `rasa shell` input channel.
_SHELL_INPUT_CHANNEL = "cmdline"


def conversation_store(store_id: object) -> StorePolicy:
    """The policy of the store a conversation is about.

    Args:
        store_id: the ``store`` slot (set by the NLU from the channel metadata); anything
            that is not a known store id falls back to ``Settings.default_store``.

    Raises:
        UnknownStoreError: the configured default store itself is unknown.
    """
    return load_store(resolve_store(store_id, get_settings().default_store))


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
