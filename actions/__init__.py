"""Custom actions served by rasa-sdk (`python -m rasa_sdk --actions actions`).

rasa-sdk imports every module of this package and instantiates each concrete Action with no
arguments, so helpers, SQL and settings live in `bot/`, not here.
"""
