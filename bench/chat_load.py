"""NLU parse latency, a chat turn through the gateway, and throughput at several numbers of
concurrent conversations."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx

from bench.machine import cpu_seconds, cpu_snapshot, load_average
from bench.stats import latency_summary, log
from bench.targets import rasa_token
from bench.workload import (
    FAQ_TURNS,
    GREETINGS,
    ORDER_TURNS,
    THANKS,
    answer_text,
    chat_payload,
    new_sender,
)


def bench_parse(
    rasa_url: str,
    messages: Sequence[str],
    count: int,
    warmup: int,
    rasa_pid: int | None = None,
) -> dict[str, Any]:
    """Sequential `POST /model/parse` latencies over `count` messages (cycled if fewer).

    With `rasa_pid`, also the Rasa server's CPU milliseconds per parse (/proc/<pid>/stat): a
    figure the load of a shared machine moves far less than the latencies.
    """
    cycle = itertools.cycle(messages)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    with httpx.Client(base_url=rasa_url, timeout=60.0, params={"token": rasa_token()}) as client:
        for _ in range(warmup):
            client.post("/model/parse", json={"text": next(cycle)})
        cpu_before = cpu_seconds(rasa_pid) if rasa_pid else None
        for _ in range(count):
            text = next(cycle)
            started = time.perf_counter()
            try:
                response = client.post("/model/parse", json={"text": text})
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(elapsed)
            for entity in body.get("entities") or []:
                if entity.get("entity") == "language":
                    languages[str(entity.get("value"))] += 1
        cpu_after = cpu_seconds(rasa_pid) if rasa_pid else None
    result = latency_summary(latencies, sum(errors.values()))
    if cpu_before is not None and cpu_after is not None and count > 0:
        result["rasa_cpu_ms_per_parse"] = round((cpu_after - cpu_before) * 1000.0 / count, 2)
    result["error_kinds"] = dict(errors)
    result["distinct_messages"] = len(messages)
    result["detected_language"] = dict(languages)
    return result


def bench_chat(
    gateway_url: str, turns: Sequence[tuple[str, ...]], count: int, warmup: int
) -> dict[str, Any]:
    """Sequential full turns through `POST /api/chat`, each in a new conversation.

    A turn is `(store, language, message)` or `(store, language, message, expected)`: the
    answer must then contain `expected` (the order's tracking number), else it counts as an
    error: a fast wrong answer is not a result.
    """
    cycle = itertools.cycle(turns)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    with httpx.Client(base_url=gateway_url, timeout=60.0) as client:
        for index in range(warmup + count):
            store, language, message, *expected = next(cycle)
            payload = chat_payload(store, language, message, new_sender())
            started = time.perf_counter()
            try:
                response = client.post("/api/chat", json=payload)
                elapsed = time.perf_counter() - started
            except httpx.HTTPError as exc:
                if index >= warmup:
                    errors[type(exc).__name__] += 1
                continue
            if index < warmup:
                continue
            problem = check_answer(response, expected[0] if expected else None)
            if problem:
                errors[problem] += 1
            else:
                latencies.append(elapsed)
    result = latency_summary(latencies, sum(errors.values()))
    result["error_kinds"] = dict(errors)
    return result


def check_answer(response: httpx.Response, expected: str | None) -> str | None:
    """Why a /api/chat answer is not a good one, None when it is."""
    if response.status_code != 200:
        return f"http_{response.status_code}"
    try:
        text = answer_text(response.json())
    except ValueError:
        return "not_json"
    if not text.strip():
        return "empty_answer"
    if expected is not None and expected not in text:
        return "wrong_answer"
    return None


def conversation_script(rng: random.Random) -> list[tuple[str, str, str, str | None]]:
    """One customer's conversation: greeting, two FAQ questions, an order lookup, thanks."""
    store, language, message, expected = rng.choice(ORDER_TURNS)
    faq = [t for t in FAQ_TURNS if t[0] == store] or FAQ_TURNS
    first, second = rng.sample(faq, 2) if len(faq) >= 2 else (faq[0], faq[0])
    greeting = dict(GREETINGS)[language]
    thanks = dict(THANKS)[language]
    return [
        (store, language, greeting, None),
        (store, first[1], first[2], None),
        (store, second[1], second[2], None),
        (store, language, message, expected),
        (store, language, thanks, None),
    ]


async def bench_concurrency_level(
    gateway_url: str, conversations: int, duration_s: float, max_turns: int
) -> dict[str, Any]:
    """`conversations` customers chatting at once through the gateway for `duration_s`.

    Each simulated customer runs conversation after conversation (5 turns each, a new
    conversation id each time), sending its next message as soon as the previous answer
    arrived: the closed-loop load of `conversations` simultaneous chats. Stops after
    `duration_s` or `max_turns` turns in all, whichever first; the turns under way finish.
    """
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    rng = random.Random(conversations)  # noqa: S311 - reproducible scripts, not secrets
    deadline = time.perf_counter() + duration_s
    limits = httpx.Limits(
        max_connections=conversations + 4, max_keepalive_connections=conversations + 4
    )

    async def customer(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline and len(latencies) + sum(errors.values()) < max_turns:
            sender = new_sender()
            for store, language, message, expected in conversation_script(rng):
                if time.perf_counter() >= deadline:
                    return
                payload = chat_payload(store, language, message, sender)
                started = time.perf_counter()
                try:
                    response = await client.post("/api/chat", json=payload)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                elapsed = time.perf_counter() - started
                problem = check_answer(response, expected)
                if problem:
                    errors[problem] += 1
                else:
                    latencies.append(elapsed)

    async with httpx.AsyncClient(base_url=gateway_url, timeout=60.0, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(customer(client) for _ in range(conversations)))
        elapsed = time.perf_counter() - started
    result = latency_summary(latencies, sum(errors.values()))
    result.update(
        conversations=conversations,
        duration_s=round(elapsed, 2),
        turns_per_s=round(len(latencies) / elapsed, 2) if elapsed > 0 else None,
        error_kinds=dict(errors),
        load_average=load_average(),
    )
    return result


def bench_concurrency(
    gateway_url: str,
    levels: Sequence[int],
    duration_s: float,
    max_turns: int,
    pids: dict[str, int],
) -> list[dict[str, Any]]:
    """`bench_concurrency_level` at each level, one after the other.

    Also reports the CPU milliseconds each process spent per turn (from /proc/<pid>/stat,
    children included): on a machine this small, where the CPU goes is what limits the
    throughput, and this needs no profiler.
    """
    results = []
    for level in levels:
        log(f"concurrency: {level} conversation(s) for {duration_s:.0f} s...")
        before = cpu_snapshot(pids)
        result = asyncio.run(bench_concurrency_level(gateway_url, level, duration_s, max_turns))
        after = cpu_snapshot(pids)
        turns = max(1, result["count"] + result["errors"])
        result["cpu_ms_per_turn"] = {
            name: round((after[name] - before[name]) * 1000.0 / turns, 2) for name in after
        }
        result["cpu_utilisation_pct"] = round(
            sum(after[n] - before[n] for n in after) * 100.0 / result["duration_s"], 1
        )
        log(
            f"  {result['turns_per_s']} turns/s, p95 {result['p95_ms']} ms, "
            f"{result['errors']} error(s)"
        )
        results.append(result)
    return results
