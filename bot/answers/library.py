"""The answer texts: one template per response and language, filled from the shop's facts.

Where the texts live:

* ``data/stores/<shop>/texts.yml``: the shop's answers, ``<response>: {fr: ..., en: ...}``;
* ``data/stores/_common/texts.yml``: the answers that do not depend on the shop (goodbye,
  topic labels...), used by every shop that does not write its own.

A template is plain text with placeholders in braces:

* ``{contact.email}``, ``{contact.phone}``, ``{order_prefix}``...: a value of the shop's
  ``facts.yml`` by its dotted path (a ``{fr, en}`` value gives the customer's language). A
  fact exists once per shop: the texts name it, they never copy it;
* ``{handoff_email}``: a value the action sends with the response, declared in the text's
  ``arguments`` list.

French values are set with French typography when they are filled in (``+1 (347) 459-1491``
gets its no-break spaces); the template itself must already be typeset (:func:`check_shop`
says where it is not).

Which responses exist is ``domain.yml``'s ``responses`` section (names only): every shop must
have every response in both languages, its own or the common one.

Composed answers (an order's status, a refund, a delivery country, Klarna per country, the
failure apology) are assembled by the actions (:mod:`bot.replies`) from *parts*: the texts
named ``part_...``. Which parts exist, and the values the code sends each (its
``arguments``), is what ``_common/texts.yml`` defines; a shop may word any part its own way
in its ``texts.yml`` (same arguments). An argument may be empty (an optional piece of a
sentence, such as a date that is not known): the spaces it leaves are tidied
(:func:`tidy`).

Files are read again when they change (their modification times are looked at most every
:data:`bot.shops.REGISTRY_TTL_S` seconds), so an edit is live on the next turn in every
process that renders answers: the answer service (Rasa's NLG endpoint, :mod:`bot.answers.service`)
and the action server.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.config import PROJECT_ROOT
from bot.errors import ConfigurationError, UnknownStoreError
from bot.i18n import Lang
from bot.shops import COMMON_DIR, FACTS_FILE, REGISTRY_TTL_S, TEXTS_FILE, shop_ids, stores_dir
from bot.stores import StoreFile, read_store_file
from bot.typography import french_typography, typography_errors

__all__ = [
    "CHANNELS",
    "COMMON_DIR",
    "LANGUAGES",
    "PART_PREFIX",
    "RenderError",
    "ShopTexts",
    "Template",
    "check_shop",
    "faq_text_names",
    "intent_names",
    "nlu_intent_names",
    "common_texts",
    "part_names",
    "placeholders",
    "render",
    "render_part",
    "render_template",
    "response_names",
    "shop_texts",
    "tidy",
]

logger = logging.getLogger(__name__)

LANGUAGES: tuple[Lang, ...] = ("fr", "en")
#: The channels a text may have its own wording for (the conversation's ``channel`` metadata).
CHANNELS: tuple[str, ...] = ("email", "web")
#: The folder of the shop-independent texts, beside the shop folders (the registry skips it).
DOMAIN_FILE = PROJECT_ROOT / "domain.yml"

#: The prefix of the texts that are parts of composed answers (not responses of the domain).
PART_PREFIX = "part_"

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*$")


class RenderError(ConfigurationError):
    """A text cannot be rendered: no template, an unknown placeholder, a missing fact."""


@dataclass(frozen=True)
class Template:
    """One response's texts: a template per language, and the values the action sends.

    ``channels`` holds a channel's own wording (``email: {fr: ..., en: ...}``), used instead
    of ``texts`` for a conversation on that channel.
    """

    texts: Mapping[str, str]
    arguments: tuple[str, ...] = ()
    channels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def text(self, lang: str, channel: str | None = None) -> str | None:
        """The text for the language, in the channel's wording when it has one."""
        own = self.channels.get(channel or "", {}).get(lang)
        return own if own is not None else self.texts.get(lang)


@dataclass(frozen=True)
class ShopTexts:
    """What one file of texts holds: its templates by response name."""

    path: Path
    templates: Mapping[str, Template] = field(default_factory=dict)


def placeholders(template: str) -> list[str]:
    """The placeholder names of ``template``, in order (``{contact.email}``: ``contact.email``)."""
    return [match.group(1).strip() for match in _PLACEHOLDER.finditer(template)]


# --- reading the files ---------------------------------------------------------------------------


