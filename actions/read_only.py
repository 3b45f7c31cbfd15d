"""Which custom actions change nothing: Rasa may call them again when a call was cut.

Every custom action of this package is in exactly one of the two lists (checked by
tests/actions/test_read_only.py, which fails on an action in neither):

* :data:`READ_ONLY_ACTIONS` read (the shop's texts and policies, the FAQ, order data) and write
  nothing: no database row, no mail, no call with effects elsewhere; what they return (slots,
  messages) goes to Rasa, which stores it only once the turn ends. Running one twice does what
  running it once does, so the Rasa server calls it again when its call failed after the
  request may have been sent (the action server killed or its connection reset mid-call:
  bot/rasa_ext/action_failures.py). The test runs each against a real SQLite database and
  fails if any row changes.
* :data:`WRITING_ACTIONS` write (a verification attempt counted, a handoff recorded): Rasa never
  calls them again after a failed call, which is answered "send the message again". They run
  once per customer message all the same (actions/once.py: the customer's resend, or Rasa's
  form running the validation again in one turn, gets the first call's answer, nothing
  written twice; tests/actions/test_read_only.py runs each twice for one message).

Read by the Rasa server (this module imports nothing: the Rasa environment does not load the
actions themselves).
"""

#: The names of the custom actions that write nothing.
READ_ONLY_ACTIONS: frozenset[str] = frozenset(
    {
        "action_answer_faq",
        "action_answer_order_lookup",  # reads the order, checks the stored proof
        "action_ask_order_number",
        "action_clarify",
        "action_delivery_countries",
        "action_handle_inform",
        "action_other_language",
        "action_payment_methods",
        "action_refund_status",
    }
)

#: The names of the custom actions with effects, each with what it writes.
WRITING_ACTIONS: dict[str, str] = {
    "validate_order_lookup_form": "counts failed proofs of ownership (verification_attempts)",
    "action_human_handoff": "records a handoff (handoffs)",
    "action_save_handoff_email": "stores the customer's address on the handoff (handoffs)",
}
