"""Every aiohttp AppKey, in one place."""

from __future__ import annotations

from aiohttp import web

from beacon.config import Settings
from beacon.schemas import Validators
from beacon.store import VariantStore

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", VariantStore)
VALIDATORS = web.AppKey("validators", Validators)