def parse_texts(raw: Any, path: Path) -> ShopTexts:
    """Checks the shape of a texts file's content and returns it as :class:`ShopTexts`.

    Raises:
        ConfigurationError: not a mapping of ``response: {fr: text, en: text, arguments: [..]}``.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{path}: expected `response_name: {{fr: ..., en: ...}}` entries")
    templates: dict[str, Template] = {}
    for name, entry in raw.items():
        if not isinstance(name, str) or not name.startswith(("utter_", PART_PREFIX)):
            raise ConfigurationError(
                f"{path}: {name!r} is not a response name (utter_...) nor a part (part_...)"
            )
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"{path}: {name}: expected `fr:` and `en:` texts")
        unknown = set(entry) - {*LANGUAGES, "arguments", *CHANNELS}
        if unknown:
            raise ConfigurationError(
                f"{path}: {name}: unknown key(s) {sorted(map(str, unknown))}; "
                "a text has `fr`, `en`, optionally `arguments` and a channel's own wording "
                f"({', '.join(f'`{c}`' for c in CHANNELS)}: {{fr: ..., en: ...}})"
            )
        texts = _language_texts(entry, f"{path}: {name}")
        channels: dict[str, dict[str, str]] = {}
        for channel in CHANNELS:
            if channel in entry:
                block = entry[channel]
                if not isinstance(block, Mapping) or set(block) - set(LANGUAGES):
                    raise ConfigurationError(
                        f"{path}: {name}.{channel}: expected `fr:` and `en:` texts"
                    )
                channels[channel] = _language_texts(block, f"{path}: {name}.{channel}")
        arguments = entry.get("arguments") or []
        if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
            raise ConfigurationError(f"{path}: {name}.arguments: expected a list of names")
        templates[name] = Template(texts=texts, arguments=tuple(arguments), channels=channels)
    return ShopTexts(path=path, templates=templates)


def _language_texts(entry: Mapping[str, Any], where: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for lang in LANGUAGES:
        if lang in entry:
            text = entry[lang]
            if not isinstance(text, str) or not text.strip():
                raise ConfigurationError(f"{where}.{lang}: the text is empty")
            texts[lang] = text
    return texts


def read_texts_file(path: Path) -> ShopTexts:
    """Reads one texts file (missing file: no texts).

    Raises:
        ConfigurationError: the file is not valid YAML or not shaped as texts.
    """
    if not path.exists():
        return ShopTexts(path=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the texts {path}: {exc}") from exc
    return parse_texts(raw, path)


@functools.lru_cache(maxsize=512)
def _file_path(directory: Path, store_id: str, name: str) -> Path:
    # Building a Path costs more than rendering a short text: composed answers need many.
    return directory / store_id / name


def texts_path(store_id: str, directory: Path | None = None) -> Path:
    """A shop's texts file (``<shop>/texts.yml``); ``_common`` for the shared texts."""
    return _file_path(directory or stores_dir(), store_id, TEXTS_FILE)


class _FileCache:
    """Parsed files by path, read again when their modification time changes.

    The times are looked at most every :data:`REGISTRY_TTL_S` seconds per file.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[float, float | None, Any]] = {}

    def get(self, path: Path, read: Any) -> Any:
        now = time.monotonic()
        entry = self._entries.get(path)
        if entry is not None and now - entry[0] < REGISTRY_TTL_S:
            return entry[2]
        try:
            stamp: float | None = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        value = entry[2] if entry is not None and entry[1] == stamp else read(path)
        with self._lock:
            self._entries[path] = (now, stamp, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = _FileCache()


def clear_caches() -> None:
    """Forgets every file read (tests; an edit is otherwise seen within the TTL)."""
    _CACHE.clear()


def _domain_names(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        domain = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    responses = (domain or {}).get("responses") or {}
    intents = [
        next(iter(entry)) if isinstance(entry, Mapping) else entry
        for entry in (domain or {}).get("intents") or []
    ]
    return tuple(str(name) for name in responses), tuple(str(name) for name in intents)


def response_names(domain_file: Path = DOMAIN_FILE) -> tuple[str, ...]:
    """The responses the bot can say: the names of ``domain.yml``'s ``responses``."""
    names: tuple[tuple[str, ...], tuple[str, ...]] = _CACHE.get(domain_file, _domain_names)
    return names[0]


