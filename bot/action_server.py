"""The action server, internal: rasa-sdk's server behind a shared secret and a body cap.

`python -m bot.action_server --actions actions --port 5055 [--host 127.0.0.1]` is
`python -m rasa_sdk --actions actions --port 5055` with these differences, applied before any
action runs:

* it listens on the loopback unless told otherwise (`--host 0.0.0.0` in a container, where
  the network policy is the fence); rasa-sdk listens on every interface;
* every call except `GET /health` must carry the shared secret Rasa sends: the header
  ``X-Action-Secret`` (the ``headers:`` of Rasa's ``action_endpoint``), compared in constant
  time with ``ACTION_SERVER_SECRET``. A call without it, or with another, gets 401 and no
  action runs: a hand-written tracker posted to `/webhook` gets no order data. The secret
  travels in a header, not in Rasa's ``token`` query parameter, because URLs end up in logs
  and error texts. The server refuses to start without the variable (and, in the production
  profile, with a short or placeholder one: :mod:`bot.secret_rules`);
* request bodies are capped (``ACTION_SERVER_MAX_BODY_BYTES``, 8 MiB by default): a larger
  body gets 413 as soon as its ``Content-Length`` (or its chunks) say so, before it is read;
  a deflate-compressed body (what Rasa sends with ``COMPRESS_ACTION_SERVER_REQUEST=true``) is
  inflated with the same cap on its output, so a compression bomb gets 413 after inflating at
  most the cap, instead of rasa-sdk's unbounded ``zlib.decompress``;
* no CORS headers (rasa-sdk allows every origin by default): no browser page may call it.

Runs in the app environment. `devstack.stack` starts it for `make run`, `make shell`, the tests and
`make scale-demo`; the deploy files run it in the app image.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
import zlib
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.secret_rules import secret_problem

if TYPE_CHECKING:
    from sanic import HTTPResponse, Request, Sanic

logger = logging.getLogger(__name__)

SECRET_ENV_VAR = "ACTION_SERVER_SECRET"  # noqa: S105 - the variable's name, not a secret
SECRET_HEADER = "X-Action-Secret"  # noqa: S105 - a header's name, not a secret
MAX_BODY_ENV_VAR = "ACTION_SERVER_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
#: Paths answered without the secret: the health check of the supervisor and Kubernetes.
OPEN_PATHS = frozenset({"/health"})


class ConfigurationError(SystemExit):
    """A setting the action server needs is missing or unusable: one sentence, no traceback."""


def configured_secret(environ: Mapping[str, str] = os.environ) -> str:
    """The shared secret from the environment; refuses a missing one (and a weak one in the
    production profile)."""
    secret = environ.get(SECRET_ENV_VAR, "")
    if not secret:
        raise ConfigurationError(
            f"error: {SECRET_ENV_VAR} is not set: the action server refuses to start without "
            "the shared secret Rasa sends (`make run` generates one per run; in production set "
            "it for Rasa and the action servers alike)."
        )
    if environ.get("BOT_PROFILE", "local") == "production":
        problem = secret_problem(SECRET_ENV_VAR, secret)
        if problem:
            raise ConfigurationError(f"error: BOT_PROFILE=production: {problem}.")
    return secret


def max_body_bytes(environ: Mapping[str, str] = os.environ) -> int:
    """The body cap from the environment (bytes, before and after decompression)."""
    raw = environ.get(MAX_BODY_ENV_VAR, "")
    if not raw:
        return DEFAULT_MAX_BODY_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1024:
        raise ConfigurationError(
            f"error: {MAX_BODY_ENV_VAR} must be a number of bytes of at least 1024, not {raw!r}."
        )
    return value


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of the secret a caller sent with the expected one."""
    # Compared even when absent, so a missing header costs the same as a wrong one.
    return hmac.compare_digest((given or "").encode("utf-8"), expected.encode("utf-8"))


class InflatedTooLarge(ValueError):
    """A compressed body inflates to more than the cap."""


def inflate_capped(body: bytes, cap: int) -> bytes:
    """Inflates a zlib (HTTP ``deflate``) body, refusing one whose output exceeds `cap`.

    At most `cap` + 1 bytes are ever produced, whatever the ratio of the input.

    Raises:
        InflatedTooLarge: the output would be larger than `cap`.
        zlib.error: the body is not zlib data.
    """
    inflater = zlib.decompressobj()
    out = inflater.decompress(body, cap + 1)
    if len(out) > cap or inflater.unconsumed_tail:
        raise InflatedTooLarge(cap)
    if not inflater.eof:
        raise zlib.error("incomplete deflate stream")
    return out


