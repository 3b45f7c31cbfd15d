"""Settings from the environment (and an optional `.env` file), in one place.

Every process of the app environment (action server, gateway, e-mail worker, scripts)
reads its configuration through :func:`get_settings`. The Rasa environment never imports
this module (it has no pydantic-settings); `bot/nlu/` reads the few variables it needs itself.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
STORES_DIR = PROJECT_ROOT / "data" / "stores"

KNOWN_STORES = ("om-system", "btomic")


class Settings(BaseSettings):
    """The app environment's configuration; each field maps to an upper-case variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Orders database: any SQLAlchemy URL; the embedded default is a SQLite file under var/.
    database_url: str = Field(default=f"sqlite:///{VAR_DIR / 'orders.db'}")
    # Seconds a database statement may take before the action gives up (PostgreSQL only).
    database_statement_timeout_s: float = 5.0

    # Store used when a channel does not say which shop the customer is on.
    default_store: str = "om-system"

    # Where the processes listen / reach each other.
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_port: int = 5005
    action_server_port: int = 5055
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    # Seconds the gateway waits for Rasa before telling the customer to retry.
    rasa_timeout_s: float = 30.0

    # Outbound e-mail, e.g. smtp://user:password@mail.example.com:587?starttls=1
    smtp_url: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Returns the process-wide settings (read once)."""
    return Settings()
