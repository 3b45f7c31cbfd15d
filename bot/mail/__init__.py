"""The support e-mail channel: inbound mail in, one polite automatic reply out.

Flow (each step in its own module)::

    POST /email/inbound (bot/api/routes/email.py)
      -> intake     store first: raw message, Message-ID (idempotency key), store, state
      -> worker     asyncio task of the gateway (or `python -m bot.mail.worker --once`)
      -> processor  claim (conditional UPDATE) -> decide -> ask the bot -> compose -> send
           parsing    MIME decoding, charsets, HTML to text, the JSON webhook form
           cleaning   quoted history and signatures removed
           guards     loop guards (RFC 3834) and angry complaints
           questions  language, spaCy sentences, the questions of the mail
           rasa       /model/parse, slots, the REST channel
           compose    the reply (Re:, In-Reply-To, References, Auto-Submitted) and forwards
           smtp       SMTP_URL and sending
           inbox      the inbox table's data functions (claims, retries, abandoned rows)
           routing    which store a recipient address belongs to; our own addresses

Mail bodies are customer data: they are stored in the inbox table and never logged at INFO.
"""
