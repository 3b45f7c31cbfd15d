"""`make run`'s supervisor on the real stack: each process, and a worker, killed under load.

The real command (`python -m devstack.stack run`, what `make run` runs) starts the Rasa server,
the action server, the answer service and the gateway on free ports, with its own demo orders
database and its own `--var-dir`. A load thread keeps chatting through the gateway
(`POST /api/chat`, a delivery question whose answer needs the action server) while the tests
kill, in turn, the action server's main process, one of its workers (Sanic's), the Rasa
server, the gateway and the answer service, each with SIGKILL: the stack must say it restarts
the process, bring it back, leave nothing of the old one behind (Sanic's worker used to keep
the port), and answer every turn again.

The load is a client like the widget, the client customers use: the same resend protocol
(docs/contracts.md: one `client_message_id` per message, sent again on a network error or a
502/503 for up to WIDGET_RESEND_FOR_S), nothing more. One instance of each process runs here,
yet no turn may be lost, not even the one in flight on the killed process at the kill (the
gateway and Rasa wait for a restarting process, the widget for a restarting gateway, and Rasa
calls the delivery question's read-only action again when its call was cut:
actions/read_only.py), and none may be answered twice (Rasa's trackers are read: one user
message per conversation). The lost turns
and the worst turn time of each kill are reported. Last, two SIGTERMs in a row (what `make`
does) stop everything, leaving no process behind.

Waits poll a condition with a generous deadline (a loaded machine loads the model slowly);
no duration is asserted.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bot.config import PROJECT_ROOT, Settings
from devstack.stack import free_port, group_members, port_is_free
from tests.conftest import load_demo_database
from tests.processes import alive, children_of, cmdline
from tests.services import TEST_FIGURES

pytestmark = pytest.mark.e2e

PATIENCE_S = 900.0  # Rasa loading its model on a busy machine, twice


#: The widget's protocol (bot/api/static/widget.js, docs/contracts.md): its fetch timeout, its
#: resend pauses, and how long it resends (the gateway's WIDGET_RESEND_FOR_S default).
CLIENT_TIMEOUT_S = 45.0
RESEND_FIRST_PAUSE_S = 0.5
RESEND_LONGEST_PAUSE_S = 4.0
RESEND_FOR_S = Settings.model_fields["widget_resend_for_s"].default


@dataclass
class Turn:
    started: float
    finished: float
    ok: bool
    detail: str = ""
    sender_id: str = ""
    tries: int = 1


def send_like_the_widget(client: httpx.Client, url: str, body: dict[str, object]) -> Turn:
    """One customer message sent as the widget sends it: one client message id, sent again
    after a network error or a 502/503 (pauses of 0.5 s doubling to 4 s) while less than
    RESEND_FOR_S has passed; a timeout or any other answer ends it."""
    body = {**body, "client_message_id": "m" + uuid.uuid4().hex}
    started = time.monotonic()
    pause = RESEND_FIRST_PAUSE_S
    tries = 0
    while True:
        tries += 1
        try:
            response = client.post(url, json=body, timeout=CLIENT_TIMEOUT_S)
            retry = response.status_code in (502, 503)
            detail = f"{response.status_code} {response.text[:80]!r}"
        except httpx.TimeoutException as exc:
            response, retry, detail = None, False, repr(exc)[:120]
        except httpx.TransportError as exc:  # fetch rejected: refused, reset...
            response, retry, detail = None, True, repr(exc)[:120]
        if not retry or time.monotonic() + pause - started > RESEND_FOR_S:
            break
        time.sleep(pause)
        pause = min(pause * 2, RESEND_LONGEST_PAUSE_S)
    ok = False
    if response is not None and response.status_code == 200:
        text = " ".join(m.get("text") or "" for m in response.json()["messages"])
        ok = "Suisse" in text
        detail = "" if ok else f"200 {text[:80]!r}"
    sender_id = str(body["sender_id"])
    return Turn(started, time.monotonic(), ok, detail, sender_id, tries)


@dataclass
class Load:
    """A thread chatting through the gateway like the widget, one delivery question after
    another, each in a conversation of its own."""

    gateway_url: str
    turns: list[Turn] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    # Set while the load may send; `_between` is set by the thread once it saw it cleared.
    _go: threading.Event = field(default_factory=threading.Event)
    _between: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Load:
        self._go.set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        """Returns once no turn of the load is in flight, and none starts until `resume`."""
        self._between.clear()
        self._go.clear()
        wait_until(self._between.is_set, "the load between two turns")

    def resume(self) -> None:
        self._go.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def _run(self) -> None:
        with httpx.Client(timeout=CLIENT_TIMEOUT_S) as client:
            while not self._stop.is_set():
                if not self._go.is_set():
                    self._between.set()
                    self._go.wait(timeout=1.0)
                    continue
                body = {
                    "sender_id": f"sup-{uuid.uuid4().hex[:16]}",
                    "message": "Livrez-vous en Suisse ?",
                    "store": "om-system",
                }
                try:
                    turn = send_like_the_widget(client, f"{self.gateway_url}/api/chat", body)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    turn = Turn(time.monotonic(), time.monotonic(), False, repr(exc)[:120])
                self.turns.append(turn)
                if not turn.ok:
                    self._stop.wait(1.0)  # a customer trying again a second later

    def answered_after(self, moment: float) -> list[Turn]:
        return [t for t in list(self.turns) if t.started >= moment]


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    # The console's lines with the time each arrived, as the pump thread read them.
    lines: queue.Queue[tuple[float, str]]
    seen: list[str]
    gateway_url: str
    ports: dict[str, int]
    load: Load
    database_url: str
    # (kill time, time the stack said it had ended the killed process's whole group and
    # restarts it) of each kill: the killed process's workers lived until then.
    outages: list[tuple[float, float]] = field(default_factory=list)
    # When each line of `seen` arrived.
    seen_at: list[float] = field(default_factory=list)

    def rasa_token(self) -> str:
        """Rasa's API token of this run (`make run` writes it to var/ and prints where)."""
        banner = self.seen[self.wait_for("this run's token: ")]
        path = Path(banner.rsplit("this run's token: ", 1)[1].rstrip(")"))
        return path.read_text("utf-8").strip()

    def user_messages(self, sender_id: str) -> list[str]:
        """The customer messages Rasa stored in a load conversation."""
        tracker = httpx.get(
            f"http://127.0.0.1:{self.ports['RASA_PORT']}/conversations/"
            f"web-om-system-{sender_id}/tracker",
            params={"token": self.rasa_token()},
            timeout=60,
        )
        assert tracker.status_code == 200, tracker.text[:200]
        return [e["text"] for e in tracker.json()["events"] if e["event"] == "user"]

    def wait_for(self, text: str, after: int = 0) -> int:
        """Waits for a line of the stack's console containing `text` (at or after line
        `after`); returns its index."""
        deadline = time.monotonic() + PATIENCE_S
        index = after
        while True:
            while index < len(self.seen):
                if text in self.seen[index]:
                    return index
                index += 1
            left = deadline - time.monotonic()
            assert left > 0, f"the stack never said {text!r}:\n" + "\n".join(self.seen[-40:])
            try:
                arrived, line = self.lines.get(timeout=min(left, 5.0))
                self.seen.append(line)
                self.seen_at.append(arrived)
            except queue.Empty:
                assert self.process.poll() is None, "\n".join(self.seen[-40:])

    def service_leader(self, marker: str) -> int:
        (pid,) = [p for p in children_of(self.process.pid) if marker in cmdline(p)]
        return pid


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def running(
    trained_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    work = tmp_path_factory.mktemp("make-run")
    database_url = f"sqlite:///{work / 'orders.db'}"
    load_demo_database(database_url)
    ports = {
        "RASA_PORT": free_port(),
        "ACTION_SERVER_PORT": free_port(),
        "GATEWAY_PORT": free_port(),
        "ANSWER_SERVICE_PORT": free_port(),
        "LOCAL_SMTP_PORT": free_port(),
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "DATABASE_URL": database_url,
        "CHAT_RATE_LIMIT_MESSAGES": "1000000",
        "SMTP_URL": "",
        **{name: str(port) for name, port in ports.items()},
    }
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "devstack.stack", "run", "--var-dir", str(work / "var")],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put((time.monotonic(), line.rstrip("\n")))

    threading.Thread(target=pump, daemon=True).start()
    gateway_url = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
    stack = RunningStack(process, lines, [], gateway_url, ports, Load(gateway_url), database_url)
    try:
        stack.wait_for("Ready in")
        stack.load.start()
        yield stack
    finally:
        stack.load.stop()
        if process.poll() is None:
            # Only when a test failed half-way or was deselected (the last test stops it
            # itself): SIGTERM, so that the supervisor stops its processes too (a SIGKILL of it
            # alone left Rasa, the action server, the answer service and the gateway running).
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        failed = [t for t in stack.load.turns if not t.ok]
        resent = [t for t in stack.load.turns if t.tries > 1]
        worst = max((t.finished - t.started for t in stack.load.turns), default=0.0)
        # Rasa's own resends of a cut read-only action call, from its log (of every run of it).
        called_again = sum(
            log.read_text("utf-8", errors="replace").count("cut off (")
            for log in (work / "var" / "log").glob("Rasa-server-*.log")
        )
        TEST_FIGURES.append(
            f"make run under a chat load (a client resending like the widget): "
            f"{len(stack.load.turns)} turns, {len(failed)} lost, {len(resent)} resent, "
            f"worst turn {worst:.1f} s; {called_again} cut action call(s) of the delivery "
            "question sent again by Rasa (read-only)"
        )