def _nlu_intents(path: Path) -> tuple[str, ...]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    entries = (data or {}).get("nlu") if isinstance(data, Mapping) else None
    return tuple(
        str(entry["intent"])
        for entry in entries or []
        if isinstance(entry, Mapping) and isinstance(entry.get("intent"), str)
    )


def nlu_intent_names(data_dir: Path) -> tuple[str, ...]:
    """The intents of the NLU data: every ``- intent:`` block of the YAML files of ``data_dir``
    (the shop folders aside), sorted."""
    names: set[str] = set()
    for path in sorted(data_dir.rglob("*.yml")):
        if stores_dir() in path.parents or path.relative_to(data_dir).parts[0] == "stores":
            continue
        names.update(_CACHE.get(path, _nlu_intents))
    return tuple(sorted(names))


def intent_names(domain_file: Path = DOMAIN_FILE) -> tuple[str, ...]:
    """The intents the bot knows: those of ``domain.yml``, then those of the NLU data beside it
    (``data/``) that it does not list, which the training adds to the domain
    (:mod:`bot.rasa_ext.faq_importer`)."""
    names: tuple[tuple[str, ...], tuple[str, ...]] = _CACHE.get(domain_file, _domain_names)
    domain = names[1]
    added = [name for name in nlu_intent_names(domain_file.parent / "data") if name not in domain]
    return (*domain, *added)


def faq_text_names(texts: Iterable[ShopTexts], domain_file: Path = DOMAIN_FILE) -> tuple[str, ...]:
    """The texts of FAQ intents that the domain has no response for, in ``texts``.

    An intent is answered by ``actions/faq.py`` with its text ``utter_<intent>`` (and offered
    as a topic with ``utter_topic_<intent>``), named in no rule and no ``responses`` entry: such
    a text is valid when its intent is one of the domain's or of the NLU data
    (:func:`intent_names`), and once one file has it, every shop needs it.
    """
    responses = set(response_names(domain_file))
    intents = set(intent_names(domain_file))
    names: set[str] = set()
    for shop in texts:
        for name in shop.templates:
            intent = name.removeprefix("utter_topic_").removeprefix("utter_")
            if name.startswith("utter_") and name not in responses and intent in intents:
                names.add(name)
    return tuple(sorted(names))


def common_texts(directory: Path | None = None) -> ShopTexts:
    """The shop-independent texts (``data/stores/_common/texts.yml``)."""
    texts: ShopTexts = _CACHE.get(texts_path(COMMON_DIR, directory), read_texts_file)
    return texts


def shop_texts(store_id: str, directory: Path | None = None) -> ShopTexts:
    """One shop's own texts (``data/stores/<shop>/texts.yml``)."""
    texts: ShopTexts = _CACHE.get(texts_path(store_id, directory), read_texts_file)
    return texts


def shop_facts(store_id: str, directory: Path | None = None) -> StoreFile:
    """One shop's facts as written (values and quotes), for the placeholders."""
    path = _file_path(directory or stores_dir(), store_id, FACTS_FILE)
    facts: StoreFile = _CACHE.get(path, read_store_file)
    return facts


# --- rendering ---------------------------------------------------------------------------------


def _fact(facts: Mapping[str, Any], path: str, lang: Lang) -> str:
    node: Any = facts
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise RenderError(f"{{{path}}} is not a fact of the shop")
        node = node[part]
    if isinstance(node, Mapping) and set(node) == set(LANGUAGES):
        node = node[lang]
    if node is None:
        raise RenderError(f"{{{path}}} is null: the shop's FAQ says nothing about it")
    if isinstance(node, Mapping | list | tuple):
        raise RenderError(f"{{{path}}} is not a single value (a list or a section)")
    if isinstance(node, bool):
        raise RenderError(f"{{{path}}} is a yes/no fact, not a text")
    return str(node)


