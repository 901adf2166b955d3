"""Every aiohttp AppKey, in one place."""

from __future__ import annotations

from aiohttp import web

from beacon.aggregator.budget import NetworkBudget
from beacon.aggregator.fanout import FanOut
from beacon.aggregator.registry import Registry
from beacon.audit import AuditLog
from beacon.config import Settings
from beacon.node.protect import Guard
from beacon.ratelimit import RateLimiter
from beacon.schemas import Validators
from beacon.store import VariantStore
from beacon.tokens import KeySets, UserInfo

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", VariantStore)
VALIDATORS = web.AppKey("validators", Validators)
REGISTRY = web.AppKey("registry", Registry)
FANOUT = web.AppKey("fanout", FanOut)
KEY_SETS = web.AppKey("key_sets", KeySets)
USERINFO = web.AppKey("userinfo", UserInfo)
AUDIT = web.AppKey("audit", AuditLog)
GUARD = web.AppKey("guard", Guard)
LIMITER = web.AppKey("limiter", RateLimiter)
NETWORK_BUDGET = web.AppKey("network_budget", NetworkBudget)
