"""``python -m tests.supervisor.fake_stack LOG_DIR PORT...``: `make run`'s foreground code
(:func:`devstack.stack.serve`) on fake services (one per port, each with a worker; the first one
ignores SIGTERM, so stopping it takes the whole grace period and ends with SIGKILL)."""

from __future__ import annotations

import sys
from pathlib import Path

from devstack.stack import Service, Stack, serve


def main() -> int:
    log_dir, ports = Path(sys.argv[1]), [int(port) for port in sys.argv[2:]]
    services = [
        Service(
            f"fake service {index}",
            [
                sys.executable,
                "-m",
                "tests.supervisor.fake_service",
                str(port),
                "--worker",
                *(["--stubborn"] if index == 1 else []),
            ],
            port,
            "/health",
            ready_timeout_s=120,
        )
        for index, port in enumerate(ports, start=1)
    ]
    return serve(
        Stack(services, log_dir=log_dir),
        starting="Starting the fake services...",
        ready=lambda seconds: f"Ready in {seconds:.0f} s.",
    )


if __name__ == "__main__":
    sys.exit(main())
