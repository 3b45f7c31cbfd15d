"""A tiny service for the supervisor's tests: answers ``GET /health`` on a port.

``python -m tests.supervisor.fake_service PORT [--crash-after S] [--busy-after S] [--worker]
[--stubborn]``: with ``--busy-after`` it stops answering that many seconds after it starts and
spins the CPU instead (a server slow under load, not a frozen one); with
``--stubborn`` it ignores SIGTERM (only SIGKILL stops it); with
``--crash-after`` it exits with code 3 that many seconds after it starts answering (after
printing a line its log keeps); with ``--worker`` it forks a child first, in the same process
group, that only sleeps: the stand-in of a Sanic worker, which outlives a killed parent.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUSY = threading.Event()


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        while BUSY.is_set():  # too busy to answer
            time.sleep(1)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def _stop_gracefully(signum: int, _frame: object) -> None:
    print(f"{os.getpid()} stopping on SIGTERM", flush=True)
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--crash-after", type=float, default=None)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--busy-after", type=float, default=None)
    parser.add_argument("--stubborn", action="store_true", help="ignore SIGTERM")
    args = parser.parse_args()
    if args.stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, _stop_gracefully)
    if args.worker and os.fork() == 0:
        print(f"worker {os.getpid()} started", flush=True)
        while True:
            time.sleep(3600)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"serving on {args.port} as {os.getpid()}", flush=True)
    if args.busy_after is not None:
        time.sleep(args.busy_after)
        print("busy: no more answers, the CPU spinning", flush=True)
        BUSY.set()
        while True:
            pass
    if args.crash_after is not None:
        time.sleep(args.crash_after)
        print("boom: crashing on purpose", flush=True)
        sys.stdout.flush()
        os._exit(3)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