def render_template(
    template: str,
    *,
    facts: Mapping[str, Any],
    lang: Lang,
    arguments: Mapping[str, Any] | None = None,
    declared: Iterable[str] = (),
) -> str:
    """Fills one template.

    Args:
        template: the text with its placeholders.
        facts: the shop's fact values (:attr:`bot.stores.StoreFile.facts`).
        lang: the language of the text (French values get French typography).
        arguments: the values the action sent with the response.
        declared: the argument names the text declares; a placeholder is one of them or a fact.

    Raises:
        RenderError: an unknown placeholder, a missing argument or fact.
    """
    names = set(declared)
    values = arguments or {}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if not _NAME.match(name):
            raise RenderError(f"{{{name}}} is not a placeholder (letters, digits, _ and .)")
        if name in names:
            if name not in values or values[name] is None:
                raise RenderError(f"{{{name}}}: the action sent no value")
            value = str(values[name])
        else:
            value = _fact(facts, name, lang)
        return french_typography(value) if lang == "fr" and _TYPESET.search(value) else value

    outside = _PLACEHOLDER.sub("", template)
    if "{" in outside or "}" in outside:
        raise RenderError("a brace without its pair: placeholders are written {name}")
    return _PLACEHOLDER.sub(fill, template)


def find_template(store_id: str, response: str, directory: Path | None = None) -> Template:
    """The shop's template of ``response``, else the common one.

    Raises:
        RenderError: neither exists.
    """
    own = shop_texts(store_id, directory).templates.get(response)
    if own is not None:
        return own
    common = common_texts(directory).templates.get(response)
    if common is not None:
        return common
    raise RenderError(f"no text for {response} in {store_id}'s texts nor in the common ones")


def render(
    response: str,
    store_id: str,
    lang: Lang,
    arguments: Mapping[str, Any] | None = None,
    *,
    channel: str | None = None,
    directory: Path | None = None,
) -> str:
    """The text of ``response`` for the shop, language and channel.

    Args:
        response: the response name (``utter_greet``).
        store_id: a shop of the registry.
        lang: ``fr`` or ``en``.
        arguments: the values the action sent with the response.
        channel: the conversation's channel (``email``, ``web``...): its own wording when the
            text has one, else the text.
        directory: the folder of shop folders (default: the registry's).

    Raises:
        UnknownStoreError: not a shop.
        RenderError: no template for it, or one that cannot be filled.
        ConfigurationError: a file is invalid.
    """
    if store_id not in shop_ids(directory):
        raise UnknownStoreError(f"unknown store {store_id!r}")
    template = find_template(store_id, response, directory)
    text = template.text(lang, channel)
    if text is None:
        raise RenderError(f"{response} has no {lang} text for {store_id}")
    try:
        return render_template(
            text,
            facts=shop_facts(store_id, directory).facts,
            lang=lang,
            arguments=arguments,
            declared=template.arguments,
        )
    except RenderError as exc:
        raise RenderError(f"{store_id} {response} ({lang}): {exc}") from exc


# What french_typography() may change in a value (a mark, guillemets, "8 h", a currency, a
# phone number): values without any are filled in as they are.
_TYPESET = re.compile(r"[?!;:«»$€£+]|\d[ \u00a0\u202f]?h\b")
_SPACES = re.compile(r" {2,}")
_SPACE_BEFORE = re.compile(r" +(?=[.,;:!?)\u00a0\u202f])")
_SPACE_AFTER_BRACKET = re.compile(r"\( +")


def tidy(text: str) -> str:
    """``text`` without the spaces an empty optional piece left (doubled, before a mark).

    ``"effectuée ."`` becomes ``"effectuée."``, ``"l'expédition , selon"`` becomes
    ``"l'expédition, selon"``; French no-break spaces are kept.
    """
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE.sub("", text)
    return _SPACE_AFTER_BRACKET.sub("(", text).strip()


def part_names(directory: Path | None = None) -> tuple[str, ...]:
    """The parts of composed answers: the ``part_...`` texts of ``_common/texts.yml``."""
    return tuple(name for name in common_texts(directory).templates if name.startswith(PART_PREFIX))


def _part_arguments(name: str, own: Template | None, common: Template | None) -> tuple[str, ...]:
    arguments = list(common.arguments if common else ())
    arguments += [a for a in (own.arguments if own else ()) if a not in arguments]
    return tuple(arguments)


