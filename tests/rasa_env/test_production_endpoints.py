"""deploy/rasa/endpoints.yml as Rasa itself reads it, with the production environment set.

Rasa fills the `${VAR}` values from the environment when it loads the file; these tests load
it with Rasa's own reader and build the lock store from it (no connection is opened), so a
typo in a key or a class path fails here rather than when a server starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.lock_store import LockStore
from rasa.core.utils import read_endpoints_from_path
from rasa.shared.exceptions import RasaException

from bot.rasa_ext.lock_store import RedisLockStore

ENDPOINTS = Path(__file__).resolve().parents[2] / "deploy" / "rasa" / "endpoints.yml"

PRODUCTION = {
    "ACTION_SERVER_URL": "http://actions.internal:5055/webhook",
    "ACTION_SERVER_SECRET": "action-s3cret",
    "ANSWER_SERVICE_URL": "http://answers.internal:5057/nlg",
    "ANSWER_SERVICE_TOKEN": "t0ken",
    "DB_HOST": "db.internal",
    "DB_PORT": "5433",
    "DB_USER": "shop",
    "DB_PASSWORD": "pw",
    "DB_DATABASE": "rasa",
    "DB_LOGIN_DB": "postgres",
    "REDIS_HOST": "redis.internal",
    "REDIS_PORT": "6380",
    "REDIS_DB": "2",
    "REDIS_PASSWORD": "",
    "REDIS_KEY_PREFIX": "shop",
}


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("production_env")
def test_rasa_reads_the_production_endpoints_from_the_environment() -> None:
    endpoints = read_endpoints_from_path(ENDPOINTS)
    assert endpoints.action.url == "http://actions.internal:5055/webhook"
    # Every action call carries the action servers' shared secret (a header, not the URL).
    assert endpoints.action.headers == {"X-Action-Secret": "action-s3cret"}
    # Every text comes from the answer service, with its token.
    assert endpoints.nlg.url == "http://answers.internal:5057/nlg"
    assert endpoints.nlg.token == "t0ken"
    tracker = endpoints.tracker_store
    assert tracker.type == "SQL"
    assert tracker.url == "db.internal"
    assert tracker.kwargs["dialect"] == "postgresql"
    assert (tracker.kwargs["db"], tracker.kwargs["login_db"]) == ("rasa", "postgres")
    assert endpoints.lock_store.type == "bot.rasa_ext.lock_store.RedisLockStore"


@pytest.mark.usefixtures("production_env")
def test_the_lock_store_rasa_builds_is_the_fixed_redis_store() -> None:
    store = LockStore.create(read_endpoints_from_path(ENDPOINTS).lock_store)
    assert isinstance(store, RedisLockStore)
    options = store.red.connection_pool.connection_kwargs
    assert (options["host"], options["port"], options["db"]) == ("redis.internal", 6380, 2)
    assert not options.get("password")
    assert store.key_prefix == "shop:lock:"


def test_a_missing_variable_stops_rasa_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DB_HOST")
    with pytest.raises(RasaException, match="DB_HOST"):
        read_endpoints_from_path(ENDPOINTS)
