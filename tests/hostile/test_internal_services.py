"""The internal services refuse the internet's calls, through the real stack (`live_stack`).

Issue 12's probe: a hand-written tracker posted to the action server's `/webhook` returned an
order's status and tracking number. The action server (bot/action_server.py) now answers only
calls carrying the shared secret Rasa sends (`X-Action-Secret`, from the endpoints file),
listens on the loopback only, and caps request bodies before and after decompression. The
same forged call *with* the secret gets the order data (the answer action re-checks the proof
in the database, and this proof is the right one): so the refusals below come from the
secret, not from some other part of the call.
"""

from __future__ import annotations

import json
import socket
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import Stack, free_port, gateway_service
from tests.conftest import LiveStack, new_sender, texts
from tests.e2e.test_lookups import action_call
from tests.processes import listening_addresses

pytestmark = pytest.mark.e2e

TRACKING = "JD014600003828461025"  # OM-104233's parcel (data/stores/<shop>/demo_orders.yml)
MARIE = "marie.dupont@example.fr"  # its owner's address: the right proof


def forged_answer_call() -> dict[str, Any]:
    """What issue 12's attacker posted: the answer action, with the proof slots filled in."""
    return action_call(
        "action_answer_order_lookup",
        {
            "store": "om-system",
            "language": "en",
            "order_number": "OM-104233",
            "verified_order": "OM-104233",
            "verified_proof": MARIE,
            "lookup_purpose": "status",
        },
        "Where is my order OM-104233?",
    )