def render_part(
    name: str,
    store_id: str | None,
    lang: Lang,
    arguments: Mapping[str, Any] | None = None,
    *,
    directory: Path | None = None,
) -> str:
    """One part of a composed answer, in the shop's wording (else the common one), tidied.

    Args:
        name: the part (``part_status_shipped``).
        store_id: the shop whose wording and facts apply; None: the common wording, no facts
            (the failure apology when even the shop is not known).
        lang: ``fr`` or ``en``.
        arguments: the values the code sends (order data, dates, other parts); an empty
            value is an optional piece left out.
        directory: the folder of shop folders (default: the registry's).

    Raises:
        RenderError: no such part, or one that cannot be filled.
        ConfigurationError: a file is invalid.
    """
    directory = directory or stores_dir()
    common = common_texts(directory).templates.get(name)
    own = shop_texts(store_id, directory).templates.get(name) if store_id else None
    template = own or common
    if template is None:
        raise RenderError(f"no text for {name} in the common texts")
    text = template.texts.get(lang)
    if text is None:
        raise RenderError(f"{name} has no {lang} text")
    facts = shop_facts(store_id, directory).facts if store_id else {}
    try:
        rendered = render_template(
            text,
            facts=facts,
            lang=lang,
            arguments=arguments,
            declared=_part_arguments(name, own, common),
        )
    except RenderError as exc:
        raise RenderError(f"{store_id or 'common'} {name} ({lang}): {exc}") from exc
    return tidy(rendered)


# --- validation --------------------------------------------------------------------------------


_SAMPLE_ARGUMENT = "client@example.com"


def check_shop(
    store_id: str,
    *,
    texts: ShopTexts | None = None,
    facts: StoreFile | None = None,
    common: ShopTexts | None = None,
    names: Iterable[str] | None = None,
    directory: Path | None = None,
    domain_file: Path = DOMAIN_FILE,
) -> list[str]:
    """Everything wrong with a shop's texts and facts together; empty when all is well.

    Checks, with the given versions (an edit not saved yet) or the files: every response in
    both languages (the shop's own text or the common one), no text for a response the
    domain does not have, every placeholder a fact with a value or a declared argument (so a
    fact a text still uses cannot be removed or set to null), French typography in the
    rendered French texts, no French spacing in the English ones. The same for every part of
    the composed answers (``part_...``, defined by the common texts), where a shop's wording
    may use only the values the common part declares.

    Returns:
        One sentence per problem, naming the response, language and placeholder.
    """
    try:
        texts = texts if texts is not None else shop_texts(store_id, directory)
        common = common if common is not None else common_texts(directory)
        facts = facts if facts is not None else shop_facts(store_id, directory)
    except ConfigurationError as exc:
        return [str(exc)]
    expected = list(names if names is not None else response_names(domain_file))
    if names is None:
        others = [shop_texts(shop, directory) for shop in shop_ids(directory) if shop != store_id]
        expected += faq_text_names([texts, common, *others], domain_file)
    parts = [name for name in common.templates if name.startswith(PART_PREFIX)]
    problems: list[str] = []
    for name in sorted(set(texts.templates) - set(expected) - set(parts)):
        if name.startswith(PART_PREFIX):
            problems.append(
                f"{texts.path.name}: {name} is not a part of the common texts (a typo? "
                "_common/texts.yml lists the parts the code composes answers from)"
            )
            continue
        problems.append(
            f"{texts.path.name}: {name} is not a response of the domain (a typo? the domain "
            "lists the responses the bot can say)"
        )
    for name in expected + parts:
        own, shared = texts.templates.get(name), common.templates.get(name)
        template = own or shared
        if template is None:
            problems.append(f"{store_id}: {name} has no text (neither the shop's nor a common one)")
            continue
        declared = template.arguments
        if name.startswith(PART_PREFIX):
            declared = _part_arguments(name, own, shared)
            extra = set(own.arguments if own else ()) - set(shared.arguments if shared else ())
            if extra:
                problems.append(
                    f"{store_id}: {name}: the code sends no {sorted(extra)} (its values are "
                    f"{list(shared.arguments if shared else ())})"
                )
        variants = [("", template.texts)] + [
            (f" [{channel}]", texts_of) for channel, texts_of in template.channels.items()
        ]
        for (where, texts_of), lang in itertools.product(variants, LANGUAGES):
            text = texts_of.get(lang)
            if text is None:
                problems.append(f"{store_id}: {name}{where} has no {lang} text")
                continue
            sample = dict.fromkeys(declared, _SAMPLE_ARGUMENT)
            try:
                rendered = render_template(
                    text,
                    facts=facts.facts,
                    lang=lang,
                    arguments=sample,
                    declared=declared,
                )
            except RenderError as exc:
                problems.append(f"{store_id}: {name}{where} ({lang}): {exc}")
                continue
            problems += [
                f"{store_id}: {name}{where} ({lang}): {error}"
                for error in typography_errors(rendered, lang)
            ]
    return problems
