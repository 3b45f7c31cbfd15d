"""Answers as data: the texts of every response, per shop and language, rendered from the facts.

:mod:`bot.answers.library` reads, renders and checks the texts; :mod:`bot.answers.service` is
Rasa's NLG endpoint; :mod:`bot.answers.editing` saves a checked edit (with its history) for the
command line and the support console.
"""
