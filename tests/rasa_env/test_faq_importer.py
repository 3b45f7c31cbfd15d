"""The training's importer adds every intent of the NLU data to the domain (a new FAQ intent
needs no domain.yml edit), and the project's configuration uses it."""

from __future__ import annotations

from pathlib import Path

import yaml
from rasa.shared.importers.importer import TrainingDataImporter

from bot.rasa_ext.faq_importer import NluIntentsImporter

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path) -> tuple[Path, Path]:
    domain = tmp_path / "domain.yml"
    domain.write_text(
        'version: "3.1"\nintents:\n- greet\nresponses:\n  utter_greet:\n  - text: hi\n',
        encoding="utf-8",
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: greet\n  examples: |\n    - bonjour\n    - hello\n"
        "- intent: gift_wrapping\n  examples: |\n    - emballage cadeau ?\n    - gift wrap?\n",
        encoding="utf-8",
    )
    return domain, data


def test_an_intent_of_the_nlu_data_is_added_to_the_domain(tmp_path: Path) -> None:
    domain, data = _project(tmp_path)
    config = {"importers": [{"name": "bot.rasa_ext.faq_importer.NluIntentsImporter"}]}
    importer = TrainingDataImporter.load_from_dict(config, None, str(domain), [str(data)])
    loaded = importer.get_domain()
    assert "gift_wrapping" in loaded.intents and "greet" in loaded.intents
    # The domain file's own content is kept (its responses).
    assert "utter_greet" in loaded.responses


def test_without_the_importer_rasa_would_not_know_the_intent(tmp_path: Path) -> None:
    # What the importer fixes: Rasa's own importer leaves the intent out of the domain.
    domain, data = _project(tmp_path)
    importer = TrainingDataImporter.load_from_dict({}, None, str(domain), [str(data)])
    assert "gift_wrapping" not in importer.get_domain().intents


def test_the_project_configuration_uses_the_importer() -> None:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    names = [entry["name"] for entry in config["importers"]]
    module, _, name = names[0].rpartition(".")
    assert names == [f"{NluIntentsImporter.__module__}.{NluIntentsImporter.__name__}"]
    assert (module, name) == ("bot.rasa_ext.faq_importer", "NluIntentsImporter")


def test_an_empty_domain_stays_empty(tmp_path: Path) -> None:
    # No domain file (an NLU-only training): nothing to add to.
    _, data = _project(tmp_path)
    importer = NluIntentsImporter(None, None, [str(data)])
    assert importer.get_domain().is_empty()
