"""The brute-force limits of order verification, on SQLite and PostgreSQL.

Each test gets a database of its own, migrated for real and holding the demo orders
(committed: ``check_proof`` commits each attempt, and the concurrency test needs several
connections). The clock is passed in, so the window and the cool-down are tested without
waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db.demo import load_demo_data
from bot.db.session import session_factory
from bot.db.verification import VerificationAttempt, VerificationOutcome
from bot.verification import CheckResult, check_proof, locked_until, order_key
from tests.bot.db.conftest import BACKENDS, migrated_database

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
OWNER = "marie.dupont@example.fr"
SETTINGS = Settings(_env_file=None, database_url="sqlite://")  # the defaults: 5, 20, 1 h, 1 h


@pytest.fixture(params=BACKENDS)
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with migrated_database(request.param, tmp_path) as engine:
        factory = session_factory(engine)
        with factory() as session:
            load_demo_data(session, today=T0.date())
            session.commit()
        yield factory


def check(
    sessions: sessionmaker[Session],
    *,
    number: str = "OM-104233",
    email: str | None = None,
    postcode: str | None = None,
    client: str = "ip:203.0.113.1",
    conversation: str = "web-om-system-a",
    at: dt.datetime = T0,
    settings: Settings = SETTINGS,
) -> CheckResult:
    with sessions() as session:
        return check_proof(
            session,
            settings,
            number=number,
            email=email,
            postcode=postcode,
            prefer_store="om-system",
            client=client,
            channel="web",
            conversation=conversation,
            now=at,
        ).result


def test_five_failures_from_anywhere_lock_the_order_even_for_the_right_proof(
    sessions: sessionmaker[Session],
) -> None:
    # Five wrong postcodes, each from another client and conversation, with the number written
    # four ways: they all count for the one order.
    for i, number in enumerate(["OM-104233", "om 104233", "104233", "#104233", "OM-104233"]):
        outcome = check(
            sessions,
            number=number,
            postcode=f"7501{i}" if i != 1 else "99999",
            client=f"ip:198.51.100.{i}",
            conversation=f"web-om-system-{i}",
            at=T0 + dt.timedelta(minutes=i),
        )
        assert outcome is CheckResult.FAILED
    right = {"email": OWNER, "client": "email:" + OWNER, "conversation": "email-x"}
    assert check(sessions, at=T0 + dt.timedelta(minutes=10), **right) is CheckResult.REFUSED
    # Still refused just before the cool-down ends (an hour after the fifth failure)...
    assert check(sessions, at=T0 + dt.timedelta(minutes=63), **right) is CheckResult.REFUSED
    # ...and checked again after it.
    assert check(sessions, at=T0 + dt.timedelta(minutes=65), **right) is CheckResult.VERIFIED


def test_a_lock_says_nothing_about_whether_the_order_exists(
    sessions: sessionmaker[Session],
) -> None:
    for number in ("OM-999999", "OM-104250"):
        for i in range(5):
            assert check(sessions, number=number, postcode=f"0000{i}", client=f"ip:x{i}") is (
                CheckResult.FAILED
            )
        assert check(sessions, number=number, postcode="10115", client="ip:y") is (
            CheckResult.REFUSED
        )


def test_failures_spread_over_more_than_the_window_do_not_lock(
    sessions: sessionmaker[Session],
) -> None:
    for i in range(8):
        at = T0 + dt.timedelta(minutes=16 * i)  # never 5 within an hour
        assert check(sessions, postcode=f"0000{i}", at=at, client=f"ip:{i}") is CheckResult.FAILED
    assert check(sessions, email=OWNER, at=T0 + dt.timedelta(minutes=130)) is CheckResult.VERIFIED


def test_a_client_that_fails_on_many_orders_is_refused_on_any_order(
    sessions: sessionmaker[Session],
) -> None:
    settings = Settings(
        _env_file=None, database_url="sqlite://", verification_client_max_failures=6
    )
    for i in range(6):
        # Six different (mostly nonexistent) orders: no order reaches its own limit.
        assert check(sessions, number=f"OM-10{i:04d}", postcode="00000", settings=settings) is (
            CheckResult.FAILED
        )
    assert check(sessions, email=OWNER, settings=settings) is CheckResult.REFUSED
    # Another client is not concerned.
    assert check(sessions, email=OWNER, client="ip:203.0.113.99", settings=settings) is (
        CheckResult.VERIFIED
    )


def test_the_audit_log_holds_every_attempt_and_never_the_proof(
    sessions: sessionmaker[Session],
) -> None:
    check(sessions, postcode="75099")
    check(sessions, email=OWNER, conversation="web-om-system-b")
    with sessions() as session:
        rows = session.scalars(select(VerificationAttempt).order_by(VerificationAttempt.id)).all()
        assert [(r.order_key, r.client_key, r.channel, r.outcome) for r in rows] == [
            ("104233", "ip:203.0.113.1", "web", VerificationOutcome.FAILED),
            ("104233", "ip:203.0.113.1", "web", VerificationOutcome.VERIFIED),
        ]
        stored = " ".join(
            f"{r.order_key} {r.client_key} {r.channel} {r.conversation_id}" for r in rows
        )
    assert "75099" not in stored and OWNER not in stored


def test_the_log_never_shows_an_e_mail_sender_which_can_be_the_proof(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    sender = f"email:{OWNER}"
    with caplog.at_level(logging.INFO, logger="bot.verification"):
        check(sessions, email=OWNER, client=sender)
        check(sessions, postcode="75099", client=sender)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.verification"]
    assert len(lines) == 2 and all("email:sha256:" in line for line in lines)
    # The same sender gives the same digest, so the audit lines of one sender still match.
    assert lines[0].split(" from ")[1].split(" ")[0] == lines[1].split(" from ")[1].split(" ")[0]
    assert not any(OWNER in line or "75099" in line for line in lines)


def test_simultaneous_guesses_count_exactly(sessions: sessionmaker[Session]) -> None:
    # Twelve wrong guesses at the same instant from twelve clients (twelve servers, say): five
    # are checked and fail, the others are refused. None gets through unchecked.
    barrier = threading.Barrier(12)
    outcomes: list[CheckResult] = []

    def guess(i: int) -> None:
        barrier.wait()
        outcomes.append(check(sessions, postcode=f"{i:05d}", client=f"ip:10.0.0.{i}"))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([CheckResult.FAILED] * 5 + [CheckResult.REFUSED] * 7)


def test_locked_until() -> None:
    hour = dt.timedelta(hours=1)
    times = [T0 + dt.timedelta(minutes=m) for m in (0, 10, 20, 30, 40)]
    assert locked_until(times, limit=5, window=hour, cooldown=hour) == T0 + dt.timedelta(
        minutes=100
    )
    assert locked_until(times[:4], limit=5, window=hour, cooldown=hour) is None
    spread = [T0 + dt.timedelta(minutes=m) for m in (0, 20, 40, 61, 70)]
    assert locked_until(spread, limit=5, window=hour, cooldown=hour) is None
    assert order_key("bt-200517") == "200517" and order_key("#104233") == "104233"


def test_customers_behind_one_shared_address_and_the_per_client_limit(
    sessions: sessionmaker[Session],
) -> None:
    # The default limits, many customers behind one address (a carrier's NAT, an office).
    nat = "ip:100.64.0.1"
    minute = dt.timedelta(minutes=1)
    # Six customers each mistype their proof three times (their conversations' own limit) on
    # orders of their own: 18 failures from the address, nobody is locked out.
    for i in range(6):
        for attempt in range(3):
            outcome = check(
                sessions,
                number=f"OM-2{i:05d}",
                postcode="00000",
                client=nat,
                conversation=f"web-om-system-nat-{i}",
                at=T0 + (3 * i + attempt) * minute,
            )
            assert outcome is CheckResult.FAILED
    assert check(sessions, email=OWNER, client=nat, at=T0 + 20 * minute) is CheckResult.VERIFIED
    # One of them guesses on two more orders: 20 failures within the hour lock the address.
    for i in range(2):
        outcome = check(
            sessions, number=f"OM-3{i:05d}", postcode="00000", client=nat, at=T0 + 21 * minute
        )
        assert outcome is CheckResult.FAILED
    # The trade-off: every customer behind it is refused a check for the cool-down (an hour
    # after the 20th failure; the bot offers a person), even with the right proof...
    assert check(sessions, email=OWNER, client=nat, at=T0 + 22 * minute) is CheckResult.REFUSED
    assert check(sessions, email=OWNER, client=nat, at=T0 + 80 * minute) is CheckResult.REFUSED
    # ...while any other address is not concerned, and the address is checked again after it.
    other = "ip:203.0.113.7"
    assert check(sessions, email=OWNER, client=other, at=T0 + 22 * minute) is CheckResult.VERIFIED
    assert check(sessions, email=OWNER, client=nat, at=T0 + 82 * minute) is CheckResult.VERIFIED


def test_the_per_order_limit_holds_whatever_addresses_an_attacker_uses(
    sessions: sessionmaker[Session],
) -> None:
    # The real protection: one wrong proof from each of five addresses (far under the
    # per-client limit) locks the order for everyone, the owner's right proof included.
    for i in range(5):
        outcome = check(
            sessions,
            postcode=f"9{i:04d}",
            client=f"ip:198.51.100.{10 + i}",
            conversation=f"web-om-system-bot-{i}",
            at=T0 + dt.timedelta(minutes=i),
        )
        assert outcome is CheckResult.FAILED
    assert check(sessions, postcode="75011", client="ip:192.0.2.50") is CheckResult.REFUSED
