"""The version-checked install every version-bound fix of bot/rasa_ext shares (_install.py).

The helper alone on a class of its own (wrong version refused with the warning, nothing
changed; the right version patched; a second install a no-op), then each fix that uses it with
Rasa's real classes: refused on a Rasa it was not written for, installed twice to the same
effect on this one. Rasa's attributes are put back after each test (monkeypatch).
"""

from __future__ import annotations

import importlib
import inspect
import logging

import pytest
import rasa
from rasa.core.actions.action import RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.nlg.callback import CallbackNaturalLanguageGenerator
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import SQLTrackerStore
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_ext import _install

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
