"""The custom actions that change nothing: Rasa may call them again when a call was cut.

An action listed here reads (the shop's texts and policies, the FAQ, order data) and writes
nothing: no database row (no verification attempt counted, no handoff recorded), no mail, no
call with effects elsewhere. Running it twice does what running it once does, so the Rasa
server calls it again when its call failed after the request may have been sent (the action
server killed or its connection reset mid-call: bot/rasa_ext/action_failures.py). Every other
action is never called twice by Rasa; a failed call of it is answered "send it again".

Read by the Rasa server (no import of the actions themselves: only this name list), checked by
tests/actions/test_read_only.py (each action listed runs against a real database and changes
no row; every action of the package is either listed or left out on purpose).
"""

#: The names of the read-only custom actions.
READ_ONLY_ACTIONS: frozenset[str] = frozenset()
