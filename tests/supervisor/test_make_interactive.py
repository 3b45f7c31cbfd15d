"""`make interactive`: Rasa's HTTP API it serves needs a token of the session, on the loopback.

`rasa interactive` serves Rasa's HTTP API (conversations, `/execute`, tracker events) and talks
to it itself; Rasa's own command serves it on every interface without a token. The real
`scripts/shell.py interactive` (what `make interactive` runs) under a terminal (the interactive
prompts need one): its Rasa server refuses calls without the token or with a wrong one, listens
on 127.0.0.1 only, and the session still works, its own client sending the token (it reaches
the first prompt, which takes authenticated calls for the domain and the tracker).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.config import PROJECT_ROOT
from devstack.stack import free_port, group_members
from tests.conftest import load_demo_database
from tests.processes import alive, children_of, cmdline, listening_addresses

# Loading the model and the first prompt, on a loaded machine.
PATIENCE_S = 420.0


def test_make_interactive_serves_rasas_api_with_a_token_on_the_loopback(
    tmp_path: Path, trained_model: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'orders.db'}"
    load_demo_database(database_url)
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "DATABASE_URL": database_url,
        "ACTION_SERVER_PORT": str(free_port()),
        "ANSWER_SERVICE_PORT": str(free_port()),
    }
    env.pop("RASA_TOKEN", None)
    main_fd, terminal_fd = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "scripts/shell.py", "interactive"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=terminal_fd,
        stdout=terminal_fd,
        stderr=terminal_fd,
        start_new_session=True,
    )
    os.close(terminal_fd)
    output = bytearray()

    def read_until(pattern: str) -> None:
        deadline = time.monotonic() + PATIENCE_S
        while not re.search(pattern, output.decode("utf-8", "replace")):
            left = deadline - time.monotonic()
            tail = output.decode("utf-8", "replace")[-3000:]
            assert left > 0, f"never showed {pattern!r}:\n{tail}"
            assert process.poll() is None, f"exited with {process.returncode}:\n{tail}"
            ready, _, _ = select.select([main_fd], [], [], min(left, 1.0))
            if ready:
                try:
                    output.extend(os.read(main_fd, 65536))
                except OSError:
                    break

    try:
        read_until("Action server ready")
        # The session's first prompt: the client read the domain and the tracker with the token.
        read_until("Your input ->")
        (rasa,) = [p for p in children_of(process.pid) if "rasa_interactive" in cmdline(p)]
        port = int(re.search(r"--port\x00?\s*(\d+)", cmdline(rasa).replace("\0", " ")).group(1))
        url = f"http://127.0.0.1:{port}"
        # No token, a wrong one: refused, and nothing of the conversations shown.
        for params in ({}, {"token": "wrong"}, {"token": ""}):
            for path in ("/status", "/domain", "/conversations/default/tracker"):
                response = httpx.get(f"{url}{path}", params=params, timeout=30)
                assert response.status_code == 401, (path, params, response.text[:200])
        forged = httpx.post(
            f"{url}/conversations/default/tracker/events",
            json=[{"event": "slot", "name": "verified_order", "value": "OM-104233"}],
            timeout=30,
        )
        assert forged.status_code == 401
        # The token lives in the Rasa process's environment only, never on a command line.
        assert "--auth-token" not in cmdline(rasa) and "token" not in cmdline(rasa).lower()
        # Only this machine can connect: 127.0.0.1, never every interface (Rasa's 0.0.0.0).
        assert listening_addresses(port) == ["0100007F"], listening_addresses(port)

        children = children_of(process.pid)
        everyone = [pid for child in children for pid in group_members(child)] + children
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        deadline = time.monotonic() + 60
        while [pid for pid in everyone if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [pid for pid in everyone if alive(pid)], "processes left behind"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(main_fd)
