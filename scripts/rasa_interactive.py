"""`rasa interactive` with safe default file names (runs in the Rasa environment).

Usage: .venv-rasa/bin/python scripts/rasa_interactive.py [rasa interactive arguments]
(`make interactive` runs it through scripts/shell.py, with the action server started).

Three things of Rasa's interactive learning are changed, nothing else:

1. The files offered when the agent saves. Rasa offers `data/nlu.yml` and `domain.yml`, and
   would rewrite both from its parsed copy: every comment, the order of the examples and the
   layout of the 2,000-line domain would be lost, and the merged domain dumped in full. The
   offered defaults become files of their own (the agent can still type another path):

   * NLU examples -> data/nlu/interactive.yml      (merged at each save; trained like any file)
   * stories      -> data/interactive_stories.yml  (appended to)
   * domain       -> var/interactive-domain.yml    (outside the training data: copy by hand
     the response or action you created into domain.yml, if any)

2. The `language` and `store` entities of `bot.nlu.language.LanguageDetector`. They describe
   the whole message and its channel (start = end = 0), not words the customer typed, so
   they are left out of the text shown for confirmation (Rasa would show them as
   `[]{"entity": "language", ...}` annotations) and out of the saved examples and stories,
   where they would become bogus annotations. The slots they fill are set as usual, so the
   bot still answers in the conversation's language and for the chosen shop.

3. Rasa's HTTP API. `rasa interactive` serves it (`/conversations/.../execute`,
   `/tracker/events`...) on every interface (0.0.0.0) and without a token, and talks to it
   itself. Here it needs the token of RASA_TOKEN (scripts/shell.py draws one per session; the
   wrapper refuses to start without it), compared in constant time as in every Rasa server of
   the project (bot/rasa_ext/constant_time_token.py), the interactive client sends it, and the
   server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import copy
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import rasa.core.training.interactive as interactive
from rasa.__main__ import main
from rasa.core import run
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_ext import constant_time_token
from bot.rasa_ext.cli import TOKEN_ENV_VAR

SAFE_PATHS = {
    "nlu": "data/nlu/interactive.yml",
    "stories": "data/interactive_stories.yml",
    "domain": "var/interactive-domain.yml",
}
CONTEXT_ENTITIES = frozenset({"language", "store"})

_run_interactive_learning = interactive.run_interactive_learning
_as_md_message = interactive._as_md_message


def is_context_entity(entity: Any) -> bool:
    """Whether an entity is one of LanguageDetector's whole-message `language` / `store`."""
    return (
        isinstance(entity, dict)
        and entity.get("entity") in CONTEXT_ENTITIES
        and entity.get("start") == entity.get("end")
    )


def without_context_entities(parse_data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a parse result without the context entities."""
    cleaned = dict(parse_data)
    cleaned["entities"] = [e for e in parse_data.get("entities") or [] if not is_context_entity(e)]
    return cleaned


def clean_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation's events with the context entities removed from the user messages."""
    cleaned = copy.deepcopy(events)
    for event in cleaned:
        if event.get("event") == "user" and isinstance(event.get("parse_data"), dict):
            event["parse_data"] = without_context_entities(event["parse_data"])
            event["parse_data"].setdefault("text", event.get("text"))
    return cleaned


def with_clean_events(writer: Callable[..., None]) -> Callable[..., None]:
    """Wraps one of Rasa's `_write_*_to_file(path, events, ...)` to save cleaned events."""

    def write(path: str, events: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        writer(path, clean_events(events), *args, **kwargs)

    return write


def run_with_safe_paths(
    file_importer: Any,
    skip_visualization: bool = False,
    conversation_id: str | None = None,
    server_args: dict[str, Any] | None = None,
) -> None:
    """Rasa's `run_interactive_learning` with :data:`SAFE_PATHS` as the offered defaults.

    Rasa copies `--domain` (always set: it defaults to domain.yml) over its default export
    path, so that key is dropped from the arguments it reads the paths from; the domain used
    for the session is the model's and does not come from there.
    """
    dropped = ("domain", "nlu_data", "stories")
    args = {k: v for k, v in (server_args or {}).items() if k not in dropped}
    interactive.PATHS.update(SAFE_PATHS)
    extra = {} if conversation_id is None else {"conversation_id": conversation_id}
    _run_interactive_learning(file_importer, skip_visualization, server_args=args, **extra)


#: Where the interactive server listens: this machine only.
HOST = "127.0.0.1"


def serve_with_token(token: str) -> Callable[..., Any]:
    """Rasa's `_serve_application` for interactive learning, on :data:`HOST`, its client
    sending ``token`` (Rasa's listens on 0.0.0.0 and sends none)."""

    def serve(
        app: Any, file_importer: Any, skip_visualization: bool, conversation_id: str, port: int
    ) -> Any:
        endpoint = EndpointConfig(url=f"http://{HOST}:{port}", token=token)

        async def run_interactive_io(running_app: Any) -> None:
            await interactive.record_messages(
                endpoint=endpoint,
                file_importer=file_importer,
                skip_visualization=skip_visualization,
                conversation_id=conversation_id,
            )
            running_app.stop()

        app.add_task(run_interactive_io)
        interactive.update_sanic_log_level()
        app.run(host=HOST, port=port)
        return app

    return serve


def install_token(token: str) -> None:
    """Rasa's interactive API: ``token`` required (constant-time check), loopback only."""
    constant_time_token.install()
    run.configure_app = functools.partial(run.configure_app, auth_token=token)
    interactive._serve_application = serve_with_token(token)


def install() -> None:
    """Patches Rasa's interactive module (its functions call each other through globals)."""
    interactive.run_interactive_learning = run_with_safe_paths
    interactive._as_md_message = lambda parse_data: _as_md_message(
        without_context_entities(parse_data)
    )
    for name in ("_write_nlu_to_file", "_write_stories_to_file", "_write_domain_to_file"):
        setattr(interactive, name, with_clean_events(getattr(interactive, name)))


if __name__ == "__main__":
    rasa_token = os.environ.get(TOKEN_ENV_VAR)
    if not rasa_token:
        raise SystemExit(
            f"error: {TOKEN_ENV_VAR} is not set: Rasa's API would be open to every process of "
            "this machine (`make interactive` draws one per session)."
        )
    install()
    install_token(rasa_token)
    sys.argv = ["rasa", "interactive", *sys.argv[1:]]
    main()
