"""The benchmark stops the servers it started, also when one of them never answers.

`make bench`'s A/B once left a stock Rasa server running after "gave no answer in 120 s":
`bench.targets.start_rasa_timed` handed its stack to the caller only on success. Here a real
process stands in for a Rasa server that starts (its `/status` names a model) but never answers
a message; the benchmark's own start-up function must fail with StackError and leave no process
of that server behind.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench import targets
from devstack.stack import Service, Stack, StackError, free_port

# A server whose /status says a model is loaded and whose REST channel answers nothing useful.
FAKE_RASA = textwrap.dedent(
    """
    import http.server, json, os, sys

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send(200, {"model_file": "fake.tar.gz"})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(500, {"error": "never answers"})

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    with open(sys.argv[2], "w") as pid_file:
        pid_file.write(str(os.getpid()))
    server.serve_forever()
    """
)


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_rasa_server_that_never_answers_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fake_rasa.py"
    script.write_text(FAKE_RASA, encoding="utf-8")
    pid_file = tmp_path / "fake.pid"
    services: list[Service] = []

    def fake_rasa_service(*, port: int, name: str, **_: object) -> Service:
        argv = [sys.executable, str(script), str(port), str(pid_file)]
        services.append(Service(name, argv, port, "/status", ready_timeout_s=30))
        return services[-1]

    monkeypatch.setattr(targets, "rasa_service", fake_rasa_service)
    monkeypatch.setenv("RASA_TOKEN", "bench-cleanup-test-token")
    with pytest.raises(StackError, match="gave no answer"):
        targets.start_rasa_timed(
            model=tmp_path / "model.tar.gz",
            endpoints=tmp_path / "endpoints.yml",
            env={},
            log_dir=tmp_path / "log",
            name="never-answering Rasa server",
            answer_timeout_s=1.0,
        )
    # It was started and became ready (Stack.start waits for /status naming a model)...
    assert len(services) == 1
    pid = int(pid_file.read_text(encoding="utf-8"))
    # ...and nothing of it is left: the stack was stopped before the error went up.
    assert not _running(pid)
    assert services[0].process is None


def test_the_stand_in_keeps_running_until_its_stack_is_stopped(tmp_path: Path) -> None:
    """Without the stop the process would still be there: what the test above relies on."""
    script = tmp_path / "fake_rasa.py"
    script.write_text(FAKE_RASA, encoding="utf-8")
    pid_file = tmp_path / "fake.pid"
    port = free_port()
    service = Service(
        "fake", [sys.executable, str(script), str(port), str(pid_file)], port, "/status"
    )
    stack = Stack([service], log_dir=tmp_path / "log")
    stack.start()
    try:
        pid = int(pid_file.read_text(encoding="utf-8"))
        time.sleep(0.5)
        assert _running(pid)
    finally:
        stack.stop()
    assert not _running(pid)
