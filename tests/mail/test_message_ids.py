"""The message ids of a mail's questions (bot/mail/deciding.py `question_message_ids`).

An id names the mail and the question itself (a digest of its normalised text and its
occurrence in the mail), not the question's place: a retry cut the same way asks with the
same ids, a retry cut otherwise gives new ids to the changed questions only.
"""

from __future__ import annotations

import hashlib
import re

from bot.db.action_memory import KEY_LENGTH
from bot.mail.deciding import question_message_ids
from bot.mail.parsing import first_message_id

MAIL = "<q1@example.fr>"
PAY = "Puis-je payer par carte ?"
SHIP = "Livrez-vous en Suisse ?"
ORDER = "Où en est ma commande OM-104233 ?"
#: Rasa ignores a longer message id (bot/rasa_ext/idempotency.py `_MAX_ID_LENGTH`, in the Rasa
#: environment): the mail's questions would then be processed again on a retry.
RASA_MAX_ID_LENGTH = 200


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_an_id_names_the_mail_the_question_and_its_occurrence() -> None:
    (message_id,) = question_message_ids(MAIL, [PAY])
    assert message_id == f"email:{MAIL}:{digest('puis-je payer par carte ?')}:0"


def test_a_retry_cut_the_same_way_gets_the_same_ids() -> None:
    first = question_message_ids(MAIL, [PAY, SHIP, ORDER])
    assert question_message_ids(MAIL, [PAY, SHIP, ORDER]) == first
    assert len(set(first)) == 3


def test_the_same_question_in_another_mail_gets_another_id() -> None:
    assert question_message_ids(MAIL, [PAY]) != question_message_ids("<q2@example.fr>", [PAY])


def test_identical_questions_of_one_mail_stay_distinct_and_stable() -> None:
    ids = question_message_ids(MAIL, [PAY, ORDER, PAY])
    assert ids[0] != ids[2]
    assert ids[0].endswith(":0") and ids[2].endswith(":1")
    assert ids[0].rsplit(":", 1)[0] == ids[2].rsplit(":", 1)[0]
    assert question_message_ids(MAIL, [PAY, ORDER, PAY]) == ids


def test_case_and_white_space_do_not_make_another_question() -> None:
    (plain,) = question_message_ids(MAIL, [PAY])
    assert question_message_ids(MAIL, ["  puis-je PAYER\n par  carte ?"]) == [plain]
    # NFKC: a non-breaking space before "?" (French typography) is a space.
    assert question_message_ids(MAIL, ["Puis-je payer par carte\u00a0?"]) == [plain]
    assert question_message_ids(MAIL, ["Puis-je payer par chèque ?"]) != [plain]


def test_a_split_that_changed_gives_new_ids_to_the_changed_questions_only() -> None:
    joined = "Puis-je payer par carte et livrez-vous en Suisse ?"
    before = question_message_ids(MAIL, [joined, ORDER, PAY])
    after = question_message_ids(MAIL, [PAY, SHIP, ORDER, PAY])
    # The joined sentence is now two questions, each with an id of its own, and the order
    # question moved from place 1 to place 2: it keeps its id, and no question takes it.
    assert after[1] not in before
    assert after[2] == before[1]
    assert after.count(before[1]) == 1
    # "PAY" is now asked twice: the first asking keeps the first attempt's id, the second
    # is new.
    assert after[0] == before[2]
    assert after[3] not in before


def test_ids_are_short_whatever_the_mail() -> None:
    huge_mail = "<" + "x" * 996 + ">"
    assert first_message_id(huge_mail) == huge_mail  # the longest Message-ID the inbox keeps
    huge_question = "Pourquoi " * 2_500 + "?"
    ids = question_message_ids(huge_mail, [huge_question, huge_question, PAY])
    for message_id in ids:
        assert len(message_id) <= RASA_MAX_ID_LENGTH < KEY_LENGTH
        assert re.fullmatch(r"email:sha256:[0-9a-f]{32}:[0-9a-f]{16}:[01]", message_id)
    assert len(set(ids)) == 3
    # Two long Message-IDs that differ only at their end stay apart.
    other_mail = "<" + "x" * 995 + "y>"
    assert question_message_ids(other_mail, [PAY]) != question_message_ids(huge_mail, [PAY])
    # A Message-ID up to 128 characters is written out (readable in the logs).
    mail_128 = "<" + "a" * 115 + "@example.fr>"
    assert len(mail_128) == 128
    assert question_message_ids(mail_128, [PAY])[0].startswith(f"email:{mail_128}:")
    mail_129 = "<" + "a" * 116 + "@example.fr>"
    assert question_message_ids(mail_129, [PAY])[0].startswith("email:sha256:")
    assert len(question_message_ids(mail_128, [PAY] * 40)[-1]) <= RASA_MAX_ID_LENGTH
