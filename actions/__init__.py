"""Custom actions served by rasa-sdk (`python -m rasa_sdk --actions actions`).

rasa-sdk imports every module of this package and instantiates each concrete Action with no
arguments, so helpers, SQL and settings live in `bot/`, not here. One module per topic:
`orders` (the order lookup form and its answer), `refunds`, `delivery`, `payment`, `handoff`,
`clarify` (low-confidence messages), `order_tracking` (how the lookup asks for the number),
`dispatch` (information given outside a form) and `faq` (any intent no rule answers); the
shared context and failure handling are in `_base`.
"""

import warnings

# rasa-sdk warns on every action call when its major.minor differs from the calling Rasa's
# (here rasa-sdk 3.21 against Rasa Open Source 3.6.21, see docs/architecture.md). Silencing only
# that warning, and only for Rasa 3.6.x, is safe: the action server's HTTP/JSON protocol (the
# tracker, domain and events exchanged on /webhook) has not changed between them, and
# tests/e2e prove it against the real 3.6.21 server. Any other version still warns.
warnings.filterwarnings(
    "ignore",
    message=r"Your versions of rasa and rasa_sdk might not be compatible\. You are currently "
    r"running rasa version 3\.6\.",
    category=UserWarning,
)
