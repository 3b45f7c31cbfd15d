"""The deployment files, checked offline: no Docker engine or cluster runs here.

* the compose file against the Compose Specification's JSON schema (check-jsonschema's copy);
* the Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate --strict,
  so an unknown field is an error, not silently ignored);
* the Dockerfiles with hadolint (deploy/docker/.hadolint.yaml);
* the nginx configurations: `nginx -t` on the one `make scale-demo` renders, and the compose
  one must be the template's rendering;
* consistency: every variable of the production endpoints file is given by the compose file,
  the Kubernetes ConfigMap/Secret and `make scale-demo`; the Rasa image's entrypoint picks the
  profile from BOT_PROFILE.

Each validator is also shown a broken file, so a validator that accepts anything fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT
from devstack.scale import (
    COMPOSE_NGINX_CONFIG,
    PRODUCTION_ENDPOINTS,
    TURN_MARGIN_S,
    RedisAddress,
    compose_nginx_config,
    hang_after_s,
    rasa_production_env,
    write_nginx_config,
)
from tests.services import missing

BIN = Path(sys.executable).parent
DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def run(*argv: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def endpoints_variables() -> set[str]:
    """The ${VAR} names deploy/rasa/endpoints.yml reads (its comments aside)."""
    lines = PRODUCTION_ENDPOINTS.read_text(encoding="utf-8").splitlines()
    found = {
        name
        for line in lines
        if not line.lstrip().startswith("#")
        for name in re.findall(r"\$\{(\w+)\}", line)
    }
    assert len(found) > 10
    return found


# --- compose -------------------------------------------------------------------------------------


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path)


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_check_rejects_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE.read_text(encoding="utf-8").replace("    healthcheck:", "    healthchek:", 1),
        encoding="utf-8",
    )
    assert check_compose(broken).returncode != 0


def test_compose_gives_the_rasa_servers_every_endpoints_variable() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    assert endpoints_variables() <= set(services["rasa"]["environment"])
    assert services["rasa"]["environment"]["BOT_PROFILE"] == "production"
    assert services["rasa"]["environment"]["ACTION_SERVER_URL"] == "http://nginx:5055/webhook"
    # The app services share one environment: production profile, token, PostgreSQL.
    assert services["rasa"]["environment"]["ANSWER_SERVICE_URL"] == "http://nginx:5057/nlg"
    for name in ("migrate", "actions", "answers", "gateway"):
        env = services[name]["environment"]
        assert env["BOT_PROFILE"] == "production" and "RASA_TOKEN" in env
        assert env["DATABASE_URL"].startswith("postgresql+psycopg2://")


# --- Kubernetes ----------------------------------------------------------------------------------


def test_the_kubernetes_manifests_follow_the_kubernetes_schemas() -> None:
    result = run(BIN / "kubernetes-validate", "--strict", "--quiet", *MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {
        doc["kind"]
        for path in MANIFESTS
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
    }
    assert {"Deployment", "Service", "ConfigMap", "Secret", "Job", "NetworkPolicy"} <= kinds


def test_the_kubernetes_check_rejects_an_unknown_field(tmp_path: Path) -> None:
    broken = tmp_path / "rasa.yaml"
    broken.write_text(
        (K8S / "rasa.yaml").read_text(encoding="utf-8").replace("  replicas: 2", "  replica: 2"),
        encoding="utf-8",
    )
    assert run(BIN / "kubernetes-validate", "--strict", "--quiet", broken).returncode != 0


def test_the_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"secret.example.yaml"}


def test_kubernetes_gives_the_rasa_pods_every_endpoints_variable() -> None:
    config = yaml.safe_load((K8S / "configmap.yaml").read_text(encoding="utf-8"))["data"]
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text(encoding="utf-8"))
    assert endpoints_variables() <= set(config) | set(secret["stringData"])
    assert config["BOT_PROFILE"] == "production"
    assert {"RASA_TOKEN", "DATABASE_URL"} <= set(secret["stringData"])


# --- Dockerfiles ---------------------------------------------------------------------------------


def test_the_dockerfiles_pass_hadolint() -> None:
    assert [p.name for p in DOCKERFILES] == ["app.Dockerfile", "rasa.Dockerfile"]
    result = run(BIN / "hadolint", "--config", DEPLOY / "docker" / ".hadolint.yaml", *DOCKERFILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python\nRUN cd /app && pip install flask\n", encoding="utf-8")
    result = run(BIN / "hadolint", "--config", DEPLOY / "docker" / ".hadolint.yaml", bad)
    assert result.returncode != 0 and "DL3006" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile: Path) -> None:
    text = dockerfile.read_text(encoding="utf-8")
    ignore = (dockerfile.parent / f"{dockerfile.name}.dockerignore").read_text(encoding="utf-8")
    allowed = [line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")]
    sources = [
        source
        for line in text.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
        if not source.startswith("--")  # options such as --chown=
    ]
    assert sources
    for source in sources:
        if source != "models/bot.tar.gz":  # built by `make model`, not committed
            assert (PROJECT_ROOT / source).exists(), source
        assert any(
            source == pattern
            or source.startswith(pattern + "/")
            or re.fullmatch(pattern.replace("*", "[^/]*"), source)
            for pattern in allowed
        ), f"{source} is not in {dockerfile.name}.dockerignore's allowed paths"


# --- nginx ---------------------------------------------------------------------------------------


def test_the_compose_nginx_config_is_the_template_rendered() -> None:
    assert COMPOSE_NGINX_CONFIG.read_text(encoding="utf-8") == compose_nginx_config(), (
        "deploy/nginx/compose.conf is stale: run `python -m devstack.scale compose-nginx`"
    )


def test_nginx_accepts_the_scale_demo_config(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        missing("nginx is not installed (`make test` installs Debian's package)")
    assert nginx is not None
    config = write_nginx_config(
        tmp_path,
        rasa_ports=[15101, 15102],
        action_ports=[15151, 15152],
        answer_ports=[15161, 15162],
        rasa_listen_port=15100,
        actions_listen_port=15150,
        answers_listen_port=15160,
    )
    result = run(
        nginx, "-t", "-p", tmp_path / "nginx", "-c", config, "-e", tmp_path / "nginx" / "err.log"
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


# --- the production profile's variables ----------------------------------------------------------


def test_make_scale_demo_sets_every_endpoints_variable() -> None:
    env = rasa_production_env(
        action_server_url="http://127.0.0.1:5055/webhook",
        tracker_url="postgresql+psycopg2://postgres@127.0.0.1:5432/tracker",
        login_database="postgres",
        redis=RedisAddress.from_url("redis://:secret@127.0.0.1:6380/2"),
        key_prefix="demo",
        lock_lifetime_s=20,
        answer_service_url="http://127.0.0.1:5058/nlg",
        answer_service_token="t0ken",
        action_server_secret="s3cret",
    )
    assert endpoints_variables() <= set(env)
    assert (env["REDIS_PORT"], env["REDIS_DB"], env["REDIS_PASSWORD"]) == ("6380", "2", "secret")
    assert (env["DB_HOST"], env["DB_DATABASE"], env["DB_PASSWORD"]) == (
        "127.0.0.1",
        "tracker",
        "",
    )


# --- the Rasa image's entrypoint -----------------------------------------------------------------


def entrypoint(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs deploy/docker/rasa-entrypoint.sh with a stand-in `python` that prints its arguments
    (first line) and the RASA_TOKEN it was given in its environment (second line)."""
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir(exist_ok=True)
    script = '#!/bin/sh\necho "python $*"\necho "RASA_TOKEN=$RASA_TOKEN"\n'
    fake.write_text(script, encoding="utf-8")
    fake.chmod(0o755)
    path = f"{fake.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return run("sh", DEPLOY / "docker" / "rasa-entrypoint.sh", env={"PATH": path, **env})


