"""Opens Rasa's command-line chat on the real model, for support agents (`make shell`).

Usage (the Makefile targets set up the environments, the model and the demo orders first)::

    python scripts/shell.py shell [--store btomic]        # make shell [STORE=btomic]
    python scripts/shell.py interactive [--store btomic]  # make interactive [STORE=btomic]

What it starts, and why:

* the action server (`devstack.stack.action_service`) on `ACTION_SERVER_PORT` (5055), reading the
  orders database of `DATABASE_URL` (the demo orders by default), so order lookups answer
  exactly as they do for customers;
* an endpoints file, `var/shell-endpoints.yml`, pointing Rasa at that action server and at
  *no* tracker store: Rasa then keeps the conversations in memory, so an agent's tries never
  mix with the conversations of `make run` (`var/rasa-tracker.db`) or of production;
* `rasa shell` (or `rasa interactive`) in the foreground, on the real `models/bot.tar.gz`,
  with `DEFAULT_STORE` set to the chosen shop: the command-line channel sends no metadata, so
  `bot.nlu.language.LanguageDetector` reads the shop from that variable.

`rasa interactive` is started through `scripts/rasa_interactive.py`, which only changes the
file names Rasa offers when the agent saves (see that file for why). The action server is
stopped when the shell ends, whatever happened.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.config import PROJECT_ROOT, VAR_DIR, get_settings
from bot.secret_rules import generate_secret
from bot.shops import resolve_store, shop_ids
from devstack.stack import (
    DEFAULT_MODEL,
    LOG_DIR,
    RASA_FIXES_MODULE,
    RASA_PYTHON,
    PortInUseError,
    ShutdownSignals,
    Stack,
    StackError,
    action_secret,
    action_service,
    answer_service,
    answer_token,
    become_subreaper,
    free_port,
    write_endpoints,
)

INTERACTIVE_WRAPPER = PROJECT_ROOT / "scripts" / "rasa_interactive.py"
SHELL_ENDPOINTS = VAR_DIR / "shell-endpoints.yml"


def rasa_command(mode: str, *, model: Path, endpoints: Path, port: int) -> list[str]:
    """The `rasa shell` / `rasa interactive` command line.

    The shell runs its own small Rasa server (the command-line channel talks to it over HTTP):
    it gets a free port on the loopback interface so it never collides with `make run`'s
    Rasa server on 5005.
    """
    # --quiet: Rasa's and spaCy's INFO lines would bury the conversation; warnings and errors
    # (an action server that does not answer) still show.
    common = [
        "--model",
        str(model),
        "--endpoints",
        str(endpoints),
        "--port",
        str(port),
        "--quiet",
    ]
    if mode == "shell":
        # `rasa shell` with the project's Rasa 3.6 fixes, as the Rasa server of `make run`.
        return [
            str(RASA_PYTHON),
            "-m",
            RASA_FIXES_MODULE,
            "shell",
            *common,
            "--interface",
            "127.0.0.1",
        ]
    # The visualisation server would take one more port (5006) and a browser: not needed.
    return [
        str(RASA_PYTHON),
        str(INTERACTIVE_WRAPPER),
        *common,
        "--skip-visualization",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        "data",
    ]


def run_foreground(argv: Sequence[str], env: dict[str, str]) -> int:
    """Runs the Rasa command attached to this terminal; returns its exit code.

    Ctrl-C reaches the whole foreground process group, Rasa included: Rasa decides what it
    means (leave the prompt, or stop loading), and this process only waits for it to end.
    SIGTERM or SIGHUP (a closed terminal, a process manager) reach only this process: they
    are passed on to Rasa, and the session ends when Rasa has.
    """
    process = subprocess.Popen(list(argv), cwd=PROJECT_ROOT, env=env)  # noqa: S603 - fixed argv

    def pass_on(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, pass_on)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: starts the action server, then `rasa shell` or `rasa interactive`."""
    parser = argparse.ArgumentParser(prog="python scripts/shell.py", description=__doc__)
    parser.add_argument("mode", choices=["shell", "interactive"])
    parser.add_argument(
        "--store",
        choices=shop_ids(),
        default=None,
        help="the shop the answers are for (default: DEFAULT_STORE, else the registry's default)",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args(argv)

    if not args.model.exists():
        print(
            f"No trained model at {args.model}: run `make {args.mode}`, which trains one first.",
            file=sys.stderr,
        )
        return 1
    settings = get_settings()
    store = resolve_store(args.store, settings.default_store)
    env = {"DEFAULT_STORE": store}
    action_port = settings.action_server_port
    # The answer service renders every text (Rasa's NLG endpoint): it runs beside the action
    # server, on ANSWER_SERVICE_PORT, with a token of this run.
    answer_port, token = settings.answer_service_port, answer_token()
    # The action server answers only calls carrying this run's secret (Rasa sends it).
    secret = action_secret()
    stack = Stack(
        [
            action_service(port=action_port, secret=secret, env=env),
            answer_service(port=answer_port, env={**env, "ANSWER_SERVICE_TOKEN": token}),
        ],
        log_dir=LOG_DIR,
    )
    endpoints = write_endpoints(
        SHELL_ENDPOINTS,
        action_port=action_port,
        tracker_db=None,
        action_secret=secret,
        answer_port=answer_port,
        answer_token=token,
    )

    # The action server's workers are adopted if it dies, and stopped with it; SIGTERM or
    # SIGHUP while it starts stop it (once the shell runs, they end the shell first).
    become_subreaper()
    signals = ShutdownSignals().install()
    # The URL may hold a password (PostgreSQL): never print it.
    orders = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"Starting the action server on port {action_port} (orders: {orders})...", flush=True)
    try:
        stack.start()
    except PortInUseError as exc:
        print(
            f"error: the action server cannot start: {exc}\n"
            f"If `make run` is running, it already serves the bot: chat at "
            f"http://localhost:{settings.gateway_port}/ or stop it first; or use another port: "
            f"`ACTION_SERVER_PORT={action_port + 1} make {args.mode}`.",
            file=sys.stderr,
        )
        return 1
    except StackError as exc:
        print(f"error: the action server could not start. {exc}", file=sys.stderr)
        signals.stopping()
        stack.stop()
        return 1
    except KeyboardInterrupt:
        signals.stopping()
        stack.stop()
        return 0
    # While the agent chats, a crashed action server is restarted (and said so).
    supervisor = stack.supervise_in_background()
    try:
        print(
            f"Action server ready (log: {stack.services[0].log_path}).\n"
            f"Opening `rasa {args.mode}` on {args.model} for the shop '{store}' (loading the "
            "model takes about 20 seconds). Conversations are kept in memory only. Type /stop "
            "or press Ctrl-C to leave.",
            flush=True,
        )
        rasa_env = {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "DEFAULT_STORE": store,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # Rasa 3.6 pins SQLAlchemy 1.4 and warns about 2.0 at every start: noise for agents.
            # (Other libraries' deprecation warnings remain: sanic-cors turns them back on.)
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            # `rasa interactive` serves Rasa's HTTP API: it needs a token of this session
            # (scripts/rasa_interactive.py), never written anywhere, like every Rasa API of the
            # project. `rasa shell` serves no API.
            "RASA_TOKEN": generate_secret(),
        }
        command = rasa_command(args.mode, model=args.model, endpoints=endpoints, port=free_port())
        code = run_foreground(command, rasa_env)
        if code not in (0, -signal.SIGINT, -signal.SIGTERM, 130):
            print(f"`rasa {args.mode}` exited with code {code}.", file=sys.stderr)
        if supervisor.stop() == 1:
            print("The action server kept crashing during the session.", file=sys.stderr)
        return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM, 130) else 1
    except KeyboardInterrupt:
        return 0
    finally:
        signals.stopping()
        supervisor.stop()
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
