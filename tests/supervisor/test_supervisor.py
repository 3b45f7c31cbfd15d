"""The supervisor of `make run`, `make shell` and `make scale-demo` (devstack/stack.py), on real
processes: small HTTP services (tests/supervisor/fake_service.py) that crash, freeze, keep a
worker alive after their parent died, or ignore SIGTERM. Every wait polls a condition with a
deadline that only bounds a failing test; nothing asserts a duration.

The same supervisor on the real Rasa server, action server and gateway: tests/e2e/
test_make_run_supervised.py.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import PROJECT_ROOT
from devstack.stack import Service, Stack, StackError, free_port, group_members
from tests.processes import alive, children_of

PATIENCE_S = 120.0


def fake(port: int, *args: str, name: str = "fake service", watch_workers: bool = False) -> Service:
    argv = [sys.executable, "-m", "tests.supervisor.fake_service", str(port), *args]
    return Service(
        name, argv, port, "/health", ready_timeout_s=PATIENCE_S, watch_workers=watch_workers
    )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


class Console:
    """Collects what the supervisor says."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            self.lines.append(message)

    def said(self, *parts: str) -> bool:
        with self._lock:
            return any(all(part in line for part in parts) for line in self.lines)


def answers(service: Service) -> bool:
    try:
        return httpx.get(f"{service.base_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    """Stacks the test started; stopped afterwards whatever happened."""
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()


def test_a_crashed_service_is_restarted_and_its_orphaned_worker_stopped(
    tmp_path: Path, console: Console, stacks: list[Stack]
) -> None:
    service = fake(free_port(), "--worker")
    stack = Stack([service], log_dir=tmp_path, say=console)
    stacks.append(stack)
    stack.start()
    leader = service.process.pid if service.process else 0
    wait_until(lambda: len(group_members(leader)) == 2, "the worker is forked")
    (worker,) = [pid for pid in group_members(leader) if pid != leader]
    supervisor = stack.supervise_in_background(poll_s=0.05)
    try:
        os.kill(leader, signal.SIGKILL)  # the main process dies; its worker stays behind
        wait_until(lambda: console.said("The fake service is back"), "the restart")
    finally:
        assert supervisor.stop() == 0
    assert console.said("The fake service exited with code -9; restarting it in 1 s (restart 1")
    assert not alive(worker), "the dead service's worker was left running"
    assert service.process is not None and service.process.pid != leader
    assert answers(service)


def test_a_service_whose_worker_dies_is_restarted_at_once(
    tmp_path: Path, console: Console, stacks: list[Stack]
) -> None:
    """Sanic's manager does not replace a dead worker: it keeps the port, and nobody answers
    there. A service whose workers are watched is restarted as soon as one dies, without
    waiting for its health check to go unanswered (hang_after_s is out of reach here)."""
    service = fake(free_port(), "--worker", watch_workers=True)
    stack = Stack([service], log_dir=tmp_path, say=console, hang_after_s=3600)
    stacks.append(stack)
    stack.start()
    leader = service.process.pid if service.process else 0
    (worker,) = service.workers  # noted when it became ready: the fork came first
    assert worker != leader and worker in group_members(leader)
    supervisor = stack.supervise_in_background(poll_s=0.05)
    try:
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: console.said("The fake service is back"), "the restart")
    finally:
        assert supervisor.stop() == 0
    assert console.said(f"The fake service lost its worker process (pid {worker}); restarting")
    assert not alive(leader), "the old main process was left running"
    assert service.process is not None and service.process.pid != leader
    assert len(service.workers) == 1 and worker not in service.workers
    assert answers(service)


def test_a_service_whose_children_come_and_go_is_not_restarted_for_it(
    tmp_path: Path, console: Console, stacks: list[Stack]
) -> None:
    """Without watch_workers (the gateway, whose e-mail child lives for one mail), a child
    that exits is none of the supervisor's business."""
    service = fake(free_port(), "--worker")
    stack = Stack([service], log_dir=tmp_path, say=console, hang_after_s=3600)
    stacks.append(stack)
    stack.start()
    leader = service.process.pid if service.process else 0
    wait_until(lambda: len(group_members(leader)) == 2, "the child is forked")
    (child,) = [pid for pid in group_members(leader) if pid != leader]
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: not alive(child), "the child's end")
    with httpx.Client(timeout=10) as client:
        for _ in range(20):  # supervision passes, each one looking at the service
            assert stack.supervise(service, client) is None
    assert console.lines == []
    assert service.process is not None and service.process.pid == leader
    assert answers(service)


def test_a_frozen_service_is_killed_and_restarted(
    tmp_path: Path, console: Console, stacks: list[Stack]
) -> None:
    service = fake(free_port())
    stack = Stack([service], log_dir=tmp_path, say=console, hang_after_s=2, check_every_s=0.2)
    stacks.append(stack)
    stack.start()
    frozen = service.process.pid if service.process else 0
    supervisor = stack.supervise_in_background(poll_s=0.05)
    try:
        os.kill(frozen, signal.SIGSTOP)
        wait_until(lambda: console.said("The fake service is back"), "the restart")
    finally:
        assert supervisor.stop() == 0
    assert console.said("did not answer its health check for 2 s; restarting it")
    assert not alive(frozen)
    assert answers(service)


