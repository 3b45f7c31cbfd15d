"""The shop registry, and how `make run` wires the answer service and the default store."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT, get_settings
from bot.errors import UnknownStoreError
from bot.shops import DEFAULT_STORES_DIR, checked_store, default_store, resolve_store, shop_ids
from devstack.stack import default_stack, write_endpoints


def test_the_registry_lists_the_shop_folders_only(tmp_path: Path) -> None:
    assert shop_ids(DEFAULT_STORES_DIR, fresh=True) == ("btomic", "om-system")
    shutil.copytree(DEFAULT_STORES_DIR, tmp_path / "stores")
    (tmp_path / "stores" / "not-a-shop").mkdir()  # no facts.yml
    assert shop_ids(tmp_path / "stores", fresh=True) == ("btomic", "om-system")  # nor _common
    shutil.copytree(DEFAULT_STORES_DIR / "btomic", tmp_path / "stores" / "another")
    assert "another" in shop_ids(tmp_path / "stores", fresh=True)


def test_one_resolve_store_for_every_store_id(caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_store(" BTOMIC ", "om-system") == "btomic"
    assert resolve_store(None, "btomic") == "btomic"
    assert resolve_store(42, "btomic") == "btomic"
    with caplog.at_level(logging.WARNING, logger="bot.shops"):
        assert resolve_store("amazon", "om-system") == "om-system"
    assert "Unknown store 'amazon'" in caplog.text
    with pytest.raises(UnknownStoreError, match="default store 'amazon'"):
        resolve_store("btomic", "amazon")
    assert resolve_store(None, environ={"DEFAULT_STORE": "btomic"}) == "btomic"


def test_past_the_entry_the_store_is_trusted_or_refused_never_replaced() -> None:
    assert checked_store("btomic") == "btomic"
    for value in ("amazon", " BTOMIC ", None, 42, ""):
        with pytest.raises(
            UnknownStoreError, match=r"did not check it \(bot.shops.resolve_store\)"
        ):
            checked_store(value)


#: Where a store id enters (docs/contracts.md, "Shops: the registry"): the only callers of
#: resolve_store. The NLU component, the answer service and the actions read the checked value.
STORE_ENTRIES = {
    "bot/api/routes/chat.py",  # the widget's data-store, per chat message
    "bot/api/routes/widget.py",  # the default store written into widget.js
    "bot/mail/intake.py",  # a mail: its recipient address
    "bot/mail/routing.py",  # the mailbox aliases (EMAIL_STORE_ADDRESSES)
    "bot/rasa_ext/rest_channel.py",  # a message posted to Rasa's REST channel
    "bot/shops.py",  # the definition
    "devstack/scale.py",  # DEFAULT_STORE of the processes started
    "devstack/stack.py",
    "scripts/shell.py",  # make shell --store
}


def test_the_store_is_checked_where_a_message_enters_only() -> None:
    callers = {
        str(path.relative_to(PROJECT_ROOT))
        for folder in ("bot", "actions", "devstack", "scripts")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if "resolve_store(" in path.read_text(encoding="utf-8")
    }
    assert callers == STORE_ENTRIES


def test_the_default_store_is_the_registrys(tmp_path: Path) -> None:
    # No DEFAULT_STORE: _common/registry.yml says which shop; without it, the first shop.
    assert default_store(DEFAULT_STORES_DIR) == "om-system"
    assert resolve_store(None, environ={}) == "om-system"

    def stores_with(name: str, registry: str | None) -> Path:
        stores = tmp_path / name
        shutil.copytree(DEFAULT_STORES_DIR, stores)
        (stores / "_common" / "registry.yml").unlink()
        if registry is not None:
            (stores / "_common" / "registry.yml").write_text(registry, "utf-8")
        return stores

    assert default_store(stores_with("a", "default_store: btomic\n")) == "btomic"
    assert default_store(stores_with("b", None)) == "btomic"  # the first shop
    with pytest.raises(UnknownStoreError, match="amazon"):
        default_store(stores_with("c", "default_store: amazon\n"))


def test_rasa_gets_its_texts_from_the_answer_service(tmp_path: Path) -> None:
    path = write_endpoints(
        tmp_path / "endpoints.yml",
        action_port=5055,
        tracker_db=None,
        action_secret="s3cret",
        answer_port=5057,
        answer_token="t0ken",
    )
    endpoints = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert endpoints["nlg"] == {"url": "http://127.0.0.1:5057/nlg", "token": "t0ken"}
    # Every action call carries the action server's secret; the file is its owner's only.
    assert endpoints["action_endpoint"]["headers"] == {"X-Action-Secret": "s3cret"}
    assert path.stat().st_mode & 0o077 == 0
    committed = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    assert committed["nlg"]["url"] == "http://127.0.0.1:5057/nlg"


def test_make_run_starts_the_answer_service_and_passes_the_default_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEFAULT_STORE", "btomic")  # as if from .env: the settings read both
    get_settings.cache_clear()
    try:
        stack = default_stack()
    finally:
        get_settings.cache_clear()
    names = [service.name for service in stack.services]
    assert names == ["action server", "answer service", "Rasa server", "gateway"]
    for service in stack.services:
        assert service.env["DEFAULT_STORE"] == "btomic", service.name
    answers = stack.services[1]
    token = answers.env["ANSWER_SERVICE_TOKEN"]
    assert len(token) >= 24
    endpoints_file = Path(stack.services[2].argv[stack.services[2].argv.index("--endpoints") + 1])
    endpoints = yaml.safe_load(endpoints_file.read_text(encoding="utf-8"))
    assert endpoints["nlg"] == {"url": f"http://127.0.0.1:{answers.port}/nlg", "token": token}
    # The action server listens on the loopback and answers only this run's secret, which
    # Rasa sends from the endpoints file.
    actions = stack.services[0]
    assert actions.argv[actions.argv.index("--host") + 1] == "127.0.0.1"
    secret = actions.env["ACTION_SERVER_SECRET"]
    assert len(secret) >= 32
    assert endpoints["action_endpoint"]["headers"] == {"X-Action-Secret": secret}


def test_the_settings_of_dotenv_reach_every_process_make_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deployment's `.env` (the file the settings read, in the directory make runs in).
    stores = tmp_path / "stores"
    shutil.copytree(DEFAULT_STORES_DIR, stores)
    (tmp_path / ".env").write_text(
        f"DEFAULT_STORE=btomic\nSTORES_DIR={stores}\nEMAIL_MAX_QUESTIONS=4\nGATEWAY_PORT=8123\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    for name in ("DEFAULT_STORE", "STORES_DIR", "EMAIL_MAX_QUESTIONS"):
        monkeypatch.delenv(name, raising=False)
    # The shell's environment wins over the file, as it does for the settings.
    monkeypatch.setenv("GATEWAY_PORT", "8124")
    get_settings.cache_clear()
    try:
        stack = default_stack(var_dir=tmp_path / "var")
    finally:
        get_settings.cache_clear()
    assert [service.name for service in stack.services] == [
        "action server",
        "answer service",
        "Rasa server",
        "gateway",
    ]
    for service in stack.services:
        assert service.env["DEFAULT_STORE"] == "btomic", service.name
        assert service.env["STORES_DIR"] == str(stores), service.name
        assert service.env["EMAIL_MAX_QUESTIONS"] == "4", service.name
        assert "GATEWAY_PORT" not in service.env, service.name
    assert stack.services[3].port == 8124


def test_free_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    """The source ports of outgoing connections come from the kernel's ephemeral range: a
    port handed to a server that binds it a minute later (Rasa after loading its model) must
    not come from there, nor be handed out twice."""
    import socket

    from devstack.stack import FREE_PORTS_FROM, _ephemeral_start, free_port

    start = _ephemeral_start()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    if start - FREE_PORTS_FROM >= 1000:
        assert all(FREE_PORTS_FROM <= port < start for port in ports), ports
    for port in ports[:20]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
