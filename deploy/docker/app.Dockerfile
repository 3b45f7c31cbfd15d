# syntax=docker/dockerfile:1
# The app image: the action server and the gateway (same code, same environment), Python 3.11
# exactly as requirements/app.lock pins it. One image, three commands:
#   gateway (default)  uvicorn bot.api.main:app --host 0.0.0.0 --port 8000 --proxy-headers
#   action server      python -m bot.action_server --actions actions --host 0.0.0.0 --port 5055
#   migrations (job)   python -m bot.db.migrate
# All stateless: the orders database (and the e-mail inbox in it) is PostgreSQL in the
# production profile. Build from the repository root:
#   docker build -f deploy/docker/app.Dockerfile -t shop-support/app:VERSION .

FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/app.lock /tmp/app.lock
# The lock also pins the test tools (pytest, ruff, playwright's Python package: no browser);
# installing the same set everywhere keeps one tested environment.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps -r /tmp/app.lock \
    && /opt/venv/bin/pip check

FROM python:3.11.7-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOT_PROFILE=production
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 1001 --user-group app
WORKDIR /app
COPY alembic.ini domain.yml ./
COPY bot bot
COPY actions actions
# The shops' folders are edited in place (texts and facts, live on the next turn): the app's.
COPY --chown=1001:1001 data/stores data/stores
RUN install -d -o 1001 -g 1001 /app/var
USER 1001
# Gateway, action server, answer service (python -m bot.answers.service --port 5057).
EXPOSE 8000 5055 5057
CMD ["uvicorn", "bot.api.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--proxy-headers", "--forwarded-allow-ips", "*"]