def test_the_rasa_image_runs_the_production_profile_with_its_token(tmp_path: Path) -> None:
    result = entrypoint(tmp_path, RASA_TOKEN="s3cret")
    assert result.returncode == 0, result.stderr
    # Rasa's command line with the project's fixes, as `make run` starts it.
    assert result.stdout.startswith("python -m bot.rasa_ext.cli run "), result.stdout
    command, environment = result.stdout.splitlines()[:2]
    assert "--endpoints deploy/rasa/endpoints.yml" in command and "--enable-api" in command
    # The token reaches Rasa through the environment (bot.rasa_ext.cli passes it on inside the
    # process), never on the command line, which every process of the host can read.
    assert "s3cret" not in command and "--auth-token" not in command
    assert environment == "RASA_TOKEN=s3cret"


@pytest.mark.parametrize("profile", ["production", "local"])
def test_every_profile_refuses_to_start_without_a_token(tmp_path: Path, profile: str) -> None:
    result = entrypoint(tmp_path, BOT_PROFILE=profile)
    assert result.returncode == 2 and "RASA_TOKEN" in result.stderr


def test_the_local_profile_uses_the_repository_endpoints(tmp_path: Path) -> None:
    result = entrypoint(tmp_path, BOT_PROFILE="local", RASA_TOKEN="s3cret")
    assert result.returncode == 0, result.stderr
    command, environment = result.stdout.splitlines()[:2]
    assert "--endpoints endpoints.yml" in command and "s3cret" not in command
    assert environment == "RASA_TOKEN=s3cret"


