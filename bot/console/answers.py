"""The console's answer editor: a shop's texts and facts, changed by its editors.

Built on the answers-as-data API (:mod:`bot.answers.editing`): every save is checked with the
rest of the shop first (every response in both languages, known placeholders, facts still
used, French typography) and refused with one sentence per problem, the draft kept; a saved
version is live on the next turn in every process that renders answers; the replaced file is
kept in the history, and any former version can be put back (checked like an edit).

What this module adds for the console:

- every text a customer of the shop can get: the domain's responses, the FAQ answers that
  have no ``responses`` entry (``utter_<intent>``, ``utter_topic_<intent>``) and the parts of
  composed answers (``part_...``), each in the wording the shop uses (its own, else the common
  one) and, where a text has a channel's own wording (``email:`` for the replies to e-mails),
  that wording too;
- one response at a time: the editor changes the French and English texts of one response,
  and its channel wordings; the shop's ``texts.yml`` gets that response's block replaced (or
  added, when the shop used the common text until then), the rest of the file untouched,
  comments included;
- French typography set for the editor (no-break spaces before ``? ! ; :``...), as the check
  requires, instead of refusing a text typed with ordinary spaces;
- previews in both languages, rendered from the draft with the shop's facts, and for a draft
  of the facts, every answer whose text it changes.
"""

from __future__ import annotations

import difflib
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.answers.editing import Version, current_text, history
from bot.answers.library import (
    CHANNELS,
    LANGUAGES,
    PART_PREFIX,
    RenderError,
    ShopTexts,
    Template,
    common_texts,
    faq_text_names,
    parse_texts,
    render_template,
    response_names,
    shop_facts,
    shop_texts,
    texts_path,
)
from bot.errors import ConfigurationError
from bot.shops import shop_ids
from bot.stores import read_store_file
from bot.typography import french_typography

__all__ = [
    "CHANNEL_LABELS",
    "Rendered",
    "editable_names",
    "diff_with_current",
    "draft_texts",
    "fact_paths",
    "facts_preview",
    "history",
    "rendered",
    "template_of",
    "with_response",
]

_ARGUMENT_SAMPLE = "[{name}]"

#: How the console names each channel that a text may have its own wording for.
CHANNEL_LABELS: Mapping[str, str] = {
    "email": "in replies to e-mails",
    "web": "in the chat widget only",
}


@dataclass(frozen=True)
class Rendered:
    """One response as a customer of the shop reads it, in both languages."""

    name: str
    source: str  # "shop" (the shop's own text) or "common" (the shared one)
    texts: Mapping[str, str]  # language -> rendered text, or the problem
    problems: Mapping[str, str]  # language -> why it cannot be rendered
    arguments: tuple[str, ...] = ()
    changed: bool = False
    # A channel's own wording (channel -> language -> rendered text), and its problems.
    channel_texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    channel_problems: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def editable_names() -> list[str]:
    """Every text a customer can get: the domain's responses, then the FAQ answers without a
    ``responses`` entry (``utter_<intent>``, ``utter_topic_<intent>``), then the parts of
    composed answers (``part_...``)."""
    names = list(response_names())
    texts = [common_texts(), *(shop_texts(shop) for shop in shop_ids())]
    names += [name for name in faq_text_names(texts) if name not in names]
    names += [name for name in common_texts().templates if name.startswith(PART_PREFIX)]
    return names


def declared_arguments(store_id: str, name: str, template: Template | None) -> tuple[str, ...]:
    """The values the code sends with ``name``: its own, and for a part the common ones too
    (a shop's copy of a part gets the values of the common part)."""
    arguments = list(template.arguments if template else ())
    if name.startswith(PART_PREFIX):
        common = common_texts().templates.get(name)
        arguments = list(common.arguments if common else ()) + [
            a for a in arguments if a not in (common.arguments if common else ())
        ]
    return tuple(arguments)


def template_of(store_id: str, name: str) -> tuple[Template | None, str]:
    """The template the shop uses for ``name`` and where it comes from."""
    own = shop_texts(store_id).templates.get(name)
    if own is not None:
        return own, "shop"
    common = common_texts().templates.get(name)
    return common, "common"


def _render(
    texts: Mapping[str, str], arguments: Sequence[str], facts: Mapping[str, Any], lang: str
) -> tuple[str, str | None]:
    text = texts.get(lang)
    if text is None:
        return "", f"no {lang} text"
    samples = {name: _ARGUMENT_SAMPLE.format(name=name) for name in arguments}
    try:
        return (
            render_template(
                text,
                facts=facts,
                lang=lang,  # type: ignore[arg-type]
                arguments=samples,
                declared=arguments,
            ),
            None,
        )
    except RenderError as exc:
        return "", str(exc)


