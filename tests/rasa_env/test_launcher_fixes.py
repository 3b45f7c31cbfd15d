"""The project's fixes to Rasa come from one list: the launcher's (`bot.rasa_ext.cli`).

`python -m bot.rasa_ext.cli` (every Rasa server of the project) and bench/parse_cpu.py (the
NLU's CPU per parse, measured in its own process) both install ``cli.install_fixes()``. Here
every module of bot/rasa_ext with an ``install()`` records its call instead of patching Rasa
(so nothing leaks into this test process), and the two are compared: a fix added to one place
only, or a fix module the launcher does not install, fails.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import pytest

import bot.rasa_ext
from bench import parse_cpu
from bot.rasa_ext import cli


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fixes installed from now on, in order (recorded; Rasa itself is left unpatched)."""
    calls: list[str] = []
    for info in pkgutil.iter_modules(bot.rasa_ext.__path__):
        module = importlib.import_module(f"bot.rasa_ext.{info.name}")
        if callable(getattr(module, "install", None)):
            monkeypatch.setattr(module, "install", lambda name=info.name: calls.append(name))
    return calls


def launcher_fixes(monkeypatch: pytest.MonkeyPatch, installed: list[str]) -> list[str]:
    """What `python -m bot.rasa_ext.cli run` installs before Rasa's own command line starts."""
    import rasa.__main__

    installed_when_rasa_started: list[list[str]] = []
    monkeypatch.setattr(
        rasa.__main__, "main", lambda: installed_when_rasa_started.append(list(installed))
    )
    monkeypatch.setattr(sys, "argv", ["bot.rasa_ext.cli", "run", "--enable-api"])
    monkeypatch.delenv("BOT_PROFILE", raising=False)
    monkeypatch.delenv(cli.TOKEN_ENV_VAR, raising=False)
    cli.main()
    assert len(installed_when_rasa_started) == 1
    assert installed_when_rasa_started[0] == installed
    launched = list(installed)
    installed.clear()
    return launched


def test_the_launcher_installs_every_fix_of_its_list_in_order_before_rasa(
    monkeypatch: pytest.MonkeyPatch, installed: list[str]
) -> None:
    assert launcher_fixes(monkeypatch, installed) == list(cli.FIXES)
    # Every module of bot/rasa_ext with an install() is one of them (none written and forgotten),
    # among them the two that bench/parse_cpu.py's own copy of the list used to lack.
    fix_modules = {
        info.name
        for info in pkgutil.iter_modules(bot.rasa_ext.__path__)
        if callable(getattr(importlib.import_module(f"bot.rasa_ext.{info.name}"), "install", None))
    }
    assert sorted(cli.FIXES) == sorted(fix_modules)
    assert {"rule_lookup", "tracker_queries"} <= fix_modules
    assert len(set(cli.FIXES)) == len(cli.FIXES)


def test_parse_cpu_installs_exactly_the_launchers_fixes_in_its_order(
    monkeypatch: pytest.MonkeyPatch, installed: list[str]
) -> None:
    launched = launcher_fixes(monkeypatch, installed)
    parse_cpu.install_fixes()
    assert launched == list(cli.FIXES)
    assert installed == launched
