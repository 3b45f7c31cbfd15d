"""`make shell`'s supervisor: the action server it starts is restarted when it dies, and a
SIGTERM (a closed terminal, a process manager) ends the shell and every process it started.

The real `scripts/shell.py shell` (what `make shell` runs), with its own demo orders database;
Rasa's shell is still loading the model when the test ends it, which is all this test needs.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.config import PROJECT_ROOT
from devstack.stack import free_port, group_members, port_is_free
from tests.conftest import load_demo_database
from tests.processes import alive, children_of, cmdline
from tests.supervisor.test_supervisor import PATIENCE_S


def test_make_shell_restarts_its_action_server_and_a_sigterm_ends_everything(
    tmp_path: Path, trained_model: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'orders.db'}"
    load_demo_database(database_url)
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "scripts/shell.py", "shell"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "DATABASE_URL": database_url,
            "ACTION_SERVER_PORT": str(port),
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # our own terminal's signals stay ours
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + PATIENCE_S
        while not any(text in line for line in seen):
            left = deadline - time.monotonic()
            assert left > 0, f"never said {text!r}:\n" + "\n".join(seen[-30:])
            try:
                seen.append(lines.get(timeout=min(left, 2.0)))
            except queue.Empty:
                assert process.poll() is None, "\n".join(seen[-30:])

    threading.Thread(target=pump, daemon=True).start()
    try:
        wait_for("Action server ready")
        (leader,) = [p for p in children_of(process.pid) if "bot.action_server" in cmdline(p)]
        old = group_members(leader)
        os.kill(leader, signal.SIGKILL)
        wait_for("The action server exited with code -9; restarting it")
        wait_for("The action server is back")
        assert not [pid for pid in old if alive(pid)]

        children = children_of(process.pid)
        everyone = [pid for child in children for pid in group_members(child)] + children
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PATIENCE_S) == 0, "\n".join(seen[-30:])
        assert not [pid for pid in everyone if alive(pid)], "processes left behind"
        assert port_is_free(port)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
