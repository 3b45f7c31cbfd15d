"""Summaries of measured latencies, and the benchmark's progress lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies_s: Sequence[float], errors: int = 0) -> dict[str, Any]:
    """Count, errors, mean, p50/p95/p99 and max of latencies, in milliseconds."""
    ms = [s * 1000.0 for s in latencies_s]
    return {
        "count": len(ms),
        "errors": errors,
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else None,
        "p50_ms": round(percentile(ms, 50), 2) if ms else None,
        "p95_ms": round(percentile(ms, 95), 2) if ms else None,
        "p99_ms": round(percentile(ms, 99), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
    }


def log(message: str) -> None:
    """Progress on stderr (stdout is kept for the summary)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
