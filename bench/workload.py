"""What the benchmark sends: NLU messages, chat turns of both shops and languages, e-mails."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


BENCH_DIR = ROOT / "bench"
DIET_MODEL = ROOT / "models" / "variants" / "diet.tar.gz"
NLU_SOURCES = [ROOT / "tests" / "nlu" / "test_nlu.yml"] + sorted(
    (ROOT / "data" / "nlu").glob("*.yml")
)
# `[text](entity)`, `[text](entity:value)`, `[text]{"entity": ...}` -> `text`.
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")

# FAQ questions (answered from the store's policy, no order lookup: utterances, and one
# custom action for the payment means), both languages, both shops: (store, ui language,
# message).
FAQ_TURNS = [
    ("om-system", "fr", "Quels moyens de paiement acceptez-vous ?"),
    ("om-system", "en", "What payment methods do you accept?"),
    ("om-system", "fr", "Quel est le délai de livraison ?"),
    ("btomic", "en", "How long is the warranty on your watches?"),
    ("btomic", "fr", "Comment retourner un article ?"),
    ("om-system", "en", "How much does shipping cost?"),
]
# Order-status turns: one message with the order number and its owner's e-mail (the demo
# orders of data/stores/<shop>/demo_orders.yml), and a word the right answer must contain.
ORDER_TURNS = [
    (
        "om-system",
        "fr",
        "où en est ma commande OM-104233, marie.dupont@example.fr",
        "JD014600003828461025",
    ),
    ("btomic", "en", "Where is my order BT-200517? alex.martin@example.com", "1Z999AA10123456784"),
]
# One customer conversation of the concurrency test: greeting, two FAQ questions, an order
# lookup, thanks.
GREETINGS = [("fr", "Bonjour"), ("en", "Hello")]
THANKS = [("fr", "Merci, bonne journée"), ("en", "Thanks, bye")]

OM_SUPPORT = "eshop.support@om-digitalsolutions.com"
BTOMIC_SUPPORT = "service@btomic.com"
MAIL_QUESTIONS = [
    (OM_SUPPORT, "Bonjour,\n\nQuels moyens de paiement acceptez-vous ?\n\nCordialement,\nMarie"),
    (BTOMIC_SUPPORT, "Hello,\n\nHow long is the warranty on your watches?\n\nBest regards,\nJohn"),
    (OM_SUPPORT, "Bonjour,\n\nQuel est le délai de livraison ?\n\nPaul"),
    (BTOMIC_SUPPORT, "Hi,\n\nWhat payment methods do you accept?\n\nThanks,\nEmma"),
]
# Not a credential: the secret of the benchmark's own throwaway gateway.
WEBHOOK_SECRET = "bench-webhook-secret"  # noqa: S105


def nlu_messages(sources: Sequence[Path] = NLU_SOURCES) -> list[str]:
    """The plain texts of the NLU examples of `sources`, annotations stripped, deduplicated.

    Shuffled with a fixed seed, so French and English (the held-out set has both in equal
    parts) are mixed and every run parses the same sequence.
    """
    texts: list[str] = []
    for path in sources:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu") or []:
            if "intent" not in block:  # synonyms, regexes, lookup tables
                continue
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = ANNOTATION.sub(r"\1", line[2:]).strip()
                    if text:
                        texts.append(text)
    unique = list(dict.fromkeys(texts))
    random.Random(6).shuffle(unique)  # noqa: S311 - a reproducible order, not a secret
    return unique


def new_sender() -> str:
    """A fresh widget conversation id (the gateway wants 8-64 letters, digits, - or _)."""
    return f"bench-{uuid.uuid4().hex[:16]}"


def chat_payload(store: str, language: str, message: str, sender: str) -> dict[str, Any]:
    """The body the widget posts to /api/chat."""
    return {"sender_id": sender, "message": message, "store": store, "language": language}


def answer_text(body: Any) -> str:
    """The bot's text in a /api/chat answer."""
    if not isinstance(body, dict):
        return ""
    return "\n".join(m.get("text") or "" for m in body.get("messages") or [] if isinstance(m, dict))
