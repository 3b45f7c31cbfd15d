#!/bin/sh
# Starts the Rasa server of the configuration profile BOT_PROFILE (never by editing files):
#   production (the image's default): deploy/rasa/endpoints.yml, every URL and credential
#              from the environment (see that file);
#   local:     the repository's endpoints.yml (SQLite tracker store under var/, in-memory
#              lock store: one server only).
# The HTTP API is behind RASA_TOKEN in both (`python -m bot.rasa_ext.cli` refuses a short or
# placeholder one in production), and the action servers' ACTION_SERVER_SECRET is sent.
# Extra arguments are passed to `rasa run` (e.g. --debug). Rasa starts through
# `python -m bot.rasa_ext.cli`, Rasa's own command line with the project's fixes to Rasa 3.6
# installed first, as `make run` starts it (README "Performance").
set -eu

profile="${BOT_PROFILE:-production}"
if [ -z "${RASA_TOKEN:-}" ]; then
  echo "rasa-entrypoint: RASA_TOKEN must be set (the Rasa API token, in every profile)" >&2
  exit 2
fi
case "$profile" in
  production)
    endpoints=deploy/rasa/endpoints.yml
    ;;
  local)
    endpoints=endpoints.yml
    ;;
  *)
    echo "rasa-entrypoint: BOT_PROFILE must be 'local' or 'production', not '$profile'" >&2
    exit 2
    ;;
esac

set -- run --enable-api --model models/bot.tar.gz --endpoints "$endpoints" \
  --credentials credentials.yml --port "${RASA_PORT:-5005}" "$@"
# The API token goes from RASA_TOKEN to Rasa inside the process (bot/rasa_ext/cli.py), not on
# the command line, which any process of the host can read.
exec python -m bot.rasa_ext.cli "$@"
