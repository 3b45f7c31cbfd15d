"""Looking at real processes from the tests (Linux /proc): alive, parent, command line."""

from __future__ import annotations

import os


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def ppid(pid: int) -> int:
    """The parent's pid (-1 when the process is gone)."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields is not None else -1


def children_of(parent: int) -> list[int]:
    """The direct children of a process."""
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return [pid for pid in pids if ppid(pid) == parent]


def cmdline(pid: int) -> str:
    """The command line, spaces between the arguments ('' when the process is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            return raw.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def listening_addresses(port: int) -> list[str]:
    """The local addresses listening on ``port``, in /proc's hex (``0100007F`` is 127.0.0.1,
    ``00000000`` every interface)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            for row in rows.read().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.append(address)
    return found
