"""Support console latency with 10,000 stored conversations (``make bench-console``).

A script, not a test: it builds a fresh SQLite orders/console database (migrations, demo orders,
an admin account, handoffs and inbox mails) and a SQLite tracker store holding N synthetic
conversations in Rasa's format (``bot.console.seeding``), imports them the way the gateway
does (timed), starts a real gateway process (``devstack.stack.gateway_service``, as ``make run``),
signs in, and requests every console page many times in a row. It writes the p50/p95/max of
each page to ``bench/console_results.json`` and ``bench/console_results.md``, with the machine's
load (``uptime``) before and after: the machine may be shared.

The answer editor's pages read a copy of ``data/stores`` that has a history of saved versions
(``HISTORY_VERSIONS`` edits saved through :mod:`bot.answers.editing`, as the editor saves them),
so the *Answers* page also computes that many diffs, as it would after weeks of use.

    .venv/bin/python bench/console.py [--conversations 10000] [--requests 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.console.reporting import import_events, tracker_engine  # noqa: E402
from bot.console.seeding import (  # noqa: E402
    create_tracker_table,
    random_conversation,
    write_conversations,
)
from bot.console.users import create_user  # noqa: E402
from bot.db.console import ReportConversation, Role  # noqa: E402
from bot.db.mailbox import HandoffChannel, InboxMessage, InboxState  # noqa: E402
from bot.db.session import make_engine, session_factory  # noqa: E402
from bot.handoffs import record_handoff  # noqa: E402
from bot.stores import store_ids  # noqa: E402
from devstack.stack import Stack, free_port, gateway_service  # noqa: E402

HISTORY_VERSIONS = 20
PASSWORD = "benchmark password"  # noqa: S105 - a throw-away account of a temporary database
TARGET_P95_MS = 200.0


def prepare(work: Path, conversations: int, seed: int) -> tuple[str, str, dict[str, Any]]:
    """The databases, filled; returns their URLs and the preparation figures."""
    import subprocess

    app_url = f"sqlite:///{work / 'orders.db'}"
    tracker_url = f"sqlite:///{work / 'tracker.db'}"
    env = {**os.environ, "DATABASE_URL": app_url, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "bot.db.demo", "--if-empty"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    stores = list(store_ids())
    writer = create_engine(tracker_url)
    create_tracker_table(writer)
    batch = [
        random_conversation(rng, start=start, days=90, stores=stores) for _ in range(conversations)
    ]
    events = write_conversations(writer, batch)
    writer.dispose()

    engine = make_engine(app_url)
    sessions = session_factory(engine)
    with sessions() as session:
        create_user(
            session,
            email="bench@shops.example",
            name="Bench Admin",
            role=Role.ADMIN,
            shops=stores,
            password=PASSWORD,
        )
        for index, conversation in enumerate(batch):
            handed = any("action_human_handoff" in turn.actions for turn in conversation.turns)
            if handed:
                record_handoff(
                    session=session,
                    channel=HandoffChannel.WEB,
                    conversation_id=conversation.rasa_sender,
                    store_id=conversation.store,
                    reason="human_handoff",
                    excerpt=conversation.turns[-1].text,
                )
            if conversation.channel == "email":
                session.add(
                    InboxMessage(
                        message_id=f"<bench-{index}@example.com>",
                        raw=b"From: a@example.com\r\n\r\nx",
                        store_id=conversation.store,
                        sender=f"customer{index}@example.com",
                        state=InboxState.REPLIED,
                        received_at=conversation.started_at,
                        processed_at=conversation.started_at
                        + dt.timedelta(seconds=rng.randint(2, 60)),
                    )
                )
        session.commit()
    reader = tracker_engine(tracker_url)
    began = time.perf_counter()
    report = import_events(sessions, reader, stores=stores, default_store="om-system")
    import_s = time.perf_counter() - began
    reader.dispose()
    with sessions() as session:
        sample = session.scalar(select(ReportConversation.sender_id).limit(1))
    engine.dispose()
    return (
        app_url,
        tracker_url,
        {
            "conversations": conversations,
            "tracker_events": events,
            "imported": report.conversations,
            "import_s": round(import_s, 2),
            "sample_conversation": sample,
        },
    )


def prepare_answers(work: Path, versions: int) -> dict[str, str]:
    """A copy of the shops' texts with ``versions`` saved edits in its history; returns the
    environment that points a gateway at it."""
    import shutil
    import subprocess

    from bot.shops import DEFAULT_STORES_DIR

    stores, history = work / "stores", work / "answers-history"
    shutil.copytree(DEFAULT_STORES_DIR, stores)
    env = {"STORES_DIR": str(stores), "ANSWERS_HISTORY_DIR": str(history)}
    script = (
        "import sys\n"
        "from bot.answers import editing\n"
        "from bot.console.answers import with_response\n"
        "for i in range(int(sys.argv[1])):\n"
        "    text = editing.current_text('btomic', 'texts')\n"
        "    text = with_response(text, 'utter_goodbye', f'Au revoir ({i}).', f'Goodbye ({i}).')\n"
        "    editing.save_texts('btomic', text)\n"
    )
    subprocess.run(  # noqa: S603 - this interpreter and a script of this file
        [sys.executable, "-c", script, str(versions)],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    return env


def uptime() -> str:
    """``uptime``'s line (the load of the machine, which other work may share)."""
    import shutil
    import subprocess

    command = shutil.which("uptime")
    try:
        if command is None:
            raise FileNotFoundError("uptime")
        return subprocess.run(  # noqa: S603 - the system's uptime, no argument
            [command], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def login(client: httpx.Client) -> None:
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    answer = client.post(
        "/console/login",
        data={"email": "bench@shops.example", "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text


def measure(client: httpx.Client, path: str, requests: int) -> dict[str, Any]:
    for _ in range(5):
        client.get(path)
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    times.sort()
    return {
        "page": path,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "max_ms": round(times[-1], 1),
        "bytes": len(response.content),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/console.py")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100, help="per page, after 5 warm-ups")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "bench")
    args = parser.parse_args()

    load_before = uptime()
    print(f"Machine: {load_before}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as folder:
        work = Path(folder)
        answers_env = prepare_answers(work, HISTORY_VERSIONS)
        print(f"Preparing {args.conversations} conversations...", flush=True)
        app_url, tracker_url, prepared = prepare(work, args.conversations, args.seed)
        print(
            f"Imported {prepared['imported']} conversations ({prepared['tracker_events']} tracker "
            f"events) in {prepared['import_s']} s",
            flush=True,
        )
        port = free_port()
        env = {
            "DATABASE_URL": app_url,
            "TRACKER_STORE_URL": tracker_url,
            "CONSOLE_SESSION_SECRET": "bench-console-session-secret-0123456789",
            "RASA_URL": f"http://127.0.0.1:{free_port()}",  # the console pages do not need Rasa
            "EMAIL_WORKER_ENABLED": "false",
            **answers_env,
        }
        stack = Stack([gateway_service(port=port, env=env)], log_dir=work / "log")
        pages = [
            "/console/handoffs",
            "/console/handoffs?status=all",
            "/console/handoffs/1",
            "/console/conversations",
            "/console/conversations?store=btomic&outcome=handed_off",
            "/console/conversations?q=commande",
            f"/console/conversations/{prepared['sample_conversation']}",
            "/console/analytics",
            "/console/analytics?store=om-system&language=fr&channel=web",
            "/console/analytics.csv",
            "/console/teaching",
            "/console/audit",
            "/console/answers?store=btomic",
            "/console/answers?store=om-system",
            "/console/answers/btomic/texts/utter_order_tracking",
            "/console/answers/btomic/texts/part_status_shipped",
            "/console/answers/btomic/facts",
            "/console/privacy",
            "/console/users",
        ]
        results = []
        with (
            stack.running(),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
        ):
            login(client)
            for path in pages:
                result = measure(client, path, args.requests)
                results.append(result)
                print(
                    f"  {path:60s} p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms",
                    flush=True,
                )
    load_after = uptime()
    print(f"Machine: {load_after}", flush=True)
    worst = max(r["p95_ms"] for r in results)
    document = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "uptime_before": load_before,
            "uptime_after": load_after,
        },
        "answer_history_versions": HISTORY_VERSIONS,
        "requests_per_page": args.requests,
        **prepared,
        "pages": results,
        "worst_p95_ms": worst,
        "target_p95_ms": TARGET_P95_MS,
        "target_met": worst < TARGET_P95_MS,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "console_results.json").write_text(
        json.dumps(document, indent=2) + "\n", encoding="utf-8"
    )
    lines = [
        "# Support console latency",
        "",
        f"`make bench-console` on {document['machine']['cores']} cores, "
        f"{document['measured_at']}; `uptime` before: `{load_before}`, after: `{load_after}`; "
        f"{prepared['conversations']:,} conversations "
        f"({prepared['tracker_events']:,} tracker events) "
        f"imported from the tracker store in {prepared['import_s']} s; each page requested "
        f"{args.requests} times in a row after 5 warm-ups, through a real gateway process "
        "(SQLite, signed in as an admin of both shops); the answer editor's pages on a copy of "
        f"the shops' texts with {HISTORY_VERSIONS} saved versions in its history.",
        "",
        "| page | p50 | p95 | max |",
        "|---|---:|---:|---:|",
        *(
            f"| `{r['page']}` | {r['p50_ms']} ms | {r['p95_ms']} ms | {r['max_ms']} ms |"
            for r in results
        ),
        "",
        f"Worst p95: **{worst} ms** (target < {TARGET_P95_MS:.0f} ms: "
        f"{'met' if worst < TARGET_P95_MS else 'NOT met'}).",
        "",
    ]
    (args.out / "console_results.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"Worst p95 {worst} ms; wrote {args.out / 'console_results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
