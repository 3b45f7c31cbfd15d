# syntax=docker/dockerfile:1
# The Rasa server: Rasa 3.6.21 on Python 3.10 exactly as requirements/rasa.lock pins it, the
# trained model, and the only project code Rasa loads (bot/nlu: NLU components; bot/rasa_ext:
# the lock store), and data/stores (the shops' order prefixes). Stateless: run as many as
# the traffic needs behind a load balancer, all with the same tracker store (PostgreSQL) and
# lock store (Redis); see README "Running in production". Build from the repository root
# after `make model`:
#   docker build -f deploy/docker/rasa.Dockerfile -t shop-support/rasa:VERSION .

# --- build: the environment, in a virtualenv copied as a whole into the runtime image ------
FROM python:3.10.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler for the few pinned packages that may have no wheel for this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/rasa.lock /tmp/rasa.lock
# --no-deps: the lock is the complete, resolved set (the same command as `make`).
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps -r /tmp/rasa.lock

# --- runtime ------------------------------------------------------------------------------
FROM python:3.10.13-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RASA_TELEMETRY_ENABLED=false \
    TF_CPP_MIN_LOG_LEVEL=2 \
    BOT_PROFILE=production \
    RASA_PORT=5005
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 1001 --user-group rasa
WORKDIR /app
COPY bot/__init__.py bot/errors.py bot/shops.py bot/
COPY bot/nlu bot/nlu
COPY bot/rasa_ext bot/rasa_ext
# The shops' files: the entity extractor reads each shop's order prefix from them.
COPY data/stores data/stores
COPY credentials.yml endpoints.yml ./
COPY deploy/rasa deploy/rasa
COPY models/bot.tar.gz models/bot.tar.gz
COPY deploy/docker/rasa-entrypoint.sh /usr/local/bin/rasa-entrypoint
# var/: the local profile's SQLite tracker store; Rasa writes its cache under the home.
RUN mkdir -p var && chown rasa:rasa var
USER 1001
EXPOSE 5005
# Liveness only ("/" answers without the token); readiness with a loaded model is
# /status?token=... (see deploy/k8s/rasa.yaml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ.get('RASA_PORT', '5005'), timeout=4)"]
ENTRYPOINT ["rasa-entrypoint"]
