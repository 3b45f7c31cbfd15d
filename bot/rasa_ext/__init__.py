"""Extensions the Rasa server loads from `endpoints.yml` (not NLU components: see bot/nlu).

Like bot/nlu, this package runs in the Rasa environment (Python 3.10, rasa 3.6) and imports
nothing from the app environment.
"""
