"""The version-checked install every version-bound fix of bot/rasa_ext shares (_install.py).

The helper alone on a class of its own (wrong version refused with the warning, nothing
changed; the right version patched; a second install a no-op), then each fix that uses it with
Rasa's real classes: refused on a Rasa it was not written for, installed twice to the same
effect on this one. Rasa's attributes are put back after each test (monkeypatch). The fixes
whose install does more than set attributes have their own tests below: sqlite_wal (a listener
on every engine too) and constant_time_token (refuses to start rather than warn).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

import pytest
import rasa
import rasa.core.tracker_store
import rasa.server
from rasa.core.actions.action import RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.nlg.callback import CallbackNaturalLanguageGenerator
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import SQLTrackerStore
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import Event
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from bot.rasa_ext import _install, constant_time_token, sqlite_wal

LOGGER = logging.getLogger("tests.fix_under_test")


class Patched:
    """Stands for a Rasa class a fix replaces a method of."""

    def method(self) -> str:
        return "rasa"


def fixed(self: Patched) -> str:
    return "fix"


def warnings_of(caplog: pytest.LogCaptureFixture, logger_name: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == logger_name and record.levelno == logging.WARNING
    ]


def test_a_wrong_version_is_refused_with_a_warning_and_nothing_changes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Patched, "method", Patched.method)  # put back after the test
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    rasa_method = Patched.method
    caplog.set_level(logging.WARNING)
    patches = [(Patched, "method", fixed)]
    assert _install.patch_rasa(LOGGER, "3.6.", "the method stays Rasa's.", patches) is False
    assert Patched.method is rasa_method
    assert Patched().method() == "rasa"
    assert warnings_of(caplog, LOGGER.name) == ["Rasa 3.7.0 is not 3.6.x: the method stays Rasa's."]


@pytest.mark.parametrize("version", ["3.60.0", "4.6.0", "3.5.11", ""])
def test_only_the_known_prefix_counts_as_known(
    version: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Patched, "method", Patched.method)
    monkeypatch.setattr(rasa, "__version__", version)
    caplog.set_level(logging.WARNING)
    assert not _install.patch_rasa(LOGGER, "3.6.", "left.", [(Patched, "method", fixed)])
    assert Patched().method() == "rasa"
    assert len(warnings_of(caplog, LOGGER.name)) == 1


def test_the_known_version_is_patched_and_a_second_install_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Patched, "method", Patched.method)
    monkeypatch.setattr(rasa, "__version__", "3.6.21")
    caplog.set_level(logging.WARNING)
    patches = [(Patched, "method", fixed)]
    assert _install.patch_rasa(LOGGER, "3.6.", "left.", patches) is True
    assert Patched().method() == "fix"
    after_first = dict(vars(Patched))
    assert _install.patch_rasa(LOGGER, "3.6.", "left.", patches) is True
    assert dict(vars(Patched)) == after_first  # the same objects: nothing added, nothing wrapped
    assert Patched().method() == "fix"
    assert warnings_of(caplog, LOGGER.name) == []


def test_it_is_not_taken_for_a_fix_of_the_launcher() -> None:
    # tests/rasa_env/test_launcher_fixes.py takes any module of bot/rasa_ext with an install().
    assert not hasattr(_install, "install")


#: Each fix that uses the helper: what it replaces (class, attribute, the fix's object's name).
VERSION_BOUND_FIXES = {
    "action_failures": [
        (RemoteAction, "run", "run"),
        (FormAction, "validate", "validate_form"),
        (FormAction, "request_next_slot", "request_next_slot"),
    ],
    "action_validation": [
        (RemoteAction, "_validate_action_result", "validate_action_result"),
        (CallbackNaturalLanguageGenerator, "validate_response", "validate_nlg_response"),
    ],
    "endpoint_sessions": [(EndpointConfig, "session", "shared_session")],
    "event_types": [(Event, "resolve_by_type", "resolve_by_type")],
    "graph_runner": [(DaskGraphRunner, "run", "run")],
    "idempotency": [(MessageProcessor, "handle_message", "handle_message")],
    "rule_lookup": [(RulePolicy, "_get_possible_keys", "get_possible_keys")],
    "tracker_queries": [
        (SQLTrackerStore, "_additional_events", "_additional_events"),
        (SQLTrackerStore, "_retrieve", "_retrieve"),
    ],
}


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attribute the fixes replace is put back as it was after the test."""
    for patches in VERSION_BOUND_FIXES.values():
        for owner, name, _ in patches:
            monkeypatch.setattr(owner, name, inspect.getattr_static(owner, name))