def test_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    result = entrypoint(tmp_path, BOT_PROFILE="staging", RASA_TOKEN="s3cret")
    assert result.returncode == 2 and "'staging'" in result.stderr


@pytest.mark.parametrize(
    ("lifetime", "rasa", "actions", "answers"), [(20, 30, 10, 5), (60, 70, 30, 15)]
)
def test_nginx_read_timeouts_follow_the_lock_lifetime(
    tmp_path: Path, lifetime: int, rasa: int, actions: int, answers: int
) -> None:
    # Without a supervisor, a frozen Rasa server costs a turn at most TICKET_LOCK_LIFETIME +
    # 10 s (not 180 s), and a turn waiting for a dead server's lock (up to the lifetime) is
    # never cut short.
    config = write_nginx_config(
        tmp_path,
        rasa_ports=[15101],
        action_ports=[15151],
        answer_ports=[15161],
        rasa_listen_port=15100,
        actions_listen_port=15150,
        answers_listen_port=15160,
        lock_lifetime_s=lifetime,
    ).read_text(encoding="utf-8")
    rasa_block, rest = config.split("# Action servers: only the Rasa servers")
    actions_block, answers_block = rest.split("# Answer services (Rasa's NLG endpoint)")
    assert re.findall(r"proxy_read_timeout (\d+)s;", rasa_block) == [str(rasa)]
    assert re.findall(r"proxy_read_timeout (\d+)s;", actions_block) == [str(actions)]
    assert re.findall(r"proxy_read_timeout (\d+)s;", answers_block) == [str(answers)]
    assert rasa > lifetime
    for block in (rasa_block, actions_block, answers_block):
        assert "proxy_next_upstream error timeout http_503 non_idempotent;" in block
    assert "server 127.0.0.1:15161 max_fails=1" in config
    assert "listen 127.0.0.1:15160;" in answers_block


@pytest.mark.parametrize(("lifetime", "hang"), [(20, 10.0), (60, 30.0)])
def test_the_scale_supervisor_kills_a_frozen_server_before_its_lock_tickets_expire(
    lifetime: int, hang: float
) -> None:
    # Killed after half the lock lifetime without a health answer (plus one look's timeout,
    # a third of that): its turns, retried elsewhere, wait for its tickets as for a dead
    # server's, not for nginx's read timeout first.
    assert hang_after_s(lifetime) == hang
    assert hang + hang / 3 < lifetime < lifetime + TURN_MARGIN_S
