"""The chat widget's script, served to any page that embeds it with one `<script>` tag.

What the widget shows of each shop comes from the shop registry (``data/stores/<shop>/``
``facts.yml``: ``widget_name`` or ``name``, ``widget_colours``), and the shop a tag without
``data-store`` is for from the deployment's default store: they are written into the script
as it is served, so a new shop's folder is enough for its widget to name it in its colours.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from bot.api.deps import SettingsDep
from bot.api.paths import STATIC_DIR
from bot.config import Settings, get_settings
from bot.shops import resolve_store
from bot.stores import all_stores

router = APIRouter(tags=["widget"])

WIDGET_JS = STATIC_DIR / "widget.js"
SHOPS_MARKER = "{} /* shops */"
DEFAULT_STORE_MARKER = '"" /* default store */'
RESEND_MARKER = "90 /* resend for s */"
# The colours of facts.yml's widget_colours, as the widget's CSS variables.
_COLOUR_VARIABLES = {
    "accent": "--accent",
    "header_background": "--header-bg",
    "header_text": "--header-text",
    "link": "--link",
}


def widget_shops() -> dict[str, dict[str, object]]:
    """What the widget shows of each shop: its name and its colours (CSS variables)."""
    shops: dict[str, dict[str, object]] = {}
    for policy in all_stores():
        colours = policy.widget_colours.model_dump() if policy.widget_colours else {}
        shops[policy.id] = {
            "name": policy.widget_name or policy.name,
            "colours": {_COLOUR_VARIABLES[key]: value for key, value in colours.items() if value},
        }
    return shops


def widget_script(settings: Settings | None = None) -> str:
    """widget.js with the registry's shops, the default store and how long a message is sent
    again while the assistant cannot be reached (WIDGET_RESEND_FOR_S) written in."""
    settings = settings or get_settings()
    script = WIDGET_JS.read_text(encoding="utf-8")
    script = script.replace(
        SHOPS_MARKER, json.dumps(widget_shops(), ensure_ascii=False, sort_keys=True), 1
    )
    script = script.replace(RESEND_MARKER, json.dumps(float(settings.widget_resend_for_s)), 1)
    default = resolve_store(None, settings.default_store)
    return script.replace(DEFAULT_STORE_MARKER, json.dumps(default), 1)


@router.get("/widget.js")
def widget_js(settings: SettingsDep) -> Response:
    """The widget (plain JavaScript, no dependencies); short cache so fixes reach shops soon."""
    return Response(
        widget_script(settings),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
