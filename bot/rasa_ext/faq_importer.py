"""Every intent of the NLU data is in the domain: a new FAQ intent needs no ``domain.yml`` edit.

Why: Rasa trains the dialogue on the domain's intents only. An intent that has NLU examples
but is not listed in ``domain.yml`` is recognised by the NLU and then unknown to the policies
(``rasa data validate`` warns, the tracker refuses it). Adding a FAQ topic would then need an
edit of ``domain.yml`` beside its examples and its texts.

How: this training data importer (``importers:`` of ``config.yml``; Rasa's
``TrainingDataImporter``) reads the project's files as Rasa's own ``RasaFileImporter`` does,
and its domain is ``domain.yml`` plus every intent of the NLU data that the file does not
list. Such an intent is answered by the generic FAQ answer: no rule names it, so the rule
policy's fallback action ``action_answer_faq`` (``config.yml``) says the shop's text
``utter_<intent>`` (``actions/faq.py``), and its texts are checked by ``python -m bot.answers
check`` (``bot.answers.library.intent_names`` reads the same intents). ``rasa train``,
``rasa data validate`` and ``rasa test`` all load the importers of the configuration they are
given, so they see the same domain; the trained model stores it.

Runs in the Rasa environment.
"""

from __future__ import annotations

import logging

from rasa.shared.core.domain import Domain
from rasa.shared.importers.rasa import RasaFileImporter

logger = logging.getLogger(__name__)


class NluIntentsImporter(RasaFileImporter):  # type: ignore[misc]
    """Rasa's file importer whose domain also lists the NLU data's intents."""

    def __init__(
        self,
        config_file: str | None = None,
        domain_path: str | None = None,
        training_data_paths: str | list[str] | None = None,
    ) -> None:
        super().__init__(config_file, domain_path, training_data_paths)
        self._domain: Domain | None = None

    def added_intents(self, domain: Domain) -> list[str]:
        """The intents of the NLU data that ``domain`` does not list, sorted."""
        nlu_intents = self.get_nlu_data().intents
        return sorted(intent for intent in nlu_intents if intent not in domain.intents)

    def get_domain(self) -> Domain:
        """``domain.yml`` with every intent of the NLU data (see the module docstring)."""
        if self._domain is None:
            domain = super().get_domain()
            added = [] if domain.is_empty() else self.added_intents(domain)
            if added:
                logger.info("Intents of the NLU data added to the domain: %s", ", ".join(added))
                domain = domain.merge(Domain.from_dict({"intents": added}))
            self._domain = domain
        return self._domain