def post_webhook(live_stack: LiveStack, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{live_stack.action_url}/webhook", json=body, headers=headers, timeout=60)


def raw_exchange(port: int, request: bytes, *, read_s: float = 5.0) -> bytes:
    """Sends `request` as is on a fresh connection and returns what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_s) as sock:
        sock.sendall(request)
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
        return answer


def action_port(live_stack: LiveStack) -> int:
    return int(live_stack.action_url.rsplit(":", 1)[1])


# --- the shared secret ---------------------------------------------------------------------------


def test_a_forged_tracker_without_the_secret_is_refused_and_gets_no_order_data(
    live_stack: LiveStack,
) -> None:
    call = forged_answer_call()
    refused = post_webhook(live_stack, call)
    assert refused.status_code == 401
    assert "X-Action-Secret" in refused.json()["error"]
    assert TRACKING not in refused.text and "responses" not in refused.json()
    wrong = post_webhook(live_stack, call, **{"X-Action-Secret": live_stack.action_secret[:-1]})
    assert wrong.status_code == 401 and TRACKING not in wrong.text
    # Rasa's `token` query parameter is not the way in either.
    as_param = httpx.post(
        f"{live_stack.action_url}/webhook",
        params={"token": live_stack.action_secret},
        json=call,
        timeout=60,
    )
    assert as_param.status_code == 401 and TRACKING not in as_param.text
    # The same call with the secret runs the action: what blocked it was the secret alone.
    allowed = post_webhook(live_stack, call, **{"X-Action-Secret": live_stack.action_secret})
    assert allowed.status_code == 200, allowed.text
    assert TRACKING in allowed.text


def test_every_route_but_health_needs_the_secret(live_stack: LiveStack) -> None:
    assert httpx.get(f"{live_stack.action_url}/health", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"{live_stack.action_url}/actions", timeout=10).status_code == 401
    listed = httpx.get(
        f"{live_stack.action_url}/actions",
        headers={"X-Action-Secret": live_stack.action_secret},
        timeout=10,
    )
    assert {"name": "action_answer_order_lookup"} in listed.json()
    # No CORS: a web page in the customer's browser cannot call it either.
    preflight = httpx.options(
        f"{live_stack.action_url}/webhook",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_the_action_server_listens_on_the_loopback_only(live_stack: LiveStack) -> None:
    port = action_port(live_stack)
    # 127.0.0.1 in /proc's little-endian hex; never 00000000 (every interface).
    assert listening_addresses(port) == ["0100007F"], listening_addresses(port)


def test_rasa_sends_the_secret_so_the_chat_still_works(live_stack: LiveStack) -> None:
    # The customer's path: Rasa calls the form validation and the answer action with the
    # secret of its endpoints file.
    sender = new_sender()
    answer = texts(
        live_stack.say(
            f"Where is my order OM-104233? My e-mail is {MARIE}",
            sender=sender,
            metadata={"store": "om-system"},
        )
    )
    assert TRACKING in answer


# --- body caps -----------------------------------------------------------------------------------


def test_an_oversized_body_gets_413_before_it_is_sent(live_stack: LiveStack) -> None:
    head = (
        "POST /webhook HTTP/1.1\r\nHost: actions\r\nContent-Type: application/json\r\n"
        f"X-Action-Secret: {live_stack.action_secret}\r\nContent-Length: 200000000\r\n\r\n"
    ).encode()
    started = time.monotonic()
    # Only the headers are sent: the answer comes without reading 200 MB.
    answer = raw_exchange(action_port(live_stack), head)
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request body too large" in answer and b"8388608" in answer
    assert elapsed < 5, elapsed


def test_a_chunked_body_is_cut_at_the_cap(live_stack: LiveStack) -> None:
    chunk = b"x" * 1_048_576
    head = (
        "POST /webhook HTTP/1.1\r\nHost: actions\r\nContent-Type: application/json\r\n"
        f"X-Action-Secret: {live_stack.action_secret}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(9))
    with socket.create_connection(("127.0.0.1", action_port(live_stack)), timeout=10) as sock:
        sock.sendall(head)
        with pytest.raises(OSError):  # the server answers and closes once the cap is passed
            for _ in range(40):  # up to 360 MB offered; the server stops reading at 8 MiB
                sock.sendall(body)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_compression_bomb_gets_413_quickly_and_the_server_keeps_serving(
    live_stack: LiveStack,
) -> None:
    # 64 MB of JSON whitespace deflates to about 64 kB: far under the cap as sent, 8 times over
    # it once inflated. rasa-sdk alone would inflate all of it in memory.
    compressor = zlib.compressobj(9)
    bomb = b"".join(compressor.compress(b" " * 1_048_576) for _ in range(64))
    bomb += compressor.flush()
    assert len(bomb) < 100_000
    headers = {
        "X-Action-Secret": live_stack.action_secret,
        "Content-Encoding": "deflate",
        "Content-Type": "application/json",
    }
    started = time.monotonic()
    response = httpx.post(
        f"{live_stack.action_url}/webhook", content=bomb, headers=headers, timeout=60
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 413, response.text[:300]
    assert "after decompression" in response.json()["error"]
    assert elapsed < 5, elapsed
    # A deflated call under the cap is still served (what Rasa sends with
    # COMPRESS_ACTION_SERVER_REQUEST=true).
    small = zlib.compress(json.dumps(forged_answer_call()).encode())
    served = httpx.post(
        f"{live_stack.action_url}/webhook", content=small, headers=headers, timeout=60
    )
    assert served.status_code == 200, served.text[:300]
    assert TRACKING in served.text
    assert httpx.get(f"{live_stack.action_url}/health", timeout=10).status_code == 200


# --- Rasa's HTTP API -----------------------------------------------------------------------------


def test_rasa_s_api_refuses_callers_without_the_token(live_stack: LiveStack) -> None:
    # Issue 12's probe: anyone on the host wrote slots into a conversation and ran actions.
    sender = new_sender()
    live_stack.say("Bonjour", sender=sender, metadata={"store": "om-system"})
    rasa = live_stack.rasa_url
    forged_slots = [
        {"event": "slot", "name": "verified_order", "value": "OM-104233"},
        {"event": "slot", "name": "verified_proof", "value": MARIE},
    ]
    attempts = [
        ("GET", f"/conversations/{sender}/tracker", None),
        ("POST", f"/conversations/{sender}/tracker/events", forged_slots),
        ("PUT", f"/conversations/{sender}/tracker/events", forged_slots),
        ("POST", f"/conversations/{sender}/execute", {"name": "action_answer_order_lookup"}),
        ("POST", f"/conversations/{sender}/trigger_intent", {"name": "order_status"}),
        ("POST", "/model/parse", {"text": "Bonjour"}),
        ("GET", "/status", None),
    ]
    for method, path, body in attempts:
        for params in ({}, {"token": live_stack.rasa_token[:-1] + "x"}):
            refused = httpx.request(method, rasa + path, json=body, params=params, timeout=60)
            assert refused.status_code == 401, (method, path, refused.text[:200])
            assert TRACKING not in refused.text
    # Nothing was written: the conversation holds no forged slot.
    slots = live_stack.tracker(sender)["slots"]
    assert slots.get("verified_order") is None and slots.get("verified_proof") is None
    # With the token the same API answers (what the gateway and the mail worker use).
    parsed = httpx.post(
        f"{rasa}/model/parse", json={"text": "Bonjour"}, params=live_stack.token_param, timeout=60
    )
    assert parsed.status_code == 200 and parsed.json()["intent"]["name"]


def test_a_gateway_with_a_wrong_token_is_not_ready_and_does_not_show_it(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    # Rasa refuses the gateway's API calls; its readiness says so without the token.
    wrong = "wrong-" + live_stack.rasa_token[::-1]
    port = free_port()
    env = {
        **live_stack.gateway_env,
        "RASA_TOKEN": wrong,
        "DATABASE_URL": live_stack.database_url,
        "EMAIL_WORKER_ENABLED": "false",
        "DEFAULT_STORE": "om-system",
    }
    stack = Stack([gateway_service(port=port, env=env)], log_dir=tmp_path / "log")
    with stack.running():
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=30)
    assert ready.status_code == 503, ready.text
    assert ready.json()["rasa"] == "unreachable"
    assert wrong not in ready.text
    log = "".join(path.read_text("utf-8") for path in (tmp_path / "log").glob("*.log"))
    assert wrong not in log


def test_the_rasa_token_is_on_no_command_line(live_stack: LiveStack) -> None:
    # Any local user reads every process's command line (`ps`, /proc/<pid>/cmdline): the token
    # reaches Rasa through its environment (readable by its owner only), and Rasa still
    # demands it (test_rasa_s_api_refuses_callers_without_the_token).
    assert live_stack.rasa_token
    seen = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes()
        except OSError:
            continue  # the process ended meanwhile
        if b"bot.rasa_ext.cli" in arguments:
            seen += 1
        assert live_stack.rasa_token.encode() not in arguments, cmdline
    assert seen >= 1, "no Rasa server of the stack found"


# --- Rasa's REST channel ------------------------------------------------------------------------

# What the mail worker sends Rasa for a mail: the e-mail sender is the proof of ownership of an
# e-mail lookup (bot/mail/deciding.py). A caller that can forge it must not reach the channel.
FORGED_MAIL_TURN = {
    "message": "Où en est ma commande OM-104233 ?",
    "metadata": {
        "store": "om-system",
        "channel": "email",
        "sender_email": "marie.dupont@example.fr",  # OM-104233's owner (demo_orders.yml)
        "language": "fr",
    },
}
OM_104233_TRACKING = "JD014600003828461025"


def test_rasa_rest_channel_refuses_a_caller_without_rasa_token(live_stack: LiveStack) -> None:
    url = f"{live_stack.rasa_url}/webhooks/rest/webhook"
    for params in ({}, {"token": ""}, {"token": live_stack.rasa_token[:-1]}, {"token": "x" * 64}):
        refused = httpx.post(
            url, json={"sender": new_sender(), **FORGED_MAIL_TURN}, params=params, timeout=60
        )
        assert refused.status_code == 401, (params, refused.status_code, refused.text)
        assert OM_104233_TRACKING not in refused.text
    # The channel's health route stays open (it says nothing); the gateway's and the mail
    # worker's calls carry the token and are answered: the mail's sender proves ownership.
    assert httpx.get(f"{live_stack.rasa_url}/webhooks/rest/", timeout=10).status_code == 200
    allowed = httpx.post(
        url,
        json={"sender": new_sender(), **FORGED_MAIL_TURN},
        params=live_stack.token_param,
        timeout=60,
    )
    assert allowed.status_code == 200
    assert OM_104233_TRACKING in allowed.text
