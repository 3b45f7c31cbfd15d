"""The gateway: the assistant's only public face (FastAPI). It never imports Rasa."""

from __future__ import annotations

from fastapi import FastAPI

from bot.api.routes import health

app = FastAPI(title="Shop support assistant gateway", version="0.1.0")
app.include_router(health.router)