def test_a_busy_service_gets_the_loads_allowance_before_it_counts_as_hung(
    tmp_path: Path, console: Console, stacks: list[Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that stops answering while it works (it uses CPU: slow under load, not frozen
    or dead-locked) is given hang_after_s times the load factor, here 4, before it is killed
    and restarted; a frozen one (above) is killed after hang_after_s."""
    load = 4.0 * (os.cpu_count() or 1)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    service = fake(free_port(), "--busy-after", "1")
    stack = Stack([service], log_dir=tmp_path, say=console, hang_after_s=1, check_every_s=0.2)
    stacks.append(stack)
    stack.start()
    busy = service.process.pid if service.process else 0
    started = time.monotonic()
    supervisor = stack.supervise_in_background(poll_s=0.05)
    try:
        wait_until(lambda: console.said("restarting it"), "the kill")
        # Not before 4 x 1 s of silence (a frozen one: after 1 s); the silence began at the
        # latest 1 s after `started` (the service started answering before).
        assert time.monotonic() - started >= 4 * 1
        wait_until(lambda: console.said("The fake service is back"), "the restart")
    finally:
        assert supervisor.stop() == 0
    assert console.said("did not answer its health check for ", " s while working (", "CPU")
    assert not alive(busy)


def test_a_service_that_keeps_crashing_stops_the_stack_with_its_log(
    tmp_path: Path, console: Console, stacks: list[Stack]
) -> None:
    service = fake(free_port(), "--crash-after", "1.5")
    other = fake(free_port(), name="healthy service")
    stack = Stack(
        [service, other], log_dir=tmp_path, say=console, max_restarts=2, backoff_max_s=0.5
    )
    stacks.append(stack)
    stack.start()

    assert stack.watch(poll_s=0.05) == 1  # after the third crash in the window

    restarts = [line for line in console.lines if "restarting it in" in line]
    assert [line.split(" (restart ")[1][:1] for line in restarts] == ["1", "2"]
    assert "restarting it in 0.5 s" in restarts[0]
    last = console.lines[-1]
    assert "The fake service exited with code 3 and keeps crashing (3 times in 300 s)" in last
    assert "boom: crashing on purpose" in last  # the end of its log
    assert answers(other)  # the caller stops the stack; watch() itself killed nobody else


def test_stop_ends_every_process_of_every_group_and_can_be_called_again(
    tmp_path: Path,
) -> None:
    services = [fake(free_port(), "--worker"), fake(free_port(), "--worker", "--stubborn")]
    stack = Stack(services, log_dir=tmp_path)
    stack.start()
    leaders = [s.process.pid for s in services if s.process]
    wait_until(lambda: all(len(group_members(p)) == 2 for p in leaders), "workers forked")
    everyone = [pid for leader in leaders for pid in group_members(leader)]
    os.kill(leaders[0], signal.SIGKILL)  # a group whose leader already died
    stack.stop(timeout_s=2)  # the stubborn one ignores SIGTERM: SIGKILL after 2 s
    assert not [pid for pid in everyone if alive(pid)]
    stack.stop()  # again: nothing left to do, no error
    assert all(s.process is None for s in services)


def read_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], text: str, seen: list[str]) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        seen.append(line)
        if text in line:
            return


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_while_stopping_orphans_nothing(tmp_path: Path, second: int) -> None:
    """`make run` gets SIGTERM twice (make forwards its own): the second one arrives while
    the stack is stopping a service that ignores SIGTERM."""
    ports = [free_port(), free_port()]
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "tests.supervisor.fake_stack", str(tmp_path), *map(str, ports)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        lines = read_lines(process)
        wait_for_line(lines, "Ready in", seen)
        children = children_of(process.pid)
        everyone = [pid for child in children for pid in group_members(child)]
        assert len(children) == 2 and len(everyone) == 4, (children, everyone)

        process.send_signal(signal.SIGTERM)
        wait_for_line(lines, "Stopping...", seen)
        process.send_signal(second)  # during stop(): the stubborn service holds it up
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PATIENCE_S) == 0, seen
        wait_for_line(lines, "Stopped.", seen)
        assert not [pid for pid in everyone if alive(pid)], "processes left behind"
        # The well-behaved service was asked (SIGTERM reached it: no signal mask inherited
        # from the supervisor), it did not have to be killed.
        log = (tmp_path / f"fake-service-2-{ports[1]}.log").read_text(encoding="utf-8")
        assert "stopping on SIGTERM" in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("load_per_core", [0.5, 4.0])
def test_a_start_up_may_take_longer_on_a_busy_machine_and_a_timeout_says_why(
    tmp_path: Path, stacks: list[Stack], monkeypatch: pytest.MonkeyPatch, load_per_core: float
) -> None:
    """A service that never answers, with 0.5 s to become ready on a quiet machine: under a
    load of 4 per core it is given 4 times that (a fixed timeout failed a scale-out run at a
    load of 14 on 2 cores while the servers were still loading), and the error says how long
    it waited, the load and the CPU the process got."""
    cores = os.cpu_count() or 1
    load = load_per_core * cores
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    argv = [sys.executable, "-c", "import time; time.sleep(120)"]
    service = Service("silent service", argv, free_port(), "/health", ready_timeout_s=0.5)
    stack = Stack([service], log_dir=tmp_path)
    stacks.append(stack)
    started = time.monotonic()
    with pytest.raises(StackError) as raised:
        stack.start()
    waited = time.monotonic() - started
    factor = max(1.0, load_per_core)
    assert waited >= 0.5 * factor
    message = str(raised.value)
    assert "The silent service did not answer" in message
    assert f" s on a quiet machine, x{factor:.1f} for the load)" in message
    assert f"load average {load:.1f}, {load:.1f}, {load:.1f} on {cores} cores" in message
    assert "s of CPU" in message