def rendered(
    store_id: str,
    *,
    texts: ShopTexts | None = None,
    facts: Mapping[str, Any] | None = None,
    only: Sequence[str] | None = None,
) -> list[Rendered]:
    """Every response of the shop rendered in both languages (with a draft, if given)."""
    own = texts if texts is not None else shop_texts(store_id)
    common = common_texts()
    values = facts if facts is not None else shop_facts(store_id).facts
    rows = []
    for name in only or editable_names():
        template = own.templates.get(name)
        source = "shop"
        if template is None:
            template, source = common.templates.get(name), "common"
        if template is None:
            rows.append(Rendered(name, "none", {}, {"fr": "no text", "en": "no text"}))
            continue
        arguments = declared_arguments(store_id, name, template)
        out, problems = _render_languages(template.texts, arguments, values)
        channel_texts: dict[str, Mapping[str, str]] = {}
        channel_problems: dict[str, Mapping[str, str]] = {}
        for channel, texts_of in template.channels.items():
            channel_texts[channel], channel_problems[channel] = _render_languages(
                texts_of, arguments, values
            )
        rows.append(
            Rendered(
                name,
                source,
                out,
                problems,
                arguments,
                channel_texts=channel_texts,
                channel_problems=channel_problems,
            )
        )
    return rows


def _render_languages(
    texts: Mapping[str, str], arguments: Sequence[str], facts: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    out: dict[str, str] = {}
    problems: dict[str, str] = {}
    for lang in LANGUAGES:
        text, problem = _render(texts, arguments, facts, lang)
        out[lang] = text
        if problem:
            problems[lang] = problem
    return out, problems


def typeset_draft(fr: str, en: str) -> tuple[str, str]:
    """The texts as saved: one paragraph each, French typography set in the French one."""
    return french_typography(" ".join(fr.split())), " ".join(en.split())


def typeset_channels(drafts: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """A channel's wordings as saved (typeset like the texts); a language left empty is left
    out (the check then says it is missing), a channel left empty in both is no wording."""
    out: dict[str, dict[str, str]] = {}
    for channel in CHANNELS:
        draft = drafts.get(channel, {})
        fr, en = typeset_draft(draft.get("fr", ""), draft.get("en", ""))
        texts = {lang: text for lang, text in (("fr", fr), ("en", en)) if text}
        if texts:
            out[channel] = texts
    return out


def _block(
    name: str,
    fr: str,
    en: str,
    arguments: Sequence[str],
    channels: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    entry: dict[str, Any] = {"fr": fr, "en": en}
    if arguments:
        entry["arguments"] = list(arguments)
    for channel in CHANNELS:
        if channels and channels.get(channel):
            entry[channel] = {lang: channels[channel][lang] for lang in channels[channel]}
    dumped = yaml.safe_dump(
        {name: entry}, allow_unicode=True, sort_keys=False, width=96, default_flow_style=False
    )
    return str(dumped)


_TOP_LEVEL = re.compile(r"^\S")  # a key or a comment at column 0 ends a block


def with_response(
    file_text: str,
    name: str,
    fr: str,
    en: str,
    arguments: Sequence[str] = (),
    channels: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """``texts.yml`` with the block of ``name`` replaced by the new texts and channel wordings
    (``{"email": {"fr": ..., "en": ...}}``; added at the end when the shop had no text of its
    own for it); every other line kept as it was."""
    block = _block(name, fr, en, arguments, channels)
    lines = file_text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if re.match(rf"^{re.escape(name)}\s*:", line)), None
    )
    if start is None:
        text = file_text if file_text.endswith("\n") or not file_text else file_text + "\n"
        return f"{text}\n{block}" if text.strip() else block
    end = start + 1
    while end < len(lines) and not _TOP_LEVEL.match(lines[end]):
        end += 1
    # Blank lines at the end of the old block stay (they separate it from the next one).
    tail = end
    while tail > start + 1 and not lines[tail - 1].strip():
        tail -= 1
    return "".join(lines[:start]) + block + "".join(lines[tail:])


def draft_texts(store_id: str, file_text: str) -> ShopTexts:
    """A draft of the shop's ``texts.yml``, parsed (raises ConfigurationError if invalid)."""
    path = texts_path(store_id)
    try:
        raw = yaml.safe_load(file_text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path.name} is not valid YAML: {exc}") from exc
    return parse_texts(raw, path)


def facts_preview(store_id: str, file_text: str) -> list[Rendered]:
    """The answers a draft of the facts changes, rendered with it (empty if none change)."""
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "facts.yml"
        path.write_text(file_text, encoding="utf-8")
        draft = read_store_file(path).facts
    before = {row.name: row for row in rendered(store_id)}
    changed = []
    for row in rendered(store_id, facts=draft):
        old = before.get(row.name)
        if old is None or old.texts != row.texts or old.problems != row.problems:
            changed.append(
                Rendered(row.name, row.source, row.texts, row.problems, row.arguments, True)
            )
    return changed


def fact_paths(store_id: str) -> list[str]:
    """The placeholders a text of the shop may use: every single-valued fact, dotted."""
    paths: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            if set(node) == set(LANGUAGES):
                paths.append(prefix)
                return
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif node is not None and not isinstance(node, list | tuple | bool):
            paths.append(prefix)

    walk(shop_facts(store_id).facts, "")
    return sorted(paths)


def diff_with_current(store_id: str, version: Version) -> str:
    """What putting ``version`` back would change, as a unified diff."""
    now = current_text(store_id, version.kind).splitlines(keepends=True)
    then = version.path.read_text(encoding="utf-8").splitlines(keepends=True)
    name = f"{version.kind}.yml"
    return "".join(
        difflib.unified_diff(now, then, fromfile=f"{name} now", tofile=f"{name} {version.id}")
    )