def recovered(stack: RunningStack, since: float) -> None:
    """The next turns after `since` are answered again, each of them."""
    wait_until(lambda: len([t for t in stack.load.answered_after(since) if t.ok]) >= 3, "turns")
    later = time.monotonic()
    wait_until(lambda: len(stack.load.answered_after(later)) >= 3, "more turns")
    assert all(t.ok for t in stack.load.answered_after(later)), [
        t.detail for t in stack.load.answered_after(later)
    ]


def report(stack: RunningStack, what: str, killed_at: float, ended_at: float) -> None:
    """Adds the outage to the figures and checks it: no turn lost (not even the one in
    flight on the killed process), the worst turn time, no duplicate. The killed process is
    the whole service: its leader's SIGKILL at `killed_at`, its workers ended by the stack by
    `ended_at` (SIGTERM, then SIGKILL after 5 s)."""
    after = stack.load.answered_after(killed_at - 120)
    touched = [t for t in after if t.finished >= killed_at]
    failed = [t for t in touched if not t.ok]
    back = min((t.finished for t in touched if t.ok), default=time.monotonic())
    stack.outages.append((killed_at, ended_at))
    worst = max((t.finished - t.started for t in touched), default=0.0)
    resent = [t for t in touched if t.tries > 1]
    TEST_FIGURES.append(
        f"make run, {what} killed (SIGKILL) under a chat load: {len(failed)} turn(s) lost, "
        f"{len(resent)} resent, worst turn {worst:.1f} s, answered again after "
        f"{back - killed_at:.1f} s (one process of each kind; the client resends like the "
        "widget)"
    )
    # Lost: none. The turn in flight on the killed process is resent (the gateway's resend to
    # Rasa, the widget's to the gateway, Rasa's call of a read-only action again).
    assert failed == [], [t.detail for t in failed]
    # Each conversation of the outage holds its message once: a resend was answered, not run
    # again (Rasa's idempotency, keyed by the client message id).
    for turn in touched:
        assert turn.sender_id
        stored = stack.user_messages(turn.sender_id)
        assert stored == ["Livrez-vous en Suisse ?"] or (not turn.ok and stored == []), (
            turn,
            stored,
        )


