"""Rasa's Redis lock store, with the two fixes several Rasa servers need (one Redis, N servers).

`deploy/rasa/endpoints.yml` names this class (`lock_store: type: bot.rasa_ext.lock_store.
RedisLockStore`); it takes the same settings as Rasa's own `type: redis`, uses the same
Redis keys and the same ticket-lock algorithm (tickets served in the order issued), and only
changes how a lock is read and written. Both problems are reproduced by tests/scale on real
servers and by tests/rasa_env/test_lock_store.py in isolation.

1. Atomic updates. Rasa 3.6 reads a conversation's lock, changes it in Python and writes it
   back, with nothing in between to stop another server doing the same. Two messages of one
   conversation arriving at the same instant on two servers can then both get ticket 0, both
   "hold" the lock, run their turns at once, and one turn's events are lost when the second
   tracker is saved. Here every change is one optimistic Redis transaction (WATCH / MULTI /
   EXEC, retried when another server changed the lock in between).

2. Expired waiters. Every ticket lives a fixed time (TICKET_LOCK_LIFETIME) from when it was
   issued, including the ticket of a message still waiting. When a server dies in the middle
   of a turn, its ticket stays until it expires; the same message, retried on another server
   by the load balancer, waits behind it. If both tickets expire between two of the waiter's
   polls, the waiter's own ticket is gone and Rasa's loop waits for it forever (the customer's
   message is lost when the client gives up). Here a waiter whose ticket expired puts it back
   with a fresh lifetime: with the same number (messages keep their order), or, when a later
   ticket is already queued (it may hold the lock), at the end of the queue, so two messages
   never hold the lock at once.

An empty lock is deleted, and a stored lock expires in Redis with its last ticket, so nothing
is left behind by a server that died.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from rasa.core import lock_store as rasa_lock_store
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LockError
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A change of one lock that keeps losing the race to other servers this many times in a row
# is given up (LockError), rather than retried forever.
_MAX_ATTEMPTS = 50


def _renew_if_expired(lock: TicketLock, ticket: int, lifetime: float) -> int:
    """Puts `ticket` back in the queue when it expired while waiting; returns its number.

    In its place when no later ticket is queued (its order is kept); otherwise at the end,
    with a new number: a later ticket may be the one holding the lock right now (both
    tickets expired and the later waiter looked first), and re-entering in front of it would
    give the lock to two messages at once.
    """
    lock.remove_expired_tickets()
    if any(t.number == ticket for t in lock.tickets):
        return ticket
    number = ticket
    if any(t.number > ticket for t in lock.tickets):
        number = lock.last_issued + 1
    logger.warning(
        "Ticket %s of conversation '%s' expired while it waited for the lock; renewed as %s.",
        ticket,
        lock.conversation_id,
        number,
    )
    renewed = [*lock.tickets, Ticket(number, time.time() + lifetime)]
    lock.tickets = deque(sorted(renewed, key=lambda t: t.number))
    return number


class AtomicTicketLocking:
    """Mixin over a Rasa `LockStore`: each change of a lock is one atomic read-modify-write.

    Subclasses provide :meth:`_modify`; everything Rasa calls (`lock`, `issue_ticket`,
    `update_lock`, `finish_serving`, `cleanup`) goes through it.
    """

    def _modify(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        """Applies `change` to the conversation's lock (a new one if none) atomically.

        The lock is stored back, or deleted when it has no ticket left; returns what
        `change` returned.
        """
        raise NotImplementedError

    def issue_ticket(
        self, conversation_id: str, lock_lifetime: float = rasa_lock_store.LOCK_LIFETIME
    ) -> int:
        """Issues the next ticket of the conversation's queue; returns its number."""
        try:
            return int(self._modify(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime)))
        except LockError:
            raise
        except Exception as exc:  # Rasa's contract: any failure here is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        """Removes the expired tickets."""
        self._modify(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Removes the ticket that was served."""
        self._modify(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Removes the served ticket; the lock goes when no one else waits (in the same step)."""
        self.finish_serving(conversation_id, ticket_number)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = rasa_lock_store.LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Holds the conversation's lock for the block, once every earlier ticket is served."""
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        try:
            while True:
                ticket, held = self.try_acquire(conversation_id, ticket, lock_lifetime)
                if held is not None:
                    break
                await asyncio.sleep(wait_time_in_seconds)
            yield held
        finally:
            self.cleanup(conversation_id, ticket)

    def try_acquire(
        self, conversation_id: str, ticket: int, lock_lifetime: float
    ) -> tuple[int, TicketLock | None]:
        """One look at the lock for `ticket` (renewed if it expired meanwhile).

        Returns:
            The ticket's number (a renewed ticket may have a new one) and the lock when the
            ticket holds it now, None while earlier tickets are served.
        """

        def my_turn(lock: TicketLock) -> tuple[int, TicketLock | None]:
            number = _renew_if_expired(lock, ticket, lock_lifetime)
            return number, (None if lock.is_locked(number) else lock)

        return self._modify(conversation_id, my_turn)


class RedisLockStore(AtomicTicketLocking, rasa_lock_store.RedisLockStore):  # type: ignore[misc]
    """Rasa's `RedisLockStore` (same settings, same keys) with both fixes above."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        """Takes the `lock_store` section of endpoints.yml, as Rasa passes it to custom stores.

        Args:
            endpoint_config: `url` is the Redis host; the other keys (port, db, password,
                key_prefix, use_ssl...) are those of Rasa's `RedisLockStore`.
            kwargs: Rasa's keyword arguments directly (tests), when no endpoint_config.
        """
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs}
        super().__init__(**kwargs)

    def _modify(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        import redis  # Rasa's dependency; imported here like Rasa's own store does

        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    pipe.watch(key)  # EXEC fails if another server writes the key meanwhile
                    stored = pipe.get(key)
                    lock = (
                        TicketLock.from_dict(json.loads(stored))
                        if stored
                        else TicketLock(conversation_id)
                    )
                    result = change(lock)
                    pipe.multi()
                    if lock.tickets:
                        # The key lives as long as its last ticket: a dead server's lock goes.
                        last_expiry = max(t.expires for t in lock.tickets)
                        ttl_ms = max(1, int((last_expiry - time.time()) * 1000) + 1000)
                        pipe.set(key, lock.dumps(), px=ttl_ms)
                    else:
                        pipe.delete(key)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue
        raise LockError(f"Could not update the lock of conversation '{conversation_id}'.")


class InMemoryLockStore(AtomicTicketLocking, rasa_lock_store.InMemoryLockStore):  # type: ignore[misc]
    """Rasa's in-memory store with the same behaviour (one server only; the unit tests)."""

    def _modify(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        # One event loop, no await inside: already atomic.
        lock = self.conversation_locks.get(conversation_id) or TicketLock(conversation_id)
        result = change(lock)
        if lock.tickets:
            self.conversation_locks[conversation_id] = lock
        else:
            self.conversation_locks.pop(conversation_id, None)
        return result
