"""Business-day arithmetic: weekends skipped, windows across weekends, n = 0, inverses."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.business_days import add_business_days, business_days_between, is_business_day

MON = dt.date(2026, 11, 23)  # the pinned "today" of the bot tests: a Monday
FRI_BEFORE = dt.date(2026, 11, 20)
SAT, SUN = dt.date(2026, 11, 28), dt.date(2026, 11, 29)
NEXT_MON = dt.date(2026, 11, 30)


def test_the_pinned_today_is_a_monday() -> None:
    assert MON.weekday() == 0


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0, True), (1, True), (2, True), (3, True), (4, True), (5, False), (6, False)],
)
def test_is_business_day(offset: int, expected: bool) -> None:
    assert is_business_day(MON + dt.timedelta(days=offset)) is expected


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (MON, 0, MON),
        (SAT, 0, SAT),  # zero days: the start itself, even on a weekend
        (MON, 1, dt.date(2026, 11, 24)),
        (dt.date(2026, 11, 27), 1, NEXT_MON),  # Friday + 1 = Monday
        (SAT, 1, NEXT_MON),
        (SUN, 1, NEXT_MON),
        (MON, 5, NEXT_MON),
        (MON, 10, dt.date(2026, 12, 7)),
        # om-system Q3 window for an order on Friday 20 November: Wednesday and Thursday.
        (FRI_BEFORE, 3, dt.date(2026, 11, 25)),
        (FRI_BEFORE, 4, dt.date(2026, 11, 26)),
        # btomic delivery window for a parcel shipped on Thursday 19 November.
        (dt.date(2026, 11, 19), 7, NEXT_MON),
        (dt.date(2026, 11, 19), 12, dt.date(2026, 12, 7)),
        # Crossing a month and a year end.
        (dt.date(2026, 12, 31), 1, dt.date(2027, 1, 1)),
        (dt.date(2027, 1, 1), 1, dt.date(2027, 1, 4)),
        # Negative: backwards.
        (MON, -1, FRI_BEFORE),
        (dt.date(2026, 11, 22), -1, FRI_BEFORE),
        (MON, -5, dt.date(2026, 11, 16)),
    ],
)
def test_add_business_days(start: dt.date, n: int, expected: dt.date) -> None:
    assert add_business_days(start, n) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (MON, MON, 0),
        (FRI_BEFORE, MON, 1),
        (dt.date(2026, 11, 21), dt.date(2026, 11, 22), 0),  # Saturday to Sunday
        (MON, NEXT_MON, 5),
        (MON, SUN, 4),
        (NEXT_MON, MON, -5),
        (MON, dt.date(2026, 12, 7), 10),
    ],
)
def test_business_days_between(a: dt.date, b: dt.date, expected: int) -> None:
    assert business_days_between(a, b) == expected


def _brute_force_between(a: dt.date, b: dt.date) -> int:
    sign = 1 if b >= a else -1
    low, high = min(a, b), max(a, b)
    days = (low + dt.timedelta(days=i) for i in range(1, (high - low).days + 1))
    return sign * sum(1 for day in days if day.weekday() < 5)


def test_business_days_between_agrees_with_counting_day_by_day() -> None:
    start = dt.date(2026, 11, 1)
    for i in range(21):
        for j in range(70):
            a, b = start + dt.timedelta(days=i), start + dt.timedelta(days=j)
            assert business_days_between(a, b) == _brute_force_between(a, b), (a, b)


def test_between_is_the_inverse_of_add() -> None:
    for i in range(14):
        start = MON + dt.timedelta(days=i)
        for n in range(0, 30):
            end = add_business_days(start, n)
            assert business_days_between(start, end) == n, (start, n)
            if n:
                assert is_business_day(end)
