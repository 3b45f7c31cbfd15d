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
  every Event subclass, for each event of each conversation loaded;
* :mod:`bot.rasa_ext.graph_runner`: the model's graph (NLU, then policies: twice a turn) is run
  by a plain depth-first walk instead of dask's scheduler (same results, ~5 % less CPU);
* :mod:`bot.rasa_ext.constant_time_token`: the HTTP API's token is compared in constant time
  (``hmac.compare_digest``; Rasa's own check is ``==``);
* :mod:`bot.rasa_ext.endpoint_sessions`: calls to the action server and the answer service
  (NLG) reuse one HTTP session and its keep-alive connections instead of a new session and
  TCP connection per call. The answer service's answers are validated with a schema compiled
  once, like the action server's (:mod:`bot.rasa_ext.action_validation`);
* :mod:`bot.rasa_ext.action_failures`: a custom action call that fails (the action server
  killed mid-call) no longer ends the turn in silence: a read-only action is called again, any
  other failure is answered "send the message again" (with a marker the clients read), inside a
  form too (Rasa's form no longer drops it nor asks a question after it);
* :mod:`bot.rasa_ext.tracker_queries`: the SQL tracker store's count before each save and its
  conversation load are queries built once (SQLAlchemy Core: the same rows, without building
  the ORM query and one object per stored event at each call);
* :mod:`bot.rasa_ext.rule_lookup`: RulePolicy's rule lookup (every rule key checked against
  the last states, twice a turn) is remembered for the states it has seen (same predictions).

Each is installed only on the Rasa version it was written for (3.6.x, checked by
:func:`bot.rasa_ext._install.patch_rasa`): on another one it leaves Rasa's code with a warning,
except ``constant_time_token``, which refuses to start (first in :data:`FIXES`, so nothing is
installed before it stops). Measured both ways by `make bench` (bench/results.md, "A/B").
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping, Sequence

from bot.secret_rules import secret_problem

#: The fixes above (modules of bot.rasa_ext, each with an ``install()``), in the order
#: :func:`install_fixes` installs them.
FIXES = (
    "constant_time_token",
    "action_validation",
    "endpoint_sessions",
    "action_failures",
    "sqlite_wal",
    "tracker_queries",
    "event_types",
    "graph_runner",
    "rule_lookup",
    "idempotency",
)
#: Rasa commands that serve (and so need real secrets in the production profile).
SERVING_COMMANDS = frozenset({"run", "shell"})
#: The API token's variable: read here and handed to Rasa inside this process, so it never
#: appears on a command line (which every local user can read with `ps`).
TOKEN_ENV_VAR = "RASA_TOKEN"  # noqa: S105 (the variable's name, not a secret)


def with_token_from_environment(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """Rasa's arguments, with `--auth-token` from RASA_TOKEN added to a `run` that has none.

    Only this process's copy of the arguments changes: the command line the system shows
    (`/proc/<pid>/cmdline`, `ps`) stays the one it was started with, without the token.
    """
    arguments = list(argv)
    token = environ.get(TOKEN_ENV_VAR)
    if token and arguments[:1] == ["run"] and auth_token_of(arguments) is None:
        # One argument (`--auth-token=...`): a token may start with "-" (token_urlsafe draws
        # from A-Z a-z 0-9 - _), which argparse would take for an option and refuse.
        arguments.append(f"--auth-token={token}")
    return arguments


def auth_token_of(argv: Sequence[str]) -> str | None:
    """The value of `--auth-token` in Rasa's arguments, if any."""
    token = None
    for index, argument in enumerate(argv):
        if argument == "--auth-token" and index + 1 < len(argv):
            token = argv[index + 1]
        elif argument.startswith("--auth-token="):
            token = argument.partition("=")[2]
    return token


def production_problems(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """What makes a Rasa server of the production profile unsafe to start, one sentence each.

    Its API token (`--auth-token`, from RASA_TOKEN), and the secrets its endpoints file sends
    the action servers (ACTION_SERVER_SECRET) and the answer service (ANSWER_SERVICE_TOKEN):
    set, long, random, no placeholder (bot/secret_rules.py).
    """
    if environ.get("BOT_PROFILE") != "production" or not argv or argv[0] not in SERVING_COMMANDS:
        return []
    checks = [
        ("RASA_TOKEN (--auth-token)", auth_token_of(argv)),
        ("ACTION_SERVER_SECRET", environ.get("ACTION_SERVER_SECRET")),
        ("ANSWER_SERVICE_TOKEN", environ.get("ANSWER_SERVICE_TOKEN")),
    ]
    return [problem for name, value in checks if (problem := secret_problem(name, value))]


def install_fixes() -> None:
    """Installs this project's fixes to Rasa (:data:`FIXES`, in that order), after the preload.

    What every Rasa process of the project runs before Rasa loads anything: the launcher
    (:func:`main`) and the benchmarks that load a model in their own process (bench/parse_cpu.py).
    """
    from bot.rasa_ext.preload import preload

    preload()  # before Rasa imports TensorFlow: 2 s of CPU instead of 11 (bot/rasa_ext/preload.py)
    for name in FIXES:
        importlib.import_module(f"bot.rasa_ext.{name}").install()


def main() -> None:
    """Checks the production secrets, installs the fixes, then runs Rasa's own command line."""
    arguments = with_token_from_environment(sys.argv[1:], os.environ)
    problems = production_problems(arguments, os.environ)
    if problems:
        # One line, before Rasa is even imported; no traceback.
        raise SystemExit("error: BOT_PROFILE=production: " + "; ".join(problems) + ".")
    install_fixes()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *arguments]
    rasa_main()


if __name__ == "__main__":
    main()
