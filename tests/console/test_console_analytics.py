"""Analytics checked against a seeded set of conversations whose figures are known by hand,
read through the real import of Rasa's tracker-store format; and the review pages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from bot.console.seeding import Conversation, Turn, write_conversations
from bot.db.mailbox import InboxMessage, InboxState
from tests.console.conftest import ConsoleEnv, MakeConsole, import_now, login

D1 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
D2 = dt.datetime(2026, 11, 3, 15, 0, tzinfo=dt.UTC)
GREET_FR = Turn("Bonjour", "greet", actions=("utter_greet",))

SEEDED = [
    # 1. answered (2 customer messages)
    Conversation(
        "om-system",
        "web",
        "fr",
        D1,
        [
            GREET_FR,
            Turn(
                "Quels moyens de paiement ?", "payment_methods", actions=("action_payment_methods",)
            ),
        ],
    ),
    # 2. clarified once, then answered: outcome clarified (2 messages, 1 clarified)
    Conversation(
        "om-system",
        "web",
        "fr",
        D1,
        [
            Turn("euh le truc là", "nlu_fallback", 0.31, actions=("action_clarify",)),
            Turn("/delivery_time", "delivery_time", 1.0, actions=("utter_delivery_time",)),
        ],
    ),
    # 3. out of scope (1 message)
    Conversation(
        "btomic",
        "web",
        "en",
        D1,
        [Turn("Do you sell bicycles?", "out_of_scope", actions=("utter_out_of_scope",))],
    ),
    # 4. e-mail, order verified (1 message)
    Conversation(
        "om-system",
        "email",
        "fr",
        D2,
        [
            Turn(
                "Où en est ma commande OM-104233 ?",
                "order_status",
                actions=("action_answer_order_lookup",),
                slots=(("verified_order", "OM-104233"),),
            )
        ],
    ),
    # 5. two failed proofs, locked, then a person (3 messages): handed off
    Conversation(
        "btomic",
        "web",
        "en",
        D2,
        [
            Turn("Where is BT-200517?", "order_status", actions=("order_lookup_form",)),
            Turn(
                "12345", "inform", actions=("order_lookup_form",), slots=(("lookup_failures", 1.0),)
            ),
            Turn(
                "99999",
                "inform",
                actions=("order_lookup_form",),
                slots=(("lookup_failures", 2.0), ("lookup_locked", True)),
            ),
        ],
    ),
    # 6. asks for a person straight away (1 message)
    Conversation(
        "om-system",
        "web",
        "en",
        D2,
        [Turn("I want a human", "human_handoff", actions=("action_human_handoff",))],
    ),
]
# conversation 5's last message is followed by the person: add the handoff action to it.
SEEDED[4] = Conversation(
    "btomic",
    "web",
    "en",
    D2,
    [
        *SEEDED[4].turns[:2],
        Turn(
            "99999",
            "inform",
            actions=("order_lookup_form", "action_human_handoff"),
            slots=(("lookup_failures", 2.0), ("lookup_locked", True)),
        ),
    ],
)


def top_topics(html: str) -> list[str]:
    """The bars of the page's "Top topics" chart, as their tooltips read ("intent: count")."""
    chart = html.split("<title>Top topics</title>", 1)[1].split("</svg>", 1)[0]
    return re.findall(r"<title>([^<]*)</title>", chart)


def seed(env: ConsoleEnv) -> None:
    write_conversations(env.tracker, SEEDED)
    assert import_now(env) == len(SEEDED)
    with env.sessions() as session:
        for index, (state, delay_s) in enumerate(
            [
                (InboxState.REPLIED, 10),
                (InboxState.REPLIED, 30),
                (InboxState.REPLIED, 20),
                (InboxState.HANDOFF, None),
                (InboxState.FAILED, None),
            ]
        ):
            session.add(
                InboxMessage(
                    message_id=f"<seed-{index}@example.fr>",
                    raw=b"From: a@b\r\n\r\nx",
                    store_id="om-system",
                    sender=f"customer{index}@example.fr",
                    state=state,
                    received_at=D2,
                    processed_at=D2 + dt.timedelta(seconds=delay_s) if delay_s else None,
                )
            )
        session.commit()


