#!/bin/sh
# Starts the Rasa server of the configuration profile BOT_PROFILE (never by editing files):
#   production (the image's default): deploy/rasa/endpoints.yml, every URL and credential
#              from the environment (see that file), the HTTP API behind RASA_TOKEN;
#   local:     the repository's endpoints.yml (SQLite tracker store under var/, in-memory
#              lock store: one server only), RASA_TOKEN optional.
# Extra arguments are passed to `rasa run` (e.g. --debug). Rasa starts through
# `python -m bot.rasa_ext.cli`, Rasa's own command line with the project's fixes to Rasa 3.6
# installed first, as `make run` starts it (README "Performance").
set -eu

profile="${BOT_PROFILE:-production}"
case "$profile" in
  production)
    if [ -z "${RASA_TOKEN:-}" ]; then
      echo "rasa-entrypoint: BOT_PROFILE=production needs RASA_TOKEN (the Rasa API token)" >&2
      exit 2
    fi
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
if [ -n "${RASA_TOKEN:-}" ]; then
  set -- "$@" --auth-token "$RASA_TOKEN"
fi
exec python -m bot.rasa_ext.cli "$@"
