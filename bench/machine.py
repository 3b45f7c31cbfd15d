"""The machine and its processes: cores, load, memory and CPU time of a process tree (/proc)."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

import httpx


def cpu_model() -> str | None:
    """The first `model name` of /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def mem_total_mb() -> float | None:
    """Physical memory (MemTotal of /proc/meminfo), in MB."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_mb": mem_total_mb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


# --- processes and memory -------------------------------------------------------------------


def _ppid_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text(encoding="utf-8")
            # The command name (field 2) may hold spaces and parentheses: split after it.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of `pid`, in MB; 0 when it is gone."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tree_rss(pid: int) -> dict[str, Any]:
    """Resident memory of a process and its children."""
    pids = process_tree(pid)
    return {"pid": pid, "processes": len(pids), "rss_mb": round(sum(rss_mb(p) for p in pids), 1)}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU time of `pid` and its live descendants (or `pid` alone), in seconds."""
    total = 0
    for member in process_tree(pid) if children else [pid]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{member}/stat").read_text(encoding="utf-8")
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLOCK_TICKS


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each process tree, and by this script."""
    snapshot = {name: cpu_seconds(pid) for name, pid in pids.items()}
    # Alone: the servers this script started are its children.
    snapshot["load generator (this script)"] = cpu_seconds(os.getpid(), children=False)
    return snapshot


def pid_listening_on(port: int) -> int | None:
    """The process that listens on a local TCP port (through /proc/net/tcp and the fds)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="utf-8").splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                    inodes.add(inode)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    candidates = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        candidates.append(int(entry.name))
                        break
    # A pre-forked server shares the socket with its workers: the parent is the lowest pid.
    return min(candidates) if candidates else None


def port_of(url: str) -> int:
    """The port of an http URL."""
    return httpx.URL(url).port or 80