def too_large_body(cap: int) -> dict[str, object]:
    """The JSON body of a 413."""
    return {
        "error": (
            f"request body too large: the action server accepts at most {cap} bytes "
            "(after decompression)"
        ),
        "max_bytes": cap,
    }


def create_app(actions_package: str, secret: str, cap: int) -> Sanic[Any, Any]:
    """rasa-sdk's Sanic app for `actions_package`, behind the secret and the cap.

    Module-level (and given only plain values) so that Sanic's worker processes can build it
    again from a pickled :func:`functools.partial`.
    """
    from rasa_sdk import utils as sdk_utils
    from rasa_sdk.endpoint import create_app as sdk_create_app
    from rasa_sdk.executor import ActionExecutor
    from sanic import response
    from sanic.exceptions import PayloadTooLarge

    _configure_logging()
    sdk_utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(actions_package)
    # No CORS origin: rasa-sdk's default "*" would let any web page call it from a browser.
    app: Sanic[Any, Any] = sdk_create_app(executor, cors_origins="", auto_reload=False)
    app.config.REQUEST_MAX_SIZE = cap

    async def guard(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS and request.method in {"GET", "HEAD"}:
            return None
        given = request.headers.get(SECRET_HEADER)
        if not secret_matches(given, secret):
            logger.warning(
                "Refused %s %s from %s: %s %s",
                request.method,
                request.path,
                request.ip,
                "wrong" if given else "no",
                SECRET_HEADER,
            )
            return response.json(
                {"error": f"missing or wrong {SECRET_HEADER}: this server answers Rasa only"},
                status=401,
            )
        encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
        if encoding == "deflate":
            try:
                inflate_capped(request.body, cap)
            except InflatedTooLarge:
                logger.warning(
                    "Refused %s: its body inflates to more than %d bytes", request.path, cap
                )
                return response.json(too_large_body(cap), status=413)
            except zlib.error:
                return response.json({"error": "the body is not valid deflate data"}, status=400)
        elif encoding not in {"", "identity"}:
            return response.json(
                {"error": f"unsupported Content-Encoding {encoding!r} (only deflate)"}, status=415
            )
        return None

    # Before rasa-sdk's own middleware (its CORS preflight answer).
    app.on_request(guard, priority=100)

    async def body_too_large(_request: Request, _exception: Exception) -> HTTPResponse:
        # Sanic raises this while reading a body over REQUEST_MAX_SIZE (from Content-Length,
        # before reading it); rasa-sdk's catch-all handler would turn it into a 500.
        return response.json(too_large_body(cap), status=413)

    app.error_handler.add(PayloadTooLarge, body_too_large)
    return app


def _configure_logging(level: int = logging.WARNING) -> None:
    """Warnings and errors (a failed action's traceback, a refused call) by default: the
    worker that runs the actions logs nothing about a customer's turn at INFO, as under
    rasa-sdk, whose logging setting never reached its worker process."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve(*, actions_package: str, host: str, port: int, secret: str, cap: int) -> None:
    """Runs the server in the foreground (rasa-sdk's own way: Sanic's worker manager)."""
    from rasa_sdk import utils as sdk_utils
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    loader = AppLoader(factory=partial(create_app, actions_package, secret, cap))
    app = loader.load()
    app.prepare(host=host, port=port, workers=sdk_utils.number_of_sanic_workers())
    logger.info(
        "Action endpoint is up and running on http://%s:%s (%s required, bodies <= %d bytes)",
        host,
        port,
        SECRET_HEADER,
        cap,
    )
    Sanic.serve(primary=app, app_loader=loader)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bot.action_server", description=__doc__)
    parser.add_argument("--actions", default="actions", help="package of the custom actions")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument(
        "--host",
        default=os.environ.get("ACTION_SERVER_HOST", "127.0.0.1"),
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 in a container)",
    )
    args = parser.parse_args(argv)
    # The main process only starts the worker: its start line at INFO.
    _configure_logging(logging.INFO)
    secret = configured_secret()
    cap = max_body_bytes()
    # The actions' settings, checked now rather than at the first call (one line, no traceback:
    # e.g. BOT_PROFILE=production with a placeholder secret).
    from bot.config import get_settings

    get_settings()
    serve(actions_package=args.actions, host=args.host, port=args.port, secret=secret, cap=cap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
