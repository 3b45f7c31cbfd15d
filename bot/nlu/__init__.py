"""Custom Rasa NLU components of the bilingual support bot.

The package is imported by two environments:

* the Rasa environment (Python 3.10, rasa 3.6, spaCy 3.4) loads the graph components
  `bot.nlu.language.LanguageDetector`, `bot.nlu.tokenizer.SpacyLookupTokenizer` and
  `bot.nlu.entities.ShopEntityExtractor` from `config.yml`;
* the app environment (Python 3.11, no rasa, no spaCy) imports the pure helpers
  `bot.nlu.langid` and `bot.nlu.countries`.

This file must therefore stay free of imports: importing `bot.nlu.langid` in the app
environment executes it first, and a rasa or spaCy import here would break that.
"""
