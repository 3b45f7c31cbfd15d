"""Business-day arithmetic for the delays the FAQs give in "jours ouvrables".

A business day here is Monday to Friday. There is deliberately no holiday calendar: the two
stores ship from and to many countries with different public holidays, and neither FAQ says
which calendar its delays follow. The computed dates are therefore estimates that can be
off by the holidays in the window; the responses present them as "expected" dates, never as
promises.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["add_business_days", "business_days_between", "is_business_day"]

_SATURDAY = 5


def is_business_day(day: dt.date) -> bool:
    """Whether ``day`` is a Monday to Friday (holidays are not taken into account)."""
    return day.weekday() < _SATURDAY


def add_business_days(start: dt.date, n: int) -> dt.date:
    """The date ``n`` business days after ``start`` (before it when ``n`` is negative).

    Days are counted the way a customer counts "3 business days from Friday": the first
    business day after ``start`` is day 1, so Friday + 1 is Monday and Saturday + 1 is also
    Monday. ``n == 0`` returns ``start`` unchanged, even on a weekend.

    Args:
        start: the day counting starts from (the order date, the shipping date...).
        n: how many business days to move.

    Returns:
        The ``n``-th business day after (or before) ``start``.
    """
    step = dt.timedelta(days=1 if n >= 0 else -1)
    day = start
    remaining = abs(n)
    # A plain walk: the FAQ delays are a few days, so clarity beats a closed formula here.
    while remaining:
        day += step
        if is_business_day(day):
            remaining -= 1
    return day


def business_days_between(a: dt.date, b: dt.date) -> int:
    """The number of business days in ``(a, b]``; negative when ``b`` is before ``a``.

    It is the inverse of :func:`add_business_days` on business days: for any business day
    ``b``, ``add_business_days(a, business_days_between(a, b)) == b``.

    Args:
        a: the start (excluded).
        b: the end (included).
    """
    if b < a:
        return -business_days_between(b, a)
    days = (b - a).days
    full_weeks, extra = divmod(days, 7)
    count = full_weeks * 5
    # The `extra` leftover days fall on the same weekdays as a + 1 .. a + extra.
    count += sum(1 for offset in range(1, extra + 1) if (a.weekday() + offset) % 7 < _SATURDAY)
    return count
