"""The chat widget's script, served to any page that embeds it with one `<script>` tag."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from bot.api.paths import STATIC_DIR

router = APIRouter(tags=["widget"])

WIDGET_JS = STATIC_DIR / "widget.js"


@router.get("/widget.js", response_class=FileResponse)
def widget_js() -> FileResponse:
    """The widget (plain JavaScript, no dependencies); short cache so fixes reach shops soon."""
    return FileResponse(
        WIDGET_JS,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
