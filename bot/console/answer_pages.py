"""The console's *Answers* section (editors): preview, edit, validate, history and revert of a
shop's texts and facts (:mod:`bot.console.answers`, on :mod:`bot.answers.editing`).

Registered on the console's router (``bot.console.web`` imports this module last).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from urllib.parse import quote

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from bot.answers import editing
from bot.answers.library import CHANNELS
from bot.console import answers
from bot.console.audit import audit
from bot.console.auth import Agent
from bot.console.web import (
    AgentDep,
    ConsoleDenied,
    FormDep,
    PostAgent,
    StateDep,
    back,
    need,
    need_shop,
    render,
    router,
)
from bot.db.console import Role
from bot.errors import ConfigurationError
from bot.stores import store_ids

logger = logging.getLogger(__name__)


def _shop(agent: Agent, store_id: str | None) -> str:
    """The shop asked for (the account's first one by default), checked."""
    need(agent, Role.EDITOR)
    mine = [shop for shop in store_ids() if agent.can_see(shop)]
    if not mine:
        raise ConsoleDenied("Your account is bound to no shop.")
    store_id = store_id or mine[0]
    if store_id not in store_ids():
        raise ConsoleDenied(f"No shop {store_id!r}.", 404)
    need_shop(agent, store_id)
    return store_id


def _name(name: str) -> str:
    if name not in answers.editable_names():
        raise ConsoleDenied(f"No text {name!r}: not a response, an FAQ answer nor a part.", 404)
    return name


def _channel_drafts(form: dict[str, str]) -> dict[str, dict[str, str]]:
    """The channel wordings of the form (``email_fr``, ``email_en``...), as typed."""
    return {
        channel: {lang: form.get(f"{channel}_{lang}", "") for lang in ("fr", "en")}
        for channel in CHANNELS
    }


@router.get("/answers", response_class=HTMLResponse)
def answers_page(request: Request, agent: AgentDep, store: str | None = None) -> HTMLResponse:
    """Every answer of a shop as its customers read it, in both languages, and the history."""
    store_id = _shop(agent, store)
    versions = editing.history(store_id)
    return render(
        request,
        "answers.html",
        agent,
        store_id=store_id,
        shops=[shop for shop in store_ids() if agent.can_see(shop)],
        rows=answers.rendered(store_id),
        channel_labels=answers.CHANNEL_LABELS,
        versions=versions,
        diffs={version.id: answers.diff_with_current(store_id, version) for version in versions},
    )


def _edit_page(
    request: Request,
    agent: Agent,
    store_id: str,
    name: str,
    *,
    fr: str,
    en: str,
    channels: dict[str, dict[str, str]],
    preview: answers.Rendered | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    template, source = answers.template_of(store_id, name)
    current = answers.rendered(store_id, only=[name])[0]
    draft_channels = {
        channel: {lang: channels.get(channel, {}).get(lang, "") for lang in ("fr", "en")}
        for channel in CHANNELS
    }
    return render(
        request,
        "answer_edit.html",
        agent,
        status_code=status_code,
        store_id=store_id,
        response=name,
        source=source,
        arguments=current.arguments,
        current=current,
        draft={"fr": fr, "en": en},
        draft_channels=draft_channels,
        channel_labels=answers.CHANNEL_LABELS,
        preview=preview,
        problems=problems or [],
        fact_paths=answers.fact_paths(store_id),
    )


@router.get("/answers/{store_id}/texts/{name}", response_class=HTMLResponse)
def edit_answer(request: Request, agent: AgentDep, store_id: str, name: str) -> HTMLResponse:
    """The texts of one response of a shop, to change."""
    store_id, name = _shop(agent, store_id), _name(name)
    template, _source = answers.template_of(store_id, name)
    texts = template.texts if template else {}
    channels = {c: dict(t) for c, t in template.channels.items()} if template else {}
    return _edit_page(
        request,
        agent,
        store_id,
        name,
        fr=texts.get("fr", ""),
        en=texts.get("en", ""),
        channels=channels,
    )


@router.post("/answers/{store_id}/texts/{name}", response_class=HTMLResponse)
async def save_answer(
    request: Request, state: StateDep, agent: PostAgent, form: FormDep, store_id: str, name: str
) -> Response:
    """Previews (``action=preview``) or saves one response's texts; a refused save keeps the
    draft on the page with one sentence per problem."""
    store_id, name = _shop(agent, store_id), _name(name)
    fr, en = answers.typeset_draft(form.get("fr", ""), form.get("en", ""))
    channels = answers.typeset_channels(_channel_drafts(form))
    template, _source = answers.template_of(store_id, name)
    arguments = template.arguments if template else ()

    def draft() -> tuple[str, answers.Rendered | None, list[str]]:
        text = answers.with_response(
            editing.current_text(store_id, "texts"), name, fr, en, arguments, channels
        )
        try:
            parsed = answers.draft_texts(store_id, text)
        except ConfigurationError as exc:
            return text, None, [str(exc)]
        (row,) = answers.rendered(store_id, texts=parsed, only=[name])
        return text, row, editing.check_texts_text(store_id, text)

    text, preview, problems = await run_in_threadpool(draft)
    page = partial(_edit_page, request, agent, store_id, name, fr=fr, en=en, channels=channels)
    save = partial(editing.save_texts, store_id, text)
    audited = (store_id, name, "texts")
    saved = f"Saved {name}: customers get it from their next message."
    return await _preview_or_save(state, agent, form, page, preview, problems, save, audited, saved)


async def _preview_or_save(
    state: StateDep,
    agent: Agent,
    form: dict[str, str],
    page: Callable[..., Response],
    preview: object,
    problems: list[str],
    save: Callable[[], object],
    audited: tuple[str, str, str],
    saved: str,
) -> Response:
    """The editor's two buttons: a preview (or a draft with problems: 400 when saving) shows
    ``page`` again with the preview; a save writes the file and audits it (``audited``: the
    shop, what was edited, the detail), then goes back to the list saying ``saved``, or shows
    why not without the preview (changed meanwhile by someone else: 400)."""
    store_id, target, detail = audited
    saving = form.get("action") == "save"
    if not saving or problems:
        status_code = 400 if problems and saving else 200
        return page(preview=preview, problems=problems, status_code=status_code)

    def write() -> list[str]:
        try:
            save()
        except editing.EditRefused as exc:
            return exc.problems
        with state.sessions() as session:
            audit(session, agent, "answers.save", store_id=store_id, target=target, detail=detail)
            session.commit()
        return []

    refused = await run_in_threadpool(write)
    if refused:
        return page(problems=refused, status_code=400)
    return back(f"/console/answers?store={quote(store_id)}", saved)


def _facts_page(
    request: Request,
    agent: Agent,
    store_id: str,
    *,
    text: str,
    preview: list[answers.Rendered] | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "answer_facts.html",
        agent,
        status_code=status_code,
        store_id=store_id,
        text=text,
        preview=preview,
        problems=problems or [],
    )


@router.get("/answers/{store_id}/facts", response_class=HTMLResponse)
def edit_facts(request: Request, agent: AgentDep, store_id: str) -> HTMLResponse:
    """The shop's facts (``facts.yml``: values with their FAQ quotes), to change."""
    store_id = _shop(agent, store_id)
    return _facts_page(request, agent, store_id, text=editing.current_text(store_id, "facts"))


@router.post("/answers/{store_id}/facts", response_class=HTMLResponse)
async def save_facts(
    request: Request, state: StateDep, agent: PostAgent, form: FormDep, store_id: str
) -> Response:
    """Previews (the answers the new facts change) or saves the shop's facts."""
    store_id = _shop(agent, store_id)
    text = form.get("text", "").replace("\r\n", "\n")

    def check() -> tuple[list[answers.Rendered] | None, list[str]]:
        problems = editing.check_facts_text(store_id, text)
        try:
            preview = answers.facts_preview(store_id, text)
        except (ConfigurationError, ValueError) as exc:
            return None, problems or [str(exc)]
        return preview, problems

    preview, problems = await run_in_threadpool(check)
    page = partial(_facts_page, request, agent, store_id, text=text)
    save = partial(editing.save_facts, store_id, text)
    audited = (store_id, "facts", ", ".join(row.name for row in preview or [])[:400])
    saved = "Saved the facts: customers get the new answers from their next message."
    return await _preview_or_save(state, agent, form, page, preview, problems, save, audited, saved)


@router.post("/answers/{store_id}/revert")
async def revert_answers(
    state: StateDep, agent: PostAgent, form: FormDep, store_id: str
) -> Response:
    """Puts a former version of the shop's texts or facts back (checked like an edit)."""
    store_id = _shop(agent, store_id)
    version = form.get("version", "")

    def run() -> str | None:
        try:
            editing.revert(store_id, version)
        except KeyError:
            return "That version is not in the history."
        except editing.EditRefused as exc:
            return "Not put back: " + "; ".join(exc.problems)
        with state.sessions() as session:
            audit(session, agent, "answers.revert", store_id=store_id, target=version)
            session.commit()
        return None

    problem = await run_in_threadpool(run)
    notice = problem or f"Version {version} is back: customers get it from their next message."
    return back(f"/console/answers?store={quote(store_id)}", notice)
