"""Which store a mail is for, and which addresses are ours.

The store is chosen by the recipient: each store's own support address (``contact.email`` in
``data/stores/<store>/facts.yml``, the one place for that fact) plus the extra aliases of the
``EMAIL_STORE_ADDRESSES`` setting. A mail to none of them (a BCC, a forward from another
mailbox) is answered as the default store, and logged so the mapping can be completed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bot.config import Settings
from bot.shops import resolve_store
from bot.stores import all_stores

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreChoice:
    """The store a mail is for.

    Attributes:
        store_id: the chosen store.
        matched_address: the recipient that decided it, None when the default was used.
    """

    store_id: str
    matched_address: str | None


def recipient_map(settings: Settings) -> dict[str, str]:
    """Lower-cased address -> store id: every store's support address, then the aliases."""
    mapping = {store.contact.email.strip().lower(): store.id for store in all_stores()}
    for address, store_id in settings.email_store_addresses.items():
        mapping[address.strip().lower()] = resolve_store(store_id, settings.default_store)
    return mapping


def choose_store(recipients: Iterable[str], settings: Settings) -> StoreChoice:
    """The store of the first recipient that is one of our mailboxes, else the default.

    Args:
        recipients: the mail's recipient addresses, most specific first (Delivered-To
            before To and Cc).
        settings: the configured aliases and default store.
    """
    mapping = recipient_map(settings)
    recipients = tuple(recipients)
    for address in recipients:
        store_id = mapping.get(address.strip().lower())
        if store_id is not None:
            return StoreChoice(store_id=store_id, matched_address=address)
    default = resolve_store(None, settings.default_store)
    logger.warning(
        "No store mailbox among the recipients %s; answering as the default store %s",
        list(recipients),
        default,
    )
    return StoreChoice(store_id=default, matched_address=None)


def own_addresses(settings: Settings) -> frozenset[str]:
    """Every address the assistant sends from or forwards to: mail from them must loop back."""
    addresses = set(recipient_map(settings))
    if settings.email_handoff_forward_to:
        addresses.add(settings.email_handoff_forward_to.strip().lower())
    return frozenset(addresses)
