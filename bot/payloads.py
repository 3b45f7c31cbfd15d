"""Rasa's intent syntax (``/intent{"entity": "value"}``) is the bot's language, not the customer's.

Rasa reads a message whose text starts with ``/`` as an intent given directly, with its
entities: ``/restart`` restarts the conversation, ``/inform{"order_number": "..."}`` sets
slots, whatever the NLU would have understood (Rasa 3.6: ``RegexMessageHandler``, the last
node of the NLU graph, and ``YAMLStoryReader.unpack_regex_message``, which strips the text
with ``str.strip`` and looks for a leading ``/``). The widget's quick replies use that
syntax on purpose; a customer must not.

So every channel that carries customer text to Rasa passes it through :func:`as_customer_text`
(the web chat in ``bot/api/routes/chat.py``, the e-mail channel in ``bot/mail/deciding.py``): a
text that would start with ``/`` once stripped gets an invisible WORD JOINER (U+2060, not
whitespace for ``str.strip``) in front, so Rasa's NLU reads it as words, like any other
message. The only ``/`` texts that reach Rasa as they are come from a quick reply the gateway
itself relayed to that conversation: :class:`PayloadSigner` signs each button payload with a
key of the gateway (HMAC-SHA256, bound to the conversation id), and the widget sends the
signature back with the click.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["INTENT_PREFIX", "NEUTRALISER", "PayloadSigner", "as_customer_text", "is_intent_syntax"]

INTENT_PREFIX = "/"
#: Put before a customer's ``/...`` text: invisible, and no whitespace for ``str.strip``.
NEUTRALISER = "\u2060"


def is_intent_syntax(text: str) -> bool:
    """Whether Rasa would read ``text`` as an intent given directly (a leading ``/``)."""
    return text.strip().startswith(INTENT_PREFIX)


def as_customer_text(text: str) -> str:
    """``text`` as Rasa's NLU must read it: words, never an intent with entities.

    A text starting with ``/`` (after the whitespace Rasa strips) gets :data:`NEUTRALISER`
    in front of it; any other text is returned unchanged.
    """
    if not is_intent_syntax(text):
        return text
    return NEUTRALISER + text.strip()


class PayloadSigner:
    """Signs the quick-reply payloads the gateway relays, and checks a click's signature.

    A signature is bound to one conversation id: a payload offered in one conversation is
    refused in another, and a payload the bot never offered has no signature at all.
    """

    _CONTEXT = b"chat-button-payload\x00"

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a payload signing key needs at least 16 bytes")
        self._key = key

    @classmethod
    def from_secret(cls, secret: str | None) -> PayloadSigner:
        """A signer keyed on ``secret`` (shared by every gateway), else on a random key.

        The key is derived from the secret (domain-separated), never the secret itself.
        """
        if not secret:
            return cls(secrets.token_bytes(32))
        return cls(hashlib.sha256(cls._CONTEXT + secret.encode("utf-8")).digest())

    def sign(self, conversation: str, payload: str) -> str:
        """The signature of ``payload`` offered in ``conversation`` (64 hexadecimal digits)."""
        message = conversation.encode("utf-8") + b"\x00" + payload.strip().encode("utf-8")
        return hmac.new(self._key, self._CONTEXT + message, hashlib.sha256).hexdigest()

    def verify(self, conversation: str, payload: str, signature: str | None) -> bool:
        """Whether ``signature`` is this gateway's for ``payload`` in ``conversation``."""
        if not signature:
            return False
        expected = self.sign(conversation, payload)
        return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))