def kill_and_see_it_back(stack: RunningStack, name: str, marker: str) -> None:
    leader = stack.service_leader(marker)
    everyone = group_members(leader)
    mark = len(stack.seen)
    killed_at = time.monotonic()
    os.kill(leader, signal.SIGKILL)
    ended = stack.wait_for(f"The {name} exited with code -9; restarting it", after=mark)
    back = stack.wait_for(f"The {name} is back", after=mark)
    since = time.monotonic()
    assert back > mark
    assert not [pid for pid in everyone if alive(pid)], "part of the killed process was left"
    assert stack.service_leader(marker) != leader
    recovered(stack, since)
    report(stack, f"the {name}'s main process", killed_at, stack.seen_at[ended])


def test_the_load_is_answered(running: RunningStack) -> None:
    wait_until(lambda: sum(t.ok for t in running.load.turns) >= 5, "first turns")
    assert all(t.ok for t in running.load.turns), [t.detail for t in running.load.turns]


def test_make_run_keeps_the_rasa_api_and_the_action_server_internal(
    running: RunningStack,
) -> None:
    # Rasa's API needs this run's token, which `make run` wrote to var/ and printed where.
    token = running.rasa_token()
    rasa = f"http://127.0.0.1:{running.ports['RASA_PORT']}"
    assert httpx.get(f"{rasa}/status", timeout=10).status_code == 401
    status = httpx.get(f"{rasa}/status", params={"token": token}, timeout=10)
    assert status.status_code == 200 and status.json()["model_file"]
    # The action server answers Rasa's calls only (the secret of var/endpoints.yml).
    actions = f"http://127.0.0.1:{running.ports['ACTION_SERVER_PORT']}"
    assert httpx.post(f"{actions}/webhook", json={}, timeout=10).status_code == 401
    assert httpx.get(f"{actions}/health", timeout=10).status_code == 200


