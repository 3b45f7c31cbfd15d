"""The handoff inbox: take a handoff, answer it (live in the widget, or by e-mail), resolve it.

Live takeover uses Rasa's own mechanism: the ``pause`` event stops the bot from answering that
conversation (Rasa still logs the customer's messages), the agent's messages are appended to
the conversation as ``bot`` events marked ``metadata.agent`` (so the transcript is whole), and
``resume`` hands it back. The widget picks the agent's messages up by polling
(:mod:`bot.console.live`).

An e-mail reply is a normal, human reply (no ``Auto-Submitted``) in the customer's language,
threaded on the customer's mail (``In-Reply-To``, ``References``, ``Re:``), signed by the agent
and the shop's support team, sent through ``SMTP_URL``.
"""

from __future__ import annotations

import datetime as dt
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console.auth import Agent
from bot.db.console import HandoffMessage, HandoffStatus, MessageAuthor
from bot.db.mailbox import Handoff, HandoffChannel, InboxMessage, utcnow
from bot.errors import MalformedMailError
from bot.i18n import Lang, normalise_language
from bot.mail.cleaning import strip_quotes_and_signature
from bot.mail.compose import new_message_id, reply_subject
from bot.mail.parsing import ParsedMail, display_address, read_mail
from bot.mail.questions import detect_language
from bot.stores import StorePolicy

MAX_REPLY_CHARS = 20_000

NOTICES: dict[Lang, dict[str, str]] = {
    "fr": {
        "joined": "{name}, du service client, a rejoint la conversation.",
        "handed_back": "{name} a terminé. L'assistant virtuel reprend la conversation.",
    },
    "en": {
        "joined": "{name} from customer service has joined the conversation.",
        "handed_back": "{name} has finished. The virtual assistant takes the conversation back.",
    },
}

_LETTER: dict[Lang, dict[str, str]] = {
    "fr": {
        "greeting": "Bonjour,",
        "regards": "Cordialement,",
        "chat_subject": "Votre demande sur le chat {shop}",
        "chat_intro": "Suite à votre demande sur le chat de notre boutique, voici notre réponse.",
    },
    "en": {
        "greeting": "Hello,",
        "regards": "Kind regards,",
        "chat_subject": "Your question on the {shop} chat",
        "chat_intro": "Following your question on our shop's chat, here is our answer.",
    },
}


def visible_handoffs(
    session: Session,
    agent: Agent,
    *,
    status: str | None,
    store_id: str | None,
    mine: bool = False,
    limit: int = 200,
) -> list[Handoff]:
    """The handoffs of the agent's shops, newest first, filtered."""
    shops = [store_id] if store_id else sorted(agent.shops)
    query = select(Handoff).where(Handoff.store_id.in_(shops))
    if status:
        query = query.where(Handoff.status == status)
    if mine:
        query = query.where(Handoff.assigned_to_id == agent.id)
    return list(session.scalars(query.order_by(Handoff.id.desc()).limit(limit)))


def counts_by_status(session: Session, agent: Agent) -> dict[str, int]:
    """How many handoffs of the agent's shops are open, assigned, resolved."""
    rows = session.execute(
        select(Handoff.status, func.count())
        .where(Handoff.store_id.in_(sorted(agent.shops)))
        .group_by(Handoff.status)
    ).all()
    counts = {status.value: 0 for status in HandoffStatus}
    counts.update({str(status): int(count) for status, count in rows})
    return counts


def take(handoff: Handoff, agent: Agent) -> None:
    """Assigns the handoff to ``agent`` (reopening a resolved one)."""
    handoff.status = HandoffStatus.ASSIGNED.value
    handoff.assigned_to_id = agent.id
    handoff.assigned_at = utcnow()
    handoff.resolved_at = None


def resolve(handoff: Handoff) -> None:
    """Marks the handoff answered or closed."""
    handoff.status = HandoffStatus.RESOLVED.value
    handoff.resolved_at = utcnow()
    handoff.live_since = None


