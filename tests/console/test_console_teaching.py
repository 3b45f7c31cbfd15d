"""Teaching: a reviewed example goes to the training-data file, never a duplicate or test data."""

from __future__ import annotations

import datetime as dt

import yaml
from sqlalchemy import select

from bot.console.seeding import Conversation, Turn, write_conversations
from bot.console.teaching import example_key, held_out_test_sets, keys_in
from bot.db.console import ReportMessage
from tests.console.conftest import ConsoleEnv, MakeConsole, csrf_of, import_now, login

WHEN = dt.datetime(2026, 11, 5, 10, 0, tzinfo=dt.UTC)


def seeded_message(env: ConsoleEnv, text: str, store: str = "om-system") -> tuple[str, int]:
    conversation = Conversation(
        store, "web", "fr", WHEN, [Turn(text, "nlu_fallback", 0.2, actions=("action_clarify",))]
    )
    write_conversations(env.tracker, [conversation])
    import_now(env)
    with env.sessions() as session:
        message_id = session.scalar(select(ReportMessage.id).where(ReportMessage.text == text))
    assert message_id is not None
    return conversation.rasa_sender, message_id


def teach(client, sender: str, message_id: int, intent: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/console/conversations/{sender}")
    return client.post(
        "/console/teach",
        data={"csrf_token": csrf_of(page.text), "message_id": str(message_id), "intent": intent},
    )


def test_a_taught_example_is_written_to_the_training_file(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    sender, message_id = seeded_message(
        console_env, "vous acceptez les chèques cadeaux en magasin ou pas"
    )
    client = make_console()
    login(client, "om.editor@om.example")
    saved = teach(client, sender, message_id, "payment_methods")
    assert saved.status_code == 303 and "Saved" in saved.headers["location"]
    document = yaml.safe_load(console_env.training_file.read_text(encoding="utf-8"))
    assert document["nlu"] == [
        {
            "intent": "payment_methods",
            "examples": "- vous acceptez les chèques cadeaux en magasin ou pas\n",
        }
    ]
    # The same wording again is refused, whatever its case and spacing.
    again = teach(client, sender, message_id, "delivery_time")
    assert "already been reviewed" in again.headers["location"].replace("%20", " ")
    assert "taught: payment_methods" in client.get(f"/console/conversations/{sender}").text
    assert "vous acceptez les chèques" in client.get("/console/teaching").text


def test_test_set_and_training_data_wordings_are_refused(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    test_example = sorted(keys_in(held_out_test_sets()))[0]
    sender, message_id = seeded_message(console_env, test_example.upper())
    client = make_console()
    login(client, "om.editor@om.example")
    refused = teach(client, sender, message_id, "payment_methods")
    assert "test set" in refused.headers["location"].replace("%20", " ")
    assert not console_env.training_file.exists()

    sender2, message_id2 = seeded_message(console_env, "Quels moyens de paiement acceptez-vous ?")
    refused2 = teach(client, sender2, message_id2, "payment_methods")
    location = refused2.headers["location"].replace("%20", " ")
    assert "already in the training data" in location or "test set" in location


def test_new_topic_is_kept_for_the_team_but_not_trained_on(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    sender, message_id = seeded_message(console_env, "faites-vous la gravure sur les boîtiers")
    client = make_console()
    login(client, "om.editor@om.example")
    assert teach(client, sender, message_id, "__new__").status_code == 303
    assert yaml.safe_load(console_env.training_file.read_text(encoding="utf-8"))["nlu"] == []
    assert "new topic" in client.get("/console/teaching").text


def test_agents_cannot_teach_and_unknown_intents_are_refused(
    make_console: MakeConsole, console_env: ConsoleEnv
) -> None:
    sender, message_id = seeded_message(console_env, "un message pour apprendre", store="btomic")
    agent = make_console()
    login(agent, "bt.agent@btomic.example")
    page = agent.get(f"/console/conversations/{sender}")
    assert 'action="/console/teach"' not in page.text
    forged = agent.post(
        "/console/teach",
        data={"csrf_token": csrf_of(page.text), "message_id": str(message_id), "intent": "greet"},
    )
    assert forged.status_code == 403
    admin = make_console()
    login(admin, "admin@shops.example")
    unknown = teach(admin, sender, message_id, "no_such_intent")
    assert "Unknown intent" in unknown.headers["location"].replace("%20", " ")


def test_the_repository_test_sets_are_found() -> None:
    # The duplicate check reads every tests/nlu*/ file: the held-out set must be among them.
    files = [p.name for p in held_out_test_sets()]
    assert "test_nlu.yml" in files
    assert example_key("  Où EST ma commande ?? ") == example_key("où est ma commande")