def test_make_run_prints_the_console_url_and_how_to_create_the_first_account(
    running: RunningStack,
) -> None:
    """What `make run` prints leads to a working console: the printed address answers, and
    the printed command (`make user` runs `python -m bot.console.users create`) makes an
    account that signs in there."""
    import re

    line = running.seen[running.wait_for("Support console:")]
    url = line.split("Support console:", 1)[1].strip()
    assert url == f"http://localhost:{running.ports['GATEWAY_PORT']}/console", line
    first = running.wait_for("first account: `make user`")
    last = running.wait_for("Accounts page", after=first)
    advice = " ".join(" ".join(running.seen[first : last + 1]).split())
    assert "first account: `make user` in another terminal (an admin of `all` shops)" in advice
    console = url.replace("localhost", "127.0.0.1")
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        page = client.get(f"{console}/login")
        assert page.status_code == 200 and "Sign in" in page.text
        # What `make user` runs, with the answers a person types given on the command line.
        created = subprocess.run(  # noqa: S603 - this interpreter and the project's module
            [
                sys.executable,
                "-m",
                "bot.console.users",
                "create",
                "--email",
                "first.admin@shops.example",
                "--name",
                "First Admin",
                "--role",
                "admin",
                "--shops",
                "all",
                "--password-stdin",
            ],
            input="first admin password\n",
            cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": running.database_url},
            capture_output=True,
            text=True,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "no CSRF token on the login page"
        signed_in = client.post(
            f"{console}/login",
            data={
                "email": "first.admin@shops.example",
                "password": "first admin password",
                "csrf_token": token.group(1),
                "next": "/console",
            },
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        inbox = client.get(f"{console}/handoffs")
        assert inbox.status_code == 200 and "Handoff inbox" in inbox.text


def test_the_action_server_main_process_killed(running: RunningStack) -> None:
    kill_and_see_it_back(running, "action server", "bot.action_server")


def test_an_action_server_worker_killed(running: RunningStack) -> None:
    leader = running.service_leader("bot.action_server")
    everyone = group_members(leader)
    # The one serving: Sanic's worker is the last process its manager spawned.
    workers = [pid for pid in everyone if pid != leader and "spawn_main" in cmdline(pid)]
    assert workers, "Sanic runs its app in worker processes"
    worker = max(workers)
    mark = len(running.seen)
    killed_at = time.monotonic()
    os.kill(worker, signal.SIGKILL)
    # Sanic's manager does not replace it and keeps the port, where nobody answers: the
    # stack notices the dead worker at once and restarts the whole action server.
    ended = running.wait_for(
        f"The action server lost its worker process (pid {worker}); restarting", mark
    )
    running.wait_for("The action server is back", after=mark)
    since = time.monotonic()
    assert not [pid for pid in everyone if alive(pid)], "part of the old action server was left"
    recovered(running, since)
    report(running, "a Sanic worker of the action server", killed_at, running.seen_at[ended])
    current = running.service_leader("bot.action_server")
    assert current != leader and len(group_members(current)) >= 2


def unread_requests(port: int) -> int:
    """Bytes that reached the sockets listening or accepted on `port` (IPv4) and were not
    read yet: a request sent to a process that has not taken it."""
    total = 0
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port:
                total += int(fields[4].split(":")[1], 16)
    return total


def handoffs_of(database_url: str, conversation: str) -> int:
    """The handoffs recorded for a conversation in the stack's orders database."""
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM handoffs WHERE conversation_id = ?", (conversation,)
        ).fetchone()
    return int(count)


def test_an_action_with_effects_cut_mid_call_asks_for_the_message_again(
    running: RunningStack,
) -> None:
    """A handoff request (its action records a handoff: not read-only) whose action call the
    action server's death cut: the customer reads "send it again" (not silence), Rasa did not
    call the action again, and the customer's resend records the handoff once.

    The call is caught in flight without any timing: the action server's workers are stopped
    (SIGSTOP), the message sent, and the kill comes once Rasa's request sits unread in the
    action server's socket (/proc/net/tcp)."""
    running.load.pause()
    port = running.ports["ACTION_SERVER_PORT"]
    leader = running.service_leader("bot.action_server")
    workers = [pid for pid in group_members(leader) if pid != leader]
    assert workers
    sender = f"cut-{uuid.uuid4().hex[:16]}"
    conversation = f"web-om-system-{sender}"
    body = {
        "sender_id": sender,
        "message": "Je veux parler à un conseiller",
        "store": "om-system",
        "client_message_id": "m" + uuid.uuid4().hex,
    }
    url = f"{running.gateway_url}/api/chat"
    answers: queue.Queue[httpx.Response] = queue.Queue()
    mark = len(running.seen)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        sending = threading.Thread(
            target=lambda: answers.put(httpx.post(url, json=body, timeout=CLIENT_TIMEOUT_S)),
            daemon=True,
        )
        sending.start()
        # Rasa's call carries the conversation's tracker (kilobytes), a health probe of the
        # stopped server a hundred bytes.
        wait_until(lambda: unread_requests(port) > 2048, "Rasa's action call in flight")
    except BaseException:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        raise
    # The whole action server dies with the request unread (a stopped worker is never let
    # go on: it would run the action).
    os.kill(leader, signal.SIGKILL)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    cut = answers.get(timeout=PATIENCE_S)
    running.wait_for("The action server is back", after=mark)
    assert cut.status_code == 200, cut.text[:200]
    answer = cut.json()
    assert answer["resend"] is True
    assert [m["text"] for m in answer["messages"]] == [
        "Je n'ai pas pu traiter ce message pour l'instant\u00a0: renvoyez-le, s'il vous plaît."
    ]
    assert handoffs_of(running.database_url, conversation) == 0  # cut before it acted
    # The customer sends it again (the widget: same text, same id): processed, recorded once.
    again = httpx.post(url, json=body, timeout=CLIENT_TIMEOUT_S)
    assert again.status_code == 200, again.text[:200]
    assert again.json()["resend"] is False
    assert again.json()["messages"], "the resend was answered"
    assert handoffs_of(running.database_url, conversation) == 1
    running.load.resume()
    recovered(running, time.monotonic())


def test_the_rasa_server_killed(running: RunningStack) -> None:
    kill_and_see_it_back(running, "Rasa server", "bot.rasa_ext.cli")


def test_the_gateway_killed(running: RunningStack) -> None:
    kill_and_see_it_back(running, "gateway", "uvicorn")


def test_the_answer_service_killed(running: RunningStack) -> None:
    kill_and_see_it_back(running, "answer service", "bot.answers.service")


def test_two_sigterms_stop_everything_and_leave_nothing(running: RunningStack) -> None:
    leaders = children_of(running.process.pid)
    everyone = [pid for leader in leaders for pid in group_members(leader)]
    assert len(leaders) == 4 and len(everyone) >= 5, (leaders, everyone)
    running.load.stop()
    # No turn was lost, during the kills (checked per kill by `report`) or between them.
    lost = [t for t in running.load.turns if not t.ok]
    assert not lost, [t.detail for t in lost]
    running.process.send_signal(signal.SIGTERM)  # make forwards its own SIGTERM: two arrive
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=120) == 0, "\n".join(running.seen[-20:])
    running.wait_for("Stopped.")
    assert not [pid for pid in everyone if alive(pid)], "processes left behind"
    for name in running.ports:
        assert port_is_free(running.ports[name]), f"{name} still taken"
