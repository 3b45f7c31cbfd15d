"""The chat widget's script, served to any page that embeds it with one `<script>` tag.

The shops' names the widget shows come from the shop registry (``data/stores/<shop>/``,
``widget_name`` or ``name``): they are written into the script as it is served, so a new
shop's folder is enough for its widget to name it.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from bot.api.paths import STATIC_DIR
from bot.stores import all_stores

router = APIRouter(tags=["widget"])

WIDGET_JS = STATIC_DIR / "widget.js"
SHOPS_MARKER = "{} /* shops */"


def widget_script() -> str:
    """widget.js with the registry's shop names in place of its empty ``SHOPS``."""
    names = {policy.id: policy.widget_name or policy.name for policy in all_stores()}
    script = WIDGET_JS.read_text(encoding="utf-8")
    return script.replace(SHOPS_MARKER, json.dumps(names, ensure_ascii=False), 1)


@router.get("/widget.js")
def widget_js() -> Response:
    """The widget (plain JavaScript, no dependencies); short cache so fixes reach shops soon."""
    return Response(
        widget_script(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