def thread(session: Session, handoff: Handoff) -> list[HandoffMessage]:
    """The handoff's messages outside the bot, oldest first."""
    return list(
        session.scalars(
            select(HandoffMessage)
            .where(HandoffMessage.handoff_id == handoff.id)
            .order_by(HandoffMessage.id)
        )
    )


def add_message(
    session: Session,
    handoff: Handoff,
    *,
    author: MessageAuthor,
    text: str,
    via: str,
    agent: Agent | None = None,
    email_message_id: str | None = None,
) -> HandoffMessage:
    """Records a message of the handoff (flushed; the caller commits)."""
    message = HandoffMessage(
        handoff_id=handoff.id,
        author=author,
        text=text,
        via=via,
        user_id=agent.id if agent else None,
        email_message_id=email_message_id,
    )
    session.add(message)
    session.flush()
    return message


def notice(handoff: Handoff, key: str, agent: Agent) -> str:
    """A console notice for the widget, in the customer's language."""
    lang = normalise_language(handoff.language)
    return NOTICES[lang][key].format(name=agent.name.split(" ")[0] or agent.name)


def inbound_mail(session: Session, handoff: Handoff) -> ParsedMail | None:
    """The customer's mail behind an e-mail handoff, parsed; None when there is none."""
    if handoff.inbox_message_id is None:
        return None
    row = session.get(InboxMessage, handoff.inbox_message_id)
    if row is None:
        return None
    try:
        return read_mail(row.raw)
    except MalformedMailError:
        return None


def customer_text(parsed: ParsedMail | None) -> str:
    """What the customer wrote in the mail (quotes and signature left out)."""
    if parsed is None:
        return ""
    return strip_quotes_and_signature(parsed.text) or parsed.text


def reply_language(handoff: Handoff, parsed: ParsedMail | None) -> Lang:
    """The language of the reply: the handoff's, else the mail's."""
    if handoff.language in ("fr", "en"):
        return normalise_language(handoff.language)
    if parsed is not None:
        return detect_language(customer_text(parsed), fallback=detect_language(parsed.subject))
    return "fr"


def _letter(lang: Lang, text: str, agent: Agent, store: StorePolicy) -> str:
    words = _LETTER[lang]
    team = store.support_team.in_language(lang)
    return f"{words['greeting']}\n\n{text.strip()}\n\n{words['regards']}\n{agent.name}\n{team}\n"


def build_agent_reply(
    *,
    handoff: Handoff,
    parsed: ParsedMail | None,
    store: StorePolicy,
    agent: Agent,
    text: str,
    lang: Lang,
    now: dt.datetime,
) -> EmailMessage:
    """The agent's e-mail to the customer: threaded on their mail when there is one.

    Raises:
        ValueError: nobody to write to (no mail and no address collected at handoff).
    """
    support = store.contact.email
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = display_address(store.name, support)
    if parsed is not None:
        message["To"] = display_address(parsed.sender_name, parsed.sender)
        message["Subject"] = reply_subject(parsed.subject, lang)
        if parsed.message_id:
            message["In-Reply-To"] = parsed.message_id
            chain = [*parsed.references, parsed.message_id]
            message["References"] = " ".join(dict.fromkeys(chain))
        body = _letter(lang, text, agent, store)
    elif handoff.customer_address:
        message["To"] = handoff.customer_address
        message["Subject"] = _LETTER[lang]["chat_subject"].format(shop=store.name)
        body = _letter(lang, f"{_LETTER[lang]['chat_intro']}\n\n{text.strip()}", agent, store)
    else:
        raise ValueError("no e-mail address for this customer")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = new_message_id(support)
    message.set_content(body)
    message["Content-Language"] = lang
    return message


def can_email(handoff: Handoff) -> bool:
    """Whether an e-mail reply is possible (a mail to answer, or an address collected)."""
    return handoff.channel == HandoffChannel.EMAIL or bool(handoff.customer_address)
