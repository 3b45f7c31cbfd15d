"""Where the gateway's files live."""

from __future__ import annotations

from pathlib import Path

API_DIR = Path(__file__).resolve().parent
STATIC_DIR = API_DIR / "static"
TEMPLATES_DIR = API_DIR / "templates"
