"""GET query strings and POST bodies -> one flat, schema-checked parameter dict."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from beacon.errors import InvalidRequest, UnsupportedMediaType
from beacon.schemas import Validators, problems

VARIANT_ID = re.compile(r"^[A-Za-z0-9_.<>:-]{1,200}$")
"""What a `/g_variants/{id}` id may look like (our allele keys, and other beacons' ids)."""
_INT_LISTS = ("start", "end")
_STR_LISTS = ("datasetIds", "filters")
_INTS = ("variantMinLength", "variantMaxLength", "skip", "limit")
CONTROL_KEYS = frozenset(
    {
        "requestedGranularity",
        "includeResultsetResponses",
        "skip",
        "limit",
        "testMode",
        "filters",
        "apiVersion",
        "requestedSchemas",
    }
)
"""Flat parameters that steer the answer rather than describe the variant."""
_QUERY_KEYS = {
    "requestParameters",
    "pagination",
    "requestedGranularity",
    "includeResultsetResponses",
    "testMode",
    "filters",
}
_META_KEYS = {"apiVersion", "requestedSchemas", "$schema"}


def from_query_string(query: MultiMapping[str]) -> dict[str, Any]:
    """Query string -> flat params; comma lists for start, end, datasetIds, filters."""
    params: dict[str, Any] = {}
    for key in query:
        values = query.getall(key)
        if len(values) > 1:
            raise InvalidRequest(
                f"parameter {key} is given {len(values)} times; give it once (use commas for lists)"
            )
        params[key] = _typed(key, values[0])
    return params


def _typed(key: str, raw: str) -> Any:
    if key in _INT_LISTS:
        return [_integer(key, part) for part in raw.split(",")]
    if key in _STR_LISTS:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if key in _INTS:
        return _integer(key, raw)
    if key == "testMode":
        if raw.lower() not in ("true", "false"):
            raise InvalidRequest("testMode must be true or false")
        return raw.lower() == "true"
    return raw


def _integer(key: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidRequest(f"{key} must be a whole number, got {raw!r}") from None


async def from_body(request: web.Request) -> dict[str, Any]:
    """A Beacon v2 request body -> flat params.

    `requestParameters` may be flat, nested under `g_variant` (the v2.1 schema), or a list with
    one variant object (as the 1+MG data portal sends it).
    """
    if request.content_type not in ("application/json", "application/octet-stream", ""):
        raise UnsupportedMediaType(
            f"send the request body as application/json, not {request.content_type}"
        )
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidRequest("the request body is nested too deeply") from None
    return flatten_body(body)


def flatten_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object with `meta` and `query`")
    unknown = set(body) - {"meta", "query", "$schema"}
    if unknown:
        raise InvalidRequest(f"unknown top-level field(s) {', '.join(sorted(unknown))}")
    meta, query = _object(body, "meta"), _object(body, "query")
    unknown = (set(meta) - _META_KEYS) | (set(query) - _QUERY_KEYS)
    if unknown:
        raise InvalidRequest(f"unknown field(s) {', '.join(sorted(unknown))}")
    params = {k: v for k, v in meta.items() if k != "$schema"}
    params.update(_request_parameters(query.get("requestParameters")))
    pagination = _object(query, "pagination")
    params.update({k: pagination[k] for k in ("skip", "limit") if k in pagination})
    for key in ("requestedGranularity", "includeResultsetResponses", "testMode", "filters"):
        if key in query:
            params[key] = query[key]
    for key in _INT_LISTS:
        if key in params and not isinstance(params[key], list):
            params[key] = [params[key]]
    return params


def _check_requested_schemas(value: Any) -> None:
    """They are echoed in every answer, so they must already be valid Beacon `ListOfSchemas`."""
    if not isinstance(value, list) or not all(
        isinstance(item, dict)
        and all(isinstance(item.get(k, ""), str) for k in ("entityType", "schema"))
        for item in value
    ):
        raise InvalidRequest(
            'requestedSchemas must be a list of {"entityType": ..., "schema": ...} objects'
        )


def _object(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{key} must be a JSON object")
    return value


def _request_parameters(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], dict):
            raise InvalidRequest("requestParameters as a list must hold exactly one variant object")
        value = value[0]
    if not isinstance(value, dict):
        raise InvalidRequest("requestParameters must be a JSON object")
    params = dict(value)
    nested = params.pop("g_variant", None)
    if nested is not None:
        if not isinstance(nested, dict):
            raise InvalidRequest("requestParameters.g_variant must be a JSON object")
        params.update(nested)
    datasets = params.pop("datasets", None)
    if isinstance(datasets, dict) and "datasetIds" in datasets:
        params["datasetIds"] = datasets["datasetIds"]
    elif datasets is not None:
        raise InvalidRequest('requestParameters.datasets must be {"datasetIds": [...]}')
    return params


def validated(params: dict[str, Any], validators: Validators) -> dict[str, Any]:
    found = problems(validators.request, params)
    if found:
        raise InvalidRequest("invalid request: " + "; ".join(found))
    _check_requested_schemas(params.get("requestedSchemas", []))
    return {k: _whole(v) if k in _INT_LISTS or k in _INTS else v for k, v in params.items()}


def _whole(value: Any) -> Any:
    """JSON Schema counts 99.0 as an integer; make it the int 99 before it reaches a key."""
    if isinstance(value, list):
        return [int(v) for v in value]
    return int(value)


async def read_params(request: web.Request, validators: Validators) -> dict[str, Any]:
    """A query request's parameters, from its body (POST) or its query string (GET), validated."""
    if request.method == "POST":
        params = await from_body(request)
    else:
        params = from_query_string(request.query)
    return validated(params, validators)


_SINGLE_VARIANT_KEYS = {
    "requestedGranularity",
    "datasetIds",
    "includeResultsetResponses",
    "testMode",
    "skip",
    "limit",
}


def single_variant_params(query: MultiMapping[str], validators: Validators) -> dict[str, Any]:
    """Parameters of `/g_variants/{id}`: only those that steer the answer."""
    params = validated(from_query_string(query), validators)
    if set(params) - _SINGLE_VARIANT_KEYS:
        raise InvalidRequest(
            "a single-variant request takes only requestedGranularity, "
            "datasetIds, includeResultsetResponses, testMode, skip and limit"
        )
    return params