def test_figures_match_the_seeded_conversations(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    seed(console_env)
    client = make_console()
    login(client, "admin@shops.example")
    page = client.get("/console/analytics?from=2026-11-01&to=2026-11-30")
    assert page.status_code == 200
    html = page.text
    # 6 conversations, 4 without a person; 10 customer messages: 1 clarified, 1 out of scope.
    assert '<span class="kpi" id="kpi-conversations">6</span>' in html
    assert '<span class="kpi" id="kpi-containment">66.7 %</span>' in html
    assert '<span class="kpi" id="kpi-clarification">10.0 %</span>' in html
    assert '<span class="kpi" id="kpi-out-of-scope">10.0 %</span>' in html
    assert '<span class="kpi" id="kpi-lookups">1 / 2 / 1</span>' in html
    # E-mail: 5 received, 3 answered in 10, 30, 20 s: median 20 s.
    assert "median time to the automatic reply 20.0 s" in html
    assert html.count("<svg") >= 5
    # Top unanswered: the clarified and the out-of-scope messages, masked and counted.
    assert "euh le truc là" in html and "do you sell bicycles?" in html
    # Top topics: answered customer messages by intent, most asked first (ties by name);
    # greetings and the handed-off request are no topics.
    assert top_topics(html) == ["order_status: 2", "delivery_time: 1", "payment_methods: 1"]

    table = list(
        csv.DictReader(io.StringIO(client.get("/console/analytics.csv?from=2026-11-01").text))
    )
    by_key = {(r["day"], r["store"], r["language"], r["channel"]): r for r in table}
    assert by_key[("2026-11-02", "om-system", "fr", "web")]["conversations"] == "2"
    assert by_key[("2026-11-02", "om-system", "fr", "web")]["clarified"] == "1"
    assert by_key[("2026-11-03", "btomic", "en", "web")]["lookups_failed"] == "2"
    assert by_key[("2026-11-03", "btomic", "en", "web")]["handed_off"] == "1"
    assert sum(int(r["conversations"]) for r in table) == 6
    assert sum(int(r["customer_messages"]) for r in table) == 10
    email = list(csv.DictReader(io.StringIO(client.get("/console/analytics.csv?kind=email").text)))
    assert email == [
        {
            "day": "2026-11-03",
            "received": "5",
            "auto_answered": "3",
            "handed_over": "1",
            "failed": "1",
            "skipped": "0",
        }
    ]


def test_filters_narrow_the_figures(make_console: MakeConsole, console_env: ConsoleEnv) -> None:
    seed(console_env)
    client = make_console()
    login(client, "admin@shops.example")
    btomic = client.get("/console/analytics?store=btomic").text
    assert '<span class="kpi" id="kpi-conversations">2</span>' in btomic
    english = client.get("/console/analytics?language=en&channel=web").text
    assert '<span class="kpi" id="kpi-conversations">3</span>' in english
    day_one = client.get("/console/analytics?from=2026-11-02&to=2026-11-02").text
    assert '<span class="kpi" id="kpi-conversations">3</span>' in day_one
    assert top_topics(btomic) == ["order_status: 1"]
    assert top_topics(day_one) == ["delivery_time: 1", "payment_methods: 1"]


def test_review_lists_mask_personal_data_and_the_transcript_shows_intents(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    seed(console_env)
    client = make_console()
    login(client, "admin@shops.example")
    listing = client.get("/console/conversations?channel=email").text
    assert "OM-104233" not in listing and "OM-••••33" in listing
    handed = client.get("/console/conversations?outcome=handed_off").text
    assert handed.count('class="badge handed_off"') == 2
    search = client.get("/console/conversations?q=bicycles").text
    assert "1 conversation(s)" in search
    detail = client.get(f"/console/conversations/{SEEDED[1].rasa_sender}").text
    assert "euh le truc là" in detail
    assert "intent <strong>nlu_fallback</strong> · confidence 0.31" in detail
    assert "clarified" in detail


def test_an_agent_sees_only_the_figures_of_their_shops(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    seed(console_env)
    client = make_console()
    login(client, "bt.agent@btomic.example")
    html = client.get("/console/analytics").text
    assert '<span class="kpi" id="kpi-conversations">2</span>' in html
    assert "OM SYSTEM" not in client.get("/console/conversations").text.split("<main>")[1]
    assert client.get(f"/console/conversations/{SEEDED[0].rasa_sender}").status_code == 403
