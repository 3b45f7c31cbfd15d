"""Each mail processed in a child process with a time budget, so no mail can take the worker down.

A mail whose processing crashes its process (a parser bug, memory) or freezes it (a regular
expression gone exponential, a server that accepts and never answers) would otherwise kill
or block the gateway's worker, and, re-queued after the lease, do it again forever.
:class:`IsolatedProcessor` keeps the claims, the retries and the dead letters in the gateway
and sends each claimed row to one long-lived child (``python -m bot.mail.isolation``), which
runs :meth:`MailProcessor.run_claimed` and answers with the row's new state. When the child
does not answer within ``EMAIL_PROCESSING_BUDGET_S`` it is killed (SIGKILL); when it dies,
the row is settled like any failed attempt (:meth:`MailProcessor.interrupted`: back for a
retry, or ``failed`` as ``poison`` at ``EMAIL_MAX_ATTEMPTS``, then a handoff; a row whose reply
was being sent goes to a human rather than risk a second reply), and a new child is started
for the next mail.

The protocol is one JSON object per line on the child's stdin / stdout: first the settings,
then ``{"inbox_id", "claimed_at"}`` per mail, answered by ``{"state"}``. The child builds its
processor with a factory named ``module:function`` (a context manager taking the settings;
:func:`bot.mail.worker.processor_for_child` by default, tests name their own), logs to its
stderr (the gateway's log), and dies with its parent (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import importlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from bot.config import PROJECT_ROOT, Settings
from bot.db.mailbox import InboxState
from bot.mail import inbox
from bot.mail.processor import MailProcessor
from bot.mail.questions import find_questions

logger = logging.getLogger(__name__)

DEFAULT_FACTORY = "bot.mail.worker:processor_for_child"
# Seconds a new child may take to import, load the sentence splitters and connect before it
# is counted as broken (about 20 s on 2 busy cores).
STARTUP_TIMEOUT_S = 120.0
_PR_SET_PDEATHSIG = 1

ProcessorFactory = Callable[[Settings], AbstractContextManager[MailProcessor]]


class ChildLost(RuntimeError):
    """The child process died, did not answer in its budget, or could not start."""


def die_with_parent() -> None:
    """Asks Linux to SIGKILL this process when its parent dies (no orphan keeps a mail)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Child:
    """One child process and its line protocol."""

    def __init__(self, settings: Settings, factory: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            [sys.executable, "-m", "bot.mail.isolation", "--factory", factory],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._buffer = b""
        self.send(settings.model_dump(mode="json"))
        ready = self.receive(STARTUP_TIMEOUT_S)
        if ready.get("ready") is not True:
            raise ChildLost(f"the mail child did not start: {ready}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ChildLost(f"the mail child is gone ({exc})") from exc

    def receive(self, timeout_s: float) -> dict[str, Any]:
        """The child's next line, or ChildLost when it dies or the time runs out."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildLost(f"no answer within {timeout_s:g} s")
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                code = self.process.wait()
                raise ChildLost(f"the mail child died (exit code {code})")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def kill(self) -> None:
        """SIGKILL (it may be frozen: SIGSTOP, a hung system call) and reap it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self, timeout_s: float = 10.0) -> None:
        """Asks the child to exit (end of its input), kills it if it does not."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout_s)
        self.kill()


class IsolatedProcessor(MailProcessor):
    """A :class:`MailProcessor` that runs each claimed mail in a child process, with a budget.

    Use it as a context manager (the child is stopped at the end). The parent side keeps
    its own database sessions and SMTP sender for the claims, retries and dead letters.
    """

    def __init__(
        self,
        *,
        budget_s: float,
        factory: str = DEFAULT_FACTORY,
        **options: Any,
    ) -> None:
        """Creates the processor; the child starts with the first mail.

        Args:
            budget_s: seconds one mail may take in the child before it is killed.
            factory: ``module:function`` the child builds its processor with.
            **options: :class:`MailProcessor`'s arguments.
        """
        super().__init__(**options)
        self._budget_s = budget_s
        self._factory = factory
        self._child: Child | None = None
        # Pids of the children this processor killed or lost (tests and logs read it).
        self.lost_children: list[int] = []

    def __enter__(self) -> IsolatedProcessor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the child, if any."""
        if self._child is not None:
            self._child.close()
            self._child = None

    def child_exited(self) -> bool:
        """Whether the child has exited (and was collected); False when there is none."""
        return self._child is not None and self._child.process.poll() is not None

    @property
    def child_pid(self) -> int | None:
        """The running child's pid (None before the first mail or after a loss)."""
        return self._child.pid if self._child is not None else None

    def run_claimed(self, claim: inbox.Claim) -> InboxState:
        """Sends the claimed row to the child; settles it when the child is lost."""
        if self._child is not None and self._child.process.poll() is not None:
            # Died between two mails (killed from outside): no mail is to blame.
            logger.error(
                "The mail child (pid %s) died with code %s between two mails; starting another",
                self._child.pid,
                self._child.process.returncode,
            )
            self.lost_children.append(self._child.pid)
            self._child.kill()
            self._child = None
        try:
            if self._child is None:
                self._child = Child(self._settings, self._factory)
            self._child.send(
                {"inbox_id": claim.inbox_id, "claimed_at": claim.claimed_at.isoformat()}
            )
            answer = self._child.receive(self._budget_s)
        except ChildLost as exc:
            return self._lost(claim, str(exc))
        return InboxState(answer["state"])

    def _lost(self, claim: inbox.Claim, why: str) -> InboxState:
        child, self._child = self._child, None
        if child is not None:
            child.kill()
            self.lost_children.append(child.pid)
        logger.error(
            "Processing inbox row %s was interrupted: %s; the mail child was killed",
            claim.inbox_id,
            why,
        )
        state = self.interrupted(claim, f"processing interrupted: {why}")
        return state if state is not None else InboxState.PROCESSING


def load_factory(name: str) -> ProcessorFactory:
    """The ``module:function`` factory."""
    module_name, _, function = name.partition(":")
    factory: ProcessorFactory = getattr(importlib.import_module(module_name), function)
    return factory


def child_main(factory_name: str) -> int:
    """The child: reads claims on stdin, runs them, answers each on stdout."""
    die_with_parent()
    # The parent's Ctrl-C is for the parent: it stops us by closing our input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s mail-child %(name)s: %(message)s"
    )
    # The protocol keeps the real stdout to itself; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    source = sys.stdin.buffer
    first = source.readline()
    if not first:
        return 0
    settings = Settings(_env_file=None, **json.loads(first))
    # Load spaCy's sentence splitters now: the first mail's budget is for the mail.
    for lang, sample in (("fr", "Bonjour. Livrez-vous en Suisse ?"), ("en", "Hi. Any news?")):
        find_questions(sample, lang)  # type: ignore[arg-type]
    with load_factory(factory_name)(settings) as processor:
        out.write(b'{"ready": true}\n')
        out.flush()
        for line in iter(source.readline, b""):
            request = json.loads(line)
            claim = inbox.Claim(
                inbox_id=int(request["inbox_id"]),
                claimed_at=dt.datetime.fromisoformat(request["claimed_at"]),
            )
            state = processor.run_claimed(claim)
            out.write(json.dumps({"state": state.value}).encode() + b"\n")
            out.flush()
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.mail.isolation")
    parser.add_argument("--factory", default=DEFAULT_FACTORY)
    sys.exit(child_main(parser.parse_args().factory))