@pytest.mark.parametrize("fix", sorted(VERSION_BOUND_FIXES))
def test_each_fix_is_refused_on_another_rasa_with_its_warning(
    fix: str, restored: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    module = importlib.import_module(f"bot.rasa_ext.{fix}")
    before = [inspect.getattr_static(owner, name) for owner, name, _ in VERSION_BOUND_FIXES[fix]]
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    caplog.set_level(logging.WARNING)
    assert module.install() is False
    after = [inspect.getattr_static(owner, name) for owner, name, _ in VERSION_BOUND_FIXES[fix]]
    assert after == before
    (warning,) = warnings_of(caplog, module.__name__)
    assert warning.startswith("Rasa 3.7.0 is not 3.6.x: ")


@pytest.mark.parametrize("fix", sorted(VERSION_BOUND_FIXES))
def test_each_fix_installs_on_this_rasa_and_twice_is_once(
    fix: str, restored: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert rasa.__version__.startswith("3.6.")
    module = importlib.import_module(f"bot.rasa_ext.{fix}")
    caplog.set_level(logging.WARNING)
    assert module.install() is True
    installed = [getattr(owner, name) for owner, name, _ in VERSION_BOUND_FIXES[fix]]
    assert installed == [getattr(module, attribute) for _, _, attribute in VERSION_BOUND_FIXES[fix]]
    assert module.install() is True
    assert [getattr(owner, name) for owner, name, _ in VERSION_BOUND_FIXES[fix]] == installed
    assert warnings_of(caplog, module.__name__) == []


@pytest.fixture
def wal_calls(monkeypatch: pytest.MonkeyPatch) -> Any:
    """sqlite_wal's listener (spied on: its calls) and Rasa's engine arguments, put back after.

    The listener applies to every engine of the process: it is removed after the test.
    """
    calls: list[Any] = []
    real_use_wal = sqlite_wal.use_wal

    def use_wal(dbapi_connection: Any, record: Any) -> None:
        calls.append(dbapi_connection)
        real_use_wal(dbapi_connection, record)

    monkeypatch.setattr(
        rasa.core.tracker_store,
        "create_engine_kwargs",
        inspect.getattr_static(rasa.core.tracker_store, "create_engine_kwargs"),
    )
    assert not event.contains(Engine, "connect", sqlite_wal.use_wal)
    monkeypatch.setattr(sqlite_wal, "use_wal", use_wal)  # what install() registers
    try:
        yield calls
    finally:
        if event.contains(Engine, "connect", use_wal):
            event.remove(Engine, "connect", use_wal)


def journal_mode(path: Any) -> str:
    """The journal mode of a new SQLite database at ``path``, opened through SQLAlchemy."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return str(connection.exec_driver_sql("PRAGMA journal_mode").scalar())
    finally:
        engine.dispose()


def test_sqlite_wal_is_refused_on_another_rasa_with_its_warning(
    wal_calls: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Any,
) -> None:
    rasa_function = rasa.core.tracker_store.create_engine_kwargs
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    caplog.set_level(logging.WARNING)
    assert sqlite_wal.install() is False
    assert rasa.core.tracker_store.create_engine_kwargs is rasa_function  # no pool either
    assert not event.contains(Engine, "connect", sqlite_wal.use_wal)
    assert journal_mode(tmp_path / "t.db") == "delete"  # SQLite's own, untouched
    assert wal_calls == []
    assert warnings_of(caplog, sqlite_wal.__name__) == [
        "Rasa 3.7.0 is not 3.6.x: the SQLite tracker store keeps Rasa's rollback journal and a"
        " connection per session."
    ]


def test_sqlite_wal_installs_on_this_rasa_and_twice_is_once(
    wal_calls: list[Any], caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    assert rasa.__version__.startswith("3.6.")
    caplog.set_level(logging.WARNING)
    assert sqlite_wal.install() is True
    assert sqlite_wal.install() is True
    assert rasa.core.tracker_store.create_engine_kwargs is sqlite_wal.engine_kwargs
    assert journal_mode(tmp_path / "t.db") == "wal"
    assert len(wal_calls) == 1  # one listener: called once for the one connection
    assert warnings_of(caplog, sqlite_wal.__name__) == []


@pytest.fixture
def rasa_create_app(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Rasa's own ``create_app`` in place for the test; whatever was there is put back after.

    Other tests of the session (the launcher's, test_constant_time_token.py) install the fix
    for the whole process, so Rasa's own function is the wrapper's ``__wrapped__`` then.
    """
    create_app = rasa.server.create_app
    if getattr(create_app, "constant_time_token", False):
        create_app = create_app.__wrapped__
    assert not getattr(create_app, "constant_time_token", False)
    assert create_app.__module__ == "rasa.server"
    monkeypatch.setattr(rasa.server, "create_app", create_app)
    return create_app


def test_constant_time_token_refuses_to_start_on_another_rasa(
    rasa_create_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not a warning: a Rasa whose token check this fix cannot vouch for does not start
    # (bot/rasa_ext/constant_time_token.py says why).
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    with pytest.raises(SystemExit) as refused:
        constant_time_token.install()
    message = str(refused.value.code)
    assert message.startswith("error: Rasa 3.7.0 is not 3.6.x: its API token would not be")
    assert "refusing to start" in message and "KNOWN_RASA_PREFIX" in message
    assert "\n" not in message  # one line, as the launcher's other refusals
    assert rasa.server.create_app is rasa_create_app


def test_constant_time_token_installs_on_this_rasa_and_twice_is_once(
    rasa_create_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert rasa.__version__.startswith("3.6.")
    caplog.set_level(logging.WARNING)
    assert constant_time_token.install() is True
    wrapped = rasa.server.create_app
    assert wrapped is not rasa_create_app
    assert wrapped.__wrapped__ is rasa_create_app
    assert constant_time_token.install() is True
    assert rasa.server.create_app is wrapped  # not wrapped a second time
    assert warnings_of(caplog, constant_time_token.__name__) == []
