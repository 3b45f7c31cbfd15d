"""The `rasa` command line with this project's fixes to Rasa 3.6 installed.

`python -m bot.rasa_ext.cli run --enable-api ...` is `rasa run --enable-api ...` plus the
fixes below, installed before Rasa loads anything; every argument goes to Rasa unchanged.
Runs in the Rasa environment.

* :mod:`bot.rasa_ext.action_validation`: the action server's answers are validated with a
  schema compiled once instead of at every custom action call (40-60 ms of CPU each);
* :mod:`bot.rasa_ext.sqlite_wal`: a SQLite tracker store commits in WAL mode (0.5 ms instead
  of 12 ms of blocked event loop per commit), with the same durability, and keeps its
  connection instead of opening one per database session;
* :mod:`bot.rasa_ext.idempotency`: a message delivered twice (a balancer's or a client's
  retry) is answered again but processed and stored once;
* :mod:`bot.rasa_ext.event_types`: an event's class is found in a table instead of a walk of
  every Event subclass, for each event of each conversation loaded.

Measured both ways by `make bench` (bench/results.md, "A/B").
"""

from __future__ import annotations

import sys

from rasa.__main__ import main as rasa_main

from bot.rasa_ext import action_validation, event_types, idempotency, sqlite_wal


def main() -> None:
    """Installs the fixes, then runs Rasa's own command line."""
    action_validation.install()
    sqlite_wal.install()
    event_types.install()
    idempotency.install()
    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
