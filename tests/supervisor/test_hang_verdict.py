"""When the supervisor counts a running service as hung (devstack/stack.py), on an injected
clock, CPU reading and load: no real process, no waiting, nothing that depends on how fast
this machine runs. The same supervisor on real frozen and busy processes:
tests/supervisor/test_supervisor.py.

A frozen (SIGSTOP) or dead-locked service uses no CPU: it is killed after ``hang_after_s``,
whatever the load. One that stopped answering but still uses CPU (a starved one on a very
loaded machine, or a busy one) gets ``hang_after_s`` x the load factor first.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devstack import stack as stack_module
from devstack.stack import (
    BUSY_CPU_SHARE,
    Service,
    ServiceState,
    Stack,
    hang_verdict,
)

HANG_AFTER_S = 20.0
CHECK_EVERY_S = 2.0
FACTOR = 7.5  # a load of 15 on 2 cores


def test_not_hung_before_hang_after_s_whatever_the_cpu() -> None:
    for cpu_s in (0.0, 0.5, 19.0):
        assert hang_verdict(HANG_AFTER_S - 0.1, cpu_s, HANG_AFTER_S, FACTOR) is None


def test_a_frozen_service_is_hung_at_hang_after_s_whatever_the_load() -> None:
    for factor in (1.0, FACTOR, stack_module.MAX_LOAD_FACTOR):
        why = hang_verdict(HANG_AFTER_S, 0.0, HANG_AFTER_S, factor)
        assert why == "did not answer its health check for 20 s"


def test_a_service_using_cpu_gets_the_loads_allowance_then_is_hung(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stack_module.os, "getloadavg", lambda: (15.0, 14.0, 12.0))
    # Starved: a tenth of a core, well under what it would get on a quiet machine.
    for silent_s in (HANG_AFTER_S, 100.0, HANG_AFTER_S * FACTOR - 0.1):
        assert hang_verdict(silent_s, 0.1 * silent_s, HANG_AFTER_S, FACTOR) is None
    # Just enough CPU to count as working; just too little to.
    at_share = BUSY_CPU_SHARE * 60.0
    assert hang_verdict(60.0, at_share, HANG_AFTER_S, FACTOR) is None
    assert hang_verdict(60.0, at_share * 0.99, HANG_AFTER_S, FACTOR) is not None
    # Past the allowance: hung, and the console says it was working.
    why = hang_verdict(HANG_AFTER_S * FACTOR, 15.0, HANG_AFTER_S, FACTOR)
    assert why == (
        "did not answer its health check for 150 s while working (15.0 s of CPU, load average 15.0)"
    )
    # On a quiet machine the allowance is hang_after_s itself.
    assert hang_verdict(HANG_AFTER_S, 10.0, HANG_AFTER_S, 1.0) is not None


class Clock:
    """time.monotonic() for devstack.stack, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def seconds_until_hung(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpu_per_check_s: float
) -> tuple[float, str]:
    """Drives Stack.supervise on a running service that never answers its health check, one
    look every CHECK_EVERY_S of the injected clock, its process group using cpu_per_check_s of
    CPU between looks; returns the seconds of silence when it was judged hung, and why."""
    clock = Clock()
    cpu = SimpleNamespace(used_s=3.0)  # CPU used before it stopped answering
    judged: list[tuple[float, str, bool]] = []
    monkeypatch.setattr(stack_module, "time", clock)
    monkeypatch.setattr(stack_module, "cpu_seconds", lambda pgid: cpu.used_s)
    monkeypatch.setattr(stack_module, "load_factor", lambda: FACTOR)
    monkeypatch.setattr(stack_module.os, "getloadavg", lambda: (15.0, 15.0, 15.0))
    monkeypatch.setattr(Stack, "_answers", lambda self, client, service: False)

    def crashed(self: Stack, service: Service, why: str, *, hung: bool = False) -> None:
        judged.append((clock.now, why, hung))

    monkeypatch.setattr(Stack, "_crashed", crashed)
    service = Service("silent service", ["true"], 1, "/health")
    service.process = SimpleNamespace(pid=4242, poll=lambda: None)  # type: ignore[assignment]
    service.pgid = 4242
    service.state = ServiceState.RUNNING
    stack = Stack(
        [service], log_dir=tmp_path, hang_after_s=HANG_AFTER_S, check_every_s=CHECK_EVERY_S
    )
    first_look = clock.now
    client: Any = None
    while not judged:
        assert clock.now - first_look < 10 * HANG_AFTER_S * FACTOR, "never judged hung"
        assert stack.supervise(service, client) is None
        clock.now += CHECK_EVERY_S
        cpu.used_s += cpu_per_check_s
    at, why, hung = judged[0]
    assert hung
    return at - first_look, why


def test_supervise_kills_a_frozen_service_after_hang_after_s(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    silent_s, why = seconds_until_hung(monkeypatch, tmp_path, cpu_per_check_s=0.0)
    assert silent_s == HANG_AFTER_S
    assert why == "did not answer its health check for 20 s"


def test_supervise_gives_a_starved_working_service_the_loads_allowance(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A tenth of a core between looks: alive, and starved by a load of 15 on 2 cores.
    silent_s, why = seconds_until_hung(monkeypatch, tmp_path, cpu_per_check_s=0.2)
    assert silent_s == HANG_AFTER_S * FACTOR
    assert why.startswith("did not answer its health check for 150 s while working (")
