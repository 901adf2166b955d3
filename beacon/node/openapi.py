"""The OpenAPI 3.1 document of this node's API, built from our request schema."""

from __future__ import annotations

from typing import Any

from beacon.config import Settings
from beacon.node.params import CONTROL_KEYS
from beacon.node.responses import API_VERSION
from beacon.schemas import load_schema

_LISTS = {"start", "end", "datasetIds", "filters"}
_FRAMEWORK = {
    "/": "Beacon information",
    "/info": "Beacon information",
    "/service-info": "GA4GH service-info",
    "/configuration": "Beacon configuration",
    "/map": "Beacon map of endpoints",
    "/entry_types": "Entry types served",
    "/filtering_terms": "Filtering terms (none yet)",
    "/datasets": "Datasets of this node",
    "/health": "Liveness and database reachability",
    "/openapi.json": "This OpenAPI document",
}


def _query_parameters(request: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for name, schema in request["properties"].items():
        if name in ("apiVersion", "requestedSchemas"):
            continue
        if name in _LISTS:
            schema = {"type": "string", "description": "comma-separated list"}
        found.append({"name": name, "in": "query", "required": False, "schema": schema})
    return found


def _responses(description: str) -> dict[str, Any]:
    error = {"$ref": "#/components/responses/Error"}
    return {
        "200": {
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "400": error,
        "404": error,
        "413": error,
        "500": error,
        "503": error,
    }


def _query_operation(summary: str, request: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": _query_parameters(request),
            "responses": _responses("Beacon boolean, count or result-set response"),
        },
        "post": {
            "summary": summary,
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/BeaconRequestBody"}
                    }
                },
            },
            "responses": _responses("Beacon boolean, count or result-set response"),
        },
    }


def openapi_document(settings: Settings, root: str) -> dict[str, Any]:
    """OpenAPI for every route; coordinates are 0-based, half-open, as Beacon v2 says."""
    request = load_schema("g_variants_request")
    paths: dict[str, Any] = {
        path: {"get": {"summary": text, "responses": _responses(text)}}
        for path, text in _FRAMEWORK.items()
    }
    paths["/datasets/{id}"] = {
        "get": {
            "summary": "One dataset",
            "parameters": [_id_param()],
            "responses": _responses("The dataset"),
        }
    }
    paths["/g_variants"] = _query_operation("Query alleles (sequence, range or bracket)", request)
    paths["/individuals"] = _query_operation("Count individuals carrying matching alleles", request)
    paths["/g_variants/{id}"] = {
        "get": {
            "summary": "One allele by its variantInternalId",
            "parameters": [_id_param()],
            "responses": _responses("The allele per dataset"),
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": settings.info.name,
            "version": settings.info.version,
            "description": f"GA4GH Beacon {API_VERSION} node. {settings.info.description}",
        },
        "servers": [{"url": root}],
        "paths": paths,
        "components": {
            "schemas": {"BeaconRequestBody": _request_body(request)},
            "responses": {
                "Error": {
                    "description": "Beacon error response",
                    "content": {"application/json": {"schema": _error_schema()}},
                }
            },
        },
    }


def _id_param() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _request_body(request: dict[str, Any]) -> dict[str, Any]:
    props = request["properties"]
    parameters = {k: v for k, v in props.items() if k not in CONTROL_KEYS}
    return {
        "type": "object",
        "properties": {
            "meta": {"type": "object", "properties": {"apiVersion": props["apiVersion"]}},
            "query": {
                "type": "object",
                "properties": {
                    "requestParameters": {
                        "description": "flat, nested under g_variant, or a list of "
                        "one variant object",
                        "oneOf": [
                            {"type": "object", "properties": parameters},
                            {"type": "array", "maxItems": 1},
                        ],
                    },
                    "pagination": {
                        "type": "object",
                        "properties": {"skip": props["skip"], "limit": props["limit"]},
                    },
                    "requestedGranularity": props["requestedGranularity"],
                    "includeResultsetResponses": props["includeResultsetResponses"],
                    "testMode": props["testMode"],
                    "filters": props["filters"],
                },
            },
        },
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["meta", "error"],
        "properties": {
            "meta": {"type": "object"},
            "error": {
                "type": "object",
                "required": ["errorCode"],
                "properties": {
                    "errorCode": {"type": "integer"},
                    "errorMessage": {"type": "string"},
                },
            },
        },
    }
