"""Country names and codes for the app environment.

The implementation lives in :mod:`bot.nlu.countries` because the Rasa environment's entity
extractor needs the same table and may only import ``bot.nlu``; this module re-exports it
so that actions and domain code do not reach into the NLU package.
"""

from __future__ import annotations

from bot.nlu.countries import (
    COUNTRIES,
    Country,
    country,
    country_name,
    country_name_with_preposition,
    find_countries,
    is_known_code,
    normalise_country,
    parent_country,
    region_members,
)

__all__ = [
    "COUNTRIES",
    "Country",
    "country",
    "country_name",
    "country_name_with_preposition",
    "find_countries",
    "is_known_code",
    "normalise_country",
    "parent_country",
    "region_members",
]
