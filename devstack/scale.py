"""The production profile on one machine: several Rasa and action servers behind nginx.

`make scale-demo` runs :func:`main`; the scale tests (tests/scale) and the throughput
benchmark (scripts/bench_scale.py) build the same :class:`ScaleStack` on free ports. It is the
deployment of deploy/ without containers:

* N Rasa servers (`rasa run --auth-token ...`), all started with the production endpoints file
  `deploy/rasa/endpoints.yml`, filled from environment variables: one PostgreSQL tracker store
  (its database and tables are created by Rasa itself) and one Redis lock store;
* M action servers, K answer services (Rasa's NLG endpoint) and the gateway(s), in the
  production profile (`BOT_PROFILE=production`), on a PostgreSQL orders database migrated by
  Alembic;
* nginx (Debian's package) balancing round-robin between the Rasa servers, between the
  action servers and between the answer services, with its configuration rendered from
  `deploy/nginx/nginx.conf.template`
  into the work directory and started in the foreground (`daemon off`), its pid file, logs
  and temporary files there too, so nothing under /etc/nginx is touched.

Every process is a child of this one, in its own process group (devstack/stack.py): Ctrl-C stops
them all.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config import PROJECT_ROOT, VAR_DIR
from bot.secret_rules import generate_secret
from bot.shops import resolve_store
from devstack.stack import (
    DEFAULT_MODEL,
    PortInUseError,
    Service,
    Stack,
    StackError,
    action_service,
    answer_service,
    free_port,
    gateway_service,
    port_is_free,
    rasa_service,
    serve,
)

logger = logging.getLogger(__name__)

NGINX_TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "nginx.conf.template"
PRODUCTION_ENDPOINTS = PROJECT_ROOT / "deploy" / "rasa" / "endpoints.yml"
SCALE_DIR = VAR_DIR / "scale"
DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Seconds a Rasa server's lock ticket lives. Rasa's default (60 s) is how long a conversation
# whose server died in the middle of a turn waits before another server may take it; the
# longest turn here takes a few seconds even under load, so 20 s keeps a safe margin.
DEFAULT_LOCK_LIFETIME_S = 20
# nginx leaves a failed server out of the rotation for this long, then probes it again.
DEFAULT_FAIL_TIMEOUT_S = 10
# What a Rasa turn may take on top of waiting for a lock (deploy/nginx/nginx.conf.template).
TURN_MARGIN_S = 10


def read_timeouts(lock_lifetime_s: int) -> dict[str, str]:
    """nginx's timeouts for a lock lifetime: a hung Rasa server costs a turn at most
    ``lock_lifetime_s + TURN_MARGIN_S`` when nothing else notices it (with the supervisor of
    `make scale-demo`, about the lock lifetime: :func:`hang_after_s`); a hung action server
    half the lock lifetime, a hung answer service a quarter (at least 5 s: a text renders in
    milliseconds)."""
    rasa = lock_lifetime_s + TURN_MARGIN_S
    actions = max(5, lock_lifetime_s // 2)
    answers = max(5, lock_lifetime_s // 4)
    return {
        "rasa_read_timeout": f"{rasa}s",
        # Room for one retry on another server after a timeout, and its own turn.
        "rasa_retry_window": f"{2 * rasa + TURN_MARGIN_S}s",
        "actions_read_timeout": f"{actions}s",
        "actions_retry_window": f"{2 * actions + TURN_MARGIN_S}s",
        "answers_read_timeout": f"{answers}s",
        "answers_retry_window": f"{2 * answers + TURN_MARGIN_S}s",
    }


def hang_after_s(lock_lifetime_s: int) -> float:
    """How long the supervisor of the scaled stack lets a server leave its health check
    unanswered before it kills it: half the lock lifetime.

    A frozen Rasa server (SIGSTOP, a dead event loop) keeps its turns' lock tickets until
    they expire, a lock lifetime after they were issued. Killed within half of it (plus one
    look's timeout), its connections close, nginx sends their turns to another server at
    once, and they wait there for those tickets: a frozen server then costs a turn what a
    dead one does, about the lock lifetime, instead of nginx's read timeout (the lifetime
    plus a margin) before the retry and the wait on top.
    """
    return max(4.0, lock_lifetime_s / 2)


_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class ScaleError(StackError):
    """Something the scaled stack needs (nginx, PostgreSQL, Redis) is missing or broken."""


# --- nginx ---------------------------------------------------------------------------------------


def upstream_lines(addresses: Sequence[str], *, fail_timeout_s: int) -> str:
    """The `server` lines of an nginx upstream block (round-robin, passive health checks)."""
    return "\n".join(
        f"        server {address} max_fails=1 fail_timeout={fail_timeout_s}s;"
        for address in addresses
    )


def render_nginx_config(
    *,
    rasa_servers: Sequence[str],
    action_servers: Sequence[str],
    answer_servers: Sequence[str],
    rasa_listen: str,
    actions_listen: str,
    answers_listen: str,
    runtime_dir: str,
    error_log: str,
    access_log: str,
    user: str | None = None,
    fail_timeout_s: int = DEFAULT_FAIL_TIMEOUT_S,
    lock_lifetime_s: int = DEFAULT_LOCK_LIFETIME_S,
    template: Path = NGINX_TEMPLATE,
) -> str:
    """Fills `deploy/nginx/nginx.conf.template`.

    Args:
        rasa_servers: `host:port` of each Rasa server.
        action_servers: `host:port` of each action server.
        answer_servers: `host:port` of each answer service (Rasa's NLG endpoint).
        rasa_listen: where nginx listens for Rasa traffic (`127.0.0.1:5005`, `5005`).
        actions_listen: where nginx listens for the Rasa servers' action calls.
        answers_listen: where nginx listens for the Rasa servers' NLG calls.
        runtime_dir: folder of the pid file and temporary files (must be writable).
        error_log: nginx's error log (a file, or /dev/stderr in a container).
        access_log: the access log, one line per request with the upstream that served it.
        user: the `user` directive's value; needed only when nginx starts as root, whose
            workers would otherwise run as `nobody` and could not write to `runtime_dir`.
        fail_timeout_s: how long a failed server stays out of the rotation.
        lock_lifetime_s: the Rasa servers' TICKET_LOCK_LIFETIME, which sets the read timeouts
            (:func:`read_timeouts`).
        template: the template file.

    Raises:
        ValueError: a placeholder of the template has no value.
    """
    values = {
        "rasa_servers": upstream_lines(rasa_servers, fail_timeout_s=fail_timeout_s),
        "action_servers": upstream_lines(action_servers, fail_timeout_s=fail_timeout_s),
        "answer_servers": upstream_lines(answer_servers, fail_timeout_s=fail_timeout_s),
        "rasa_listen": rasa_listen,
        "actions_listen": actions_listen,
        "answers_listen": answers_listen,
        "runtime_dir": runtime_dir,
        "error_log": error_log,
        "access_log": access_log,
        "user_directive": f"user {user};" if user else "# (no `user`: not started as root)",
        **read_timeouts(lock_lifetime_s),
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"{template}: no value for the placeholder {{{{{name}}}}}")
        return values[name]

    generated = (
        f"# Generated from deploy/nginx/{template.name} by devstack/scale.py: "
        "edit the template, not this file.\n"
    )
    return generated + _PLACEHOLDER.sub(fill, template.read_text(encoding="utf-8"))


def nginx_binary() -> Path:
    """Debian's nginx, or a one-sentence error saying how to install it."""
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ScaleError(
            "nginx is not installed: `make scale-demo` installs Debian's package "
            "(or run `apt-get install nginx`)."
        )
    return Path(found)


def nginx_service(*, config: Path, prefix: Path, port: int) -> Service:
    """nginx in the foreground (`daemon off`), so it is a child process like the others.

    `-p` and `-e` keep every file nginx opens, even before it reads its configuration,
    under `prefix` instead of /var/log/nginx and /var/lib/nginx.
    """
    argv = [
        str(nginx_binary()),
        "-p",
        str(prefix),
        "-c",
        str(config),
        "-e",
        str(prefix / "nginx-error.log"),
        "-g",
        "daemon off;",
    ]
    return Service("nginx", argv, port, "/nginx-health", ready_timeout_s=20)


def write_nginx_config(
    work_dir: Path,
    *,
    rasa_ports: Sequence[int],
    action_ports: Sequence[int],
    rasa_listen_port: int,
    actions_listen_port: int,
    answer_ports: Sequence[int],
    answers_listen_port: int,
    fail_timeout_s: int = DEFAULT_FAIL_TIMEOUT_S,
    lock_lifetime_s: int = DEFAULT_LOCK_LIFETIME_S,
) -> Path:
    """Renders the template for loopback ports into `work_dir/nginx.conf`."""
    runtime = work_dir / "nginx"
    runtime.mkdir(parents=True, exist_ok=True)
    user = getpass.getuser() if os.geteuid() == 0 else None
    config = render_nginx_config(
        rasa_servers=[f"127.0.0.1:{port}" for port in rasa_ports],
        action_servers=[f"127.0.0.1:{port}" for port in action_ports],
        answer_servers=[f"127.0.0.1:{port}" for port in answer_ports],
        rasa_listen=f"127.0.0.1:{rasa_listen_port}",
        actions_listen=f"127.0.0.1:{actions_listen_port}",
        answers_listen=f"127.0.0.1:{answers_listen_port}",
        runtime_dir=str(runtime),
        error_log=str(runtime / "nginx-error.log"),
        access_log=str(runtime / "nginx-access.log"),
        user=user,
        fail_timeout_s=fail_timeout_s,
        lock_lifetime_s=lock_lifetime_s,
    )
    path = work_dir / "nginx.conf"
    path.write_text(config, encoding="utf-8")
    return path


COMPOSE_NGINX_CONFIG = PROJECT_ROOT / "deploy" / "nginx" / "compose.conf"
COMPOSE_LOCK_LIFETIME_S = 60


def compose_nginx_config() -> str:
    """The template rendered for deploy/compose.yaml (official nginx image, service names).

    `rasa` and `actions` are compose services with several replicas: nginx resolves each
    name to all of its containers when it starts. Logs go to the container's output.
    """
    return render_nginx_config(
        rasa_servers=["rasa:5005"],
        action_servers=["actions:5055"],
        answer_servers=["answers:5057"],
        rasa_listen="5005",
        actions_listen="5055",
        answers_listen="5057",
        runtime_dir="/var/cache/nginx",
        error_log="/dev/stderr",
        access_log="/dev/stdout",
        user="nginx",
        # deploy/production.env.example's TICKET_LOCK_LIFETIME (Rasa's default).
        lock_lifetime_s=COMPOSE_LOCK_LIFETIME_S,
    )


# --- PostgreSQL and Redis ------------------------------------------------------------------------


def database_url(server_url: str, database: str) -> str:
    """`server_url` (any database of the server) pointed at `database` instead."""
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def database_exists(server_url: str, database: str) -> bool:
    """Whether the PostgreSQL server of `server_url` has a database named `database`."""
    engine = create_engine(server_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            ).first()
            return found is not None
    finally:
        engine.dispose()


def create_database(server_url: str, database: str) -> str:
    """Creates `database` on the PostgreSQL server of `server_url`; returns its URL."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"not a plain database name: {database!r}")
    # CREATE DATABASE cannot run inside a transaction.
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        engine.dispose()
    return database_url(server_url, database)


def drop_database(server_url: str, database: str) -> None:
    """Drops `database` if it exists, closing any connection still open to it."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"not a plain database name: {database!r}")
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def check_postgres(server_url: str) -> None:
    """Raises a one-sentence ScaleError when the PostgreSQL server does not answer."""
    engine = create_engine(server_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        shown = make_url(server_url).render_as_string(hide_password=True)
        raise ScaleError(
            f"PostgreSQL does not answer at {shown} (set --postgres-url or SCALE_POSTGRES_URL): "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    finally:
        engine.dispose()


@dataclass(frozen=True)
class RedisAddress:
    """The parts of a `redis://[:password@]host:port/db` URL the Rasa lock store takes."""

    host: str
    port: int
    db: int
    password: str

    @classmethod
    def from_url(cls, url: str) -> RedisAddress:
        parts = urlsplit(url)
        if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
            raise ValueError(f"not a redis:// URL: {url!r}")
        path = parts.path.strip("/")
        return cls(
            host=parts.hostname,
            port=parts.port or 6379,
            db=int(path) if path else 0,
            password=parts.password or "",
        )


def check_redis(url: str) -> None:
    """Raises a one-sentence ScaleError when Redis does not answer PING."""
    import redis  # the app environment has it; imported here so devstack.scale imports cheaply

    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ScaleError(
            f"Redis does not answer at {url} (set --redis-url or SCALE_REDIS_URL): {exc}"
        ) from exc
    finally:
        client.close()


# --- the stack -----------------------------------------------------------------------------------


def rasa_production_env(
    *,
    action_server_url: str,
    tracker_url: str,
    login_database: str,
    redis: RedisAddress,
    key_prefix: str,
    lock_lifetime_s: int,
    answer_service_url: str,
    answer_service_token: str,
    action_server_secret: str,
) -> dict[str, str]:
    """The environment `deploy/rasa/endpoints.yml` is filled from (see that file)."""
    tracker = make_url(tracker_url)
    return {
        "BOT_PROFILE": "production",
        "ACTION_SERVER_URL": action_server_url,
        "ACTION_SERVER_SECRET": action_server_secret,
        "ANSWER_SERVICE_URL": answer_service_url,
        "ANSWER_SERVICE_TOKEN": answer_service_token,
        "DB_HOST": tracker.host or "127.0.0.1",
        "DB_PORT": str(tracker.port or 5432),
        "DB_USER": tracker.username or "postgres",
        "DB_PASSWORD": tracker.password or "",
        "DB_DATABASE": tracker.database or "rasa",
        "DB_LOGIN_DB": login_database,
        "REDIS_HOST": redis.host,
        "REDIS_PORT": str(redis.port),
        "REDIS_DB": str(redis.db),
        "REDIS_PASSWORD": redis.password,
        "REDIS_KEY_PREFIX": key_prefix,
        "TICKET_LOCK_LIFETIME": str(lock_lifetime_s),
    }


@dataclass
class ScaleConfig:
    """Everything one scaled stack needs; the defaults are those of `make scale-demo`."""

    orders_url: str
    tracker_url: str
    redis_url: str = DEFAULT_REDIS_URL
    # Database Rasa logs in to first to create the tracker database when it is missing.
    login_database: str = "postgres"
    rasa_ports: Sequence[int] = (5006, 5007)
    action_ports: Sequence[int] = (5056, 5057)
    gateway_ports: Sequence[int] = (8000,)
    rasa_balancer_port: int = 5005
    actions_balancer_port: int = 5055
    # The answer services (Rasa's NLG endpoint, bot/answers/service.py), nginx in front of
    # them, and their token.
    answer_ports: Sequence[int] = (5066, 5067)
    answers_balancer_port: int = 5065
    answer_token: str = field(default_factory=generate_secret)
    token: str = field(default_factory=generate_secret)
    # The shared secret Rasa sends the action servers (bot/action_server.py).
    action_secret: str = field(default_factory=generate_secret)
    # The inbound-mail webhook's secret (the production profile requires one).
    webhook_secret: str = field(default_factory=generate_secret)
    # Alphanumeric (Rasa ignores any other prefix): tests use their own, so that several
    # stacks can share one Redis.
    redis_key_prefix: str = "shopsupport"
    lock_lifetime_s: int = DEFAULT_LOCK_LIFETIME_S
    fail_timeout_s: int = DEFAULT_FAIL_TIMEOUT_S
    model: Path = DEFAULT_MODEL
    work_dir: Path = SCALE_DIR
    # The shop of messages that name none (None: the registry's default, bot.shops).
    default_store: str | None = None
    # Extra environment of the gateways (e.g. SMTP_URL for the e-mail worker).
    gateway_env: Mapping[str, str] = field(default_factory=dict)
    # Outbound mail (the production profile requires SMTP_URL). Unset (and not in
    # gateway_env): the first gateway runs the local SMTP catcher on this port and every
    # process sends there, as `make run` does (the demo mailbox shows the mail).
    smtp_url: str | None = None
    local_smtp_port: int = 2525

    @classmethod
    def on_free_ports(
        cls,
        *,
        orders_url: str,
        tracker_url: str,
        rasa: int = 2,
        actions: int = 2,
        answers: int = 2,
        gateways: int = 1,
        **options: Any,
    ) -> ScaleConfig:
        """A configuration whose every port is a free one (tests, benchmarks).

        `options` are any other fields (redis_url, work_dir, token...).
        """
        return cls(
            orders_url=orders_url,
            tracker_url=tracker_url,
            rasa_ports=[free_port() for _ in range(rasa)],
            action_ports=[free_port() for _ in range(actions)],
            gateway_ports=[free_port() for _ in range(gateways)],
            rasa_balancer_port=free_port(),
            actions_balancer_port=free_port(),
            answer_ports=[free_port() for _ in range(answers)],
            answers_balancer_port=free_port(),
            **{"local_smtp_port": free_port(), **options},
        )


class ScaleStack:
    """The processes of one scaled deployment, started and stopped together."""

    def __init__(self, config: ScaleConfig) -> None:
        self.config = config
        work = config.work_dir
        work.mkdir(parents=True, exist_ok=True)
        self.rasa_url = f"http://127.0.0.1:{config.rasa_balancer_port}"
        self.actions_url = f"http://127.0.0.1:{config.actions_balancer_port}"
        self.answers_url = f"http://127.0.0.1:{config.answers_balancer_port}"
        nginx_config = write_nginx_config(
            work,
            rasa_ports=config.rasa_ports,
            action_ports=config.action_ports,
            answer_ports=config.answer_ports,
            rasa_listen_port=config.rasa_balancer_port,
            actions_listen_port=config.actions_balancer_port,
            answers_listen_port=config.answers_balancer_port,
            fail_timeout_s=config.fail_timeout_s,
            lock_lifetime_s=config.lock_lifetime_s,
        )
        smtp_url = config.smtp_url or config.gateway_env.get("SMTP_URL")
        self.local_smtp_port: int | None = None
        if not smtp_url:
            self.local_smtp_port = config.local_smtp_port
            smtp_url = f"smtp://127.0.0.1:{config.local_smtp_port}"
        self.smtp_url = smtp_url
        app_env = {
            "BOT_PROFILE": "production",
            "SMTP_URL": smtp_url,
            "DATABASE_URL": config.orders_url,
            "RASA_TOKEN": config.token,
            "EMAIL_WEBHOOK_SECRET": config.webhook_secret,
            "DEFAULT_STORE": resolve_store(config.default_store),
            # The support console: its session key, and the shared tracker store it reads.
            "CONSOLE_SESSION_SECRET": os.environ.get("CONSOLE_SESSION_SECRET") or generate_secret(),
            "TRACKER_STORE_URL": config.tracker_url,
        }
        redis = RedisAddress.from_url(config.redis_url)
        # The gateways' chat rate limit: one budget per client in the lock store's Redis.
        app_env |= {
            "REDIS_HOST": redis.host,
            "REDIS_PORT": str(redis.port),
            "REDIS_DB": str(redis.db),
            "REDIS_PASSWORD": redis.password,
            "REDIS_KEY_PREFIX": config.redis_key_prefix,
        }
        rasa_env = {
            **rasa_production_env(
                action_server_url=f"{self.actions_url}/webhook",
                tracker_url=config.tracker_url,
                login_database=config.login_database,
                redis=redis,
                key_prefix=config.redis_key_prefix,
                lock_lifetime_s=config.lock_lifetime_s,
                answer_service_url=f"{self.answers_url}/nlg",
                answer_service_token=config.answer_token,
                action_server_secret=config.action_secret,
            ),
            "DEFAULT_STORE": resolve_store(config.default_store),
        }
        self.action_services = [
            action_service(
                port=port, secret=config.action_secret, env=app_env, name=f"action server {i}"
            )
            for i, port in enumerate(config.action_ports, start=1)
        ]
        self.answer_services = [
            answer_service(
                port=port,
                env={**app_env, "ANSWER_SERVICE_TOKEN": config.answer_token},
                name=f"answer service {i}",
            )
            for i, port in enumerate(config.answer_ports, start=1)
        ]
        self.rasa_services = [
            rasa_service(
                port=port,
                endpoints=PRODUCTION_ENDPOINTS,
                model=config.model,
                env=rasa_env,
                auth_token=config.token,
                name=f"Rasa server {i}",
            )
            for i, port in enumerate(config.rasa_ports, start=1)
        ]
        gateway_env = {**app_env, "RASA_URL": self.rasa_url, **config.gateway_env}
        catcher = {"LOCAL_SMTP_PORT": str(self.local_smtp_port)} if self.local_smtp_port else {}
        self.gateway_services = [
            gateway_service(
                port=port, env={**gateway_env, **(catcher if i == 1 else {})}, name=f"gateway {i}"
            )
            for i, port in enumerate(config.gateway_ports, start=1)
        ]
        self.nginx = nginx_service(
            config=nginx_config, prefix=work / "nginx", port=config.rasa_balancer_port
        )
        # Start order matters only for readiness waits: the gateways and nginx come up in
        # seconds, the Rasa servers take the longest (model loading).
        self.stack = Stack(
            [
                self.nginx,
                *self.action_services,
                *self.answer_services,
                *self.rasa_services,
                *self.gateway_services,
            ],
            log_dir=work / "log",
            # A server that stops answering is killed before the lock tickets it holds expire.
            hang_after_s=hang_after_s(config.lock_lifetime_s),
            check_every_s=1.0,
        )

    @property
    def gateway_urls(self) -> list[str]:
        return [service.base_url for service in self.gateway_services]

    def start(self) -> None:
        """Starts every process and waits until each is ready (nginx's second port too)."""
        for port, what in [
            (self.config.actions_balancer_port, "action servers"),
            (self.config.answers_balancer_port, "answer services"),
        ]:
            if not port_is_free(port):
                raise PortInUseError(
                    f"Port {port} for nginx ({what}) is already in use: stop the program using "
                    "it or choose another port."
                )
        if self.local_smtp_port and not port_is_free(self.local_smtp_port):
            raise PortInUseError(
                f"Port {self.local_smtp_port} for the local SMTP catcher is already in use: stop "
                "the program using it, or set LOCAL_SMTP_PORT (or SMTP_URL) to another."
            )
        self.stack.start()

    def stop(self) -> None:
        """Stops every process (those already dead are skipped)."""
        self.stack.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[ScaleStack]:
        """Started on entry, stopped on exit, whatever happened."""
        try:
            self.start()
            yield self
        finally:
            self.stop()

    def kill(self, service: Service) -> None:
        """Kills one process abruptly (SIGKILL to its process group): a crashed server."""
        if service.process is not None and service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(timeout=10)

    def freeze(self, service: Service) -> None:
        """Stops every process of one server (SIGSTOP to its process group): a hung server,
        which accepts connections (the kernel does) and never answers."""
        if service.process is not None and service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGSTOP)

    @property
    def nginx_access_log(self) -> Path:
        return self.config.work_dir / "nginx" / "nginx-access.log"

    def describe(self) -> str:
        """What runs where, for people."""
        config = self.config
        tracker = make_url(config.tracker_url).render_as_string(hide_password=True)
        orders = make_url(config.orders_url).render_as_string(hide_password=True)
        rows = [
            ("nginx -> Rasa servers", self.rasa_url, self.nginx),
            ("nginx -> action servers", self.actions_url, None),
            ("nginx -> answer services", self.answers_url, None),
            *[(s.name, s.base_url, s) for s in self.rasa_services],
            *[(s.name, s.base_url, s) for s in self.action_services],
            *[(s.name, s.base_url, s) for s in self.answer_services],
            *[(s.name, s.base_url, s) for s in self.gateway_services],
        ]
        lines = []
        for role, url, service in rows:
            pid = service.process.pid if service and service.process else None
            lines.append(f"  {role:<24} {url:<24} {'pid ' + str(pid) if pid else ''}")
        lines += [
            "",
            f"  tracker store (PostgreSQL): {tracker}",
            f"  lock store (Redis):         {config.redis_url} "
            f"(keys {config.redis_key_prefix}:lock:*)",
            f"  orders database:            {orders}",
            f"  Rasa API token:             {config.token}",
            f"  e-mail webhook secret:      {config.webhook_secret} (X-Webhook-Secret)",
            "  outbound mail:              "
            + (
                f"local SMTP catcher on 127.0.0.1:{self.local_smtp_port} (demo mailbox: "
                f"{self.gateway_urls[0]}/mailbox)"
                if self.local_smtp_port
                else f"SMTP_URL ({urlsplit(self.smtp_url).hostname}:{urlsplit(self.smtp_url).port})"
            ),
            f"  nginx configuration:        {config.work_dir / 'nginx.conf'}",
            f"  logs:                       {config.work_dir / 'log'}/ and {self.nginx_access_log}",
        ]
        return "\n".join(lines)


# --- make scale-demo -----------------------------------------------------------------------------


def prepare_demo_databases(server_url: str, orders_db: str, tracker_db: str) -> tuple[str, str]:
    """Creates the demo's orders database when missing, migrates it and fills it if empty.

    The tracker database is not created here: Rasa creates it (and its tables) itself, by
    logging in to the server's `postgres` database first (`DB_LOGIN_DB`).
    """
    import datetime as dt

    from bot.db.demo import DEFAULT_EXTRA, DEFAULT_SEED
    from bot.db.demo import run as load_demo  # the code path of `make demo-data`

    orders_url = database_url(server_url, orders_db)
    if not database_exists(server_url, orders_db):
        create_database(server_url, orders_db)
    print(
        load_demo(
            url=orders_url,
            replace=False,
            today=dt.date.today(),
            seed=DEFAULT_SEED,
            extra=DEFAULT_EXTRA,
        ),
        flush=True,
    )
    return orders_url, database_url(server_url, tracker_db)


def run_demo(args: argparse.Namespace) -> int:
    """Starts the scaled stack in the foreground until Ctrl-C; returns the exit code."""
    if not Path(args.model).exists():
        print("No trained model at models/bot.tar.gz: run `make model` first.", file=sys.stderr)
        return 1
    try:
        nginx_binary()
        check_postgres(args.postgres_url)
        check_redis(args.redis_url)
        orders_url, tracker_url = prepare_demo_databases(
            args.postgres_url, args.orders_db, args.tracker_db
        )
    except (ScaleError, ValueError, SQLAlchemyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    base = args.base_port
    config = ScaleConfig(
        orders_url=orders_url,
        tracker_url=tracker_url,
        redis_url=args.redis_url,
        rasa_ports=[base + 1 + i for i in range(args.rasa)],
        action_ports=[base + 51 + i for i in range(args.actions)],
        answer_ports=[base + 61 + i for i in range(args.answers)],
        gateway_ports=[args.gateway_port],
        rasa_balancer_port=base,
        actions_balancer_port=base + 50,
        answers_balancer_port=base + 60,
        token=os.environ.get("RASA_TOKEN") or generate_secret(),
        webhook_secret=os.environ.get("EMAIL_WEBHOOK_SECRET") or generate_secret(),
        action_secret=os.environ.get("ACTION_SERVER_SECRET") or generate_secret(),
        model=Path(args.model),
        smtp_url=os.environ.get("SMTP_URL") or None,
        local_smtp_port=int(os.environ.get("LOCAL_SMTP_PORT") or 2525),
    )
    try:
        scaled = ScaleStack(config)
    except (ScaleError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    gateway = scaled.gateway_urls[0]

    def ready(seconds: float) -> str:
        return (
            f"\nReady in {seconds:.0f} s. What runs where:\n"
            f"{scaled.describe()}\n\n"
            f"  Chat in the browser:  {gateway}/\n"
            f"  Try the balancer:     curl -s '{scaled.rasa_url}/webhooks/rest/webhook"
            f"?token={scaled.config.token}' "
            '-d \'{"sender": "demo", "message": "Where is my order OM-104233?"}\' -i '
            "| grep X-Upstream\n"
            "A server that dies or hangs is left out by nginx and restarted; "
            "press Ctrl-C to stop everything."
        )

    return serve(
        scaled.stack,
        starting=(
            f"Starting nginx, {args.rasa} Rasa servers, {args.actions} action servers, "
            f"{args.answers} answer services and the gateway (the Rasa servers take a minute "
            "to load the model)..."
        ),
        ready=ready,
        start=scaled.start,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m devstack.scale demo [--rasa 2] [--actions 2]`."""
    parser = argparse.ArgumentParser(prog="python -m devstack.scale")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the production profile on this machine, behind nginx")
    demo.add_argument("--rasa", type=int, default=2, help="number of Rasa servers (default 2)")
    demo.add_argument("--actions", type=int, default=2, help="number of action servers (default 2)")
    demo.add_argument(
        "--answers", type=int, default=2, help="number of answer services (default 2)"
    )
    demo.add_argument(
        "--postgres-url",
        default=os.environ.get("SCALE_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="any database of the PostgreSQL server to use (default: %(default)s)",
    )
    demo.add_argument(
        "--redis-url",
        default=os.environ.get("SCALE_REDIS_URL", DEFAULT_REDIS_URL),
        help="the Redis of the lock store (default: %(default)s)",
    )
    demo.add_argument("--orders-db", default="shop_orders", help="orders database name")
    demo.add_argument("--tracker-db", default="shop_tracker", help="tracker store database name")
    demo.add_argument(
        "--base-port",
        type=int,
        default=5005,
        help=(
            "nginx's Rasa port; Rasa servers on the next ones, actions 50 above, answer "
            "services 60 above (default 5005)"
        ),
    )
    demo.add_argument("--gateway-port", type=int, default=8000)
    demo.add_argument("--model", default=str(DEFAULT_MODEL))
    sub.add_parser(
        "compose-nginx",
        help=f"rewrite {COMPOSE_NGINX_CONFIG.relative_to(PROJECT_ROOT)} from the template",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "demo":
        return run_demo(args)
    if args.command == "compose-nginx":
        COMPOSE_NGINX_CONFIG.write_text(compose_nginx_config(), encoding="utf-8")
        print(f"wrote {COMPOSE_NGINX_CONFIG}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
