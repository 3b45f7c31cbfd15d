"""The support console (``/console`` on the gateway): what a shop's support team uses daily.

Accounts bound to shops (``auth``, ``users``), the handoff inbox with live takeover and e-mail
replies (``inbox``, ``live``), conversation review and teaching (``reporting``, ``teaching``,
``training``), analytics with charts (``analytics``, ``charts``), privacy requests
(``privacy``), the audit log (``audit``), and the local SMTP catcher with its demo mailbox
(``mailcatcher``). The web pages are in ``web`` (server-rendered, Jinja2) and the tables in
``bot.db.console``.
"""
