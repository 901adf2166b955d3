"""Bodies of the framework endpoints: info, service-info, configuration, map, entry types."""

from __future__ import annotations

from typing import Any

from beacon.auth import Tier
from beacon.config import Settings
from beacon.node.responses import (
    API_VERSION,
    DATASET_SCHEMA,
    INDIVIDUAL_SCHEMA,
    VARIANT_SCHEMA,
    informational_meta,
)

_ENTRY_TYPES = {
    "genomicVariation": {
        "id": "genomicVariation",
        "name": "Genomic variants",
        "ontologyTermForThisType": {"id": "ENSGLOSSARY:0000092", "label": "Variant"},
        "partOfSpecification": "Beacon v2.0.0",
        "description": "A normalised allele of one dataset, with counts from the genotypes.",
        "defaultSchema": {
            "id": "beacon-g_variant-v2.0.0",
            "name": "Default schema for a genomic variation",
            "referenceToSchemaDefinition": "https://raw.githubusercontent."
            "com/ga4gh-beacon/beacon-v2/main/models/json/beacon-v2-default-model/"
            "genomicVariations/defaultSchema.json",
            "schemaVersion": "v2.0.0",
        },
        "nonFilteredQueriesAllowed": True,
    },
    "individual": {
        "id": "individual",
        "name": "Individuals",
        "ontologyTermForThisType": {"id": "NCIT:C25190", "label": "Person"},
        "partOfSpecification": "Beacon v2.0.0",
        "description": "Individuals carrying a queried allele; counted, never listed.",
        "defaultSchema": {
            "id": "beacon-individual-v2.0.0",
            "name": "Default schema for an individual",
            "referenceToSchemaDefinition": "https://raw.githubusercontent."
            "com/ga4gh-beacon/beacon-v2/main/models/json/beacon-v2-default-model/"
            "individuals/defaultSchema.json",
            "schemaVersion": "v2.0.0",
        },
        "nonFilteredQueriesAllowed": True,
    },
    "dataset": {
        "id": "dataset",
        "name": "Datasets",
        "ontologyTermForThisType": {"id": "NCIT:C47824", "label": "Data set"},
        "partOfSpecification": "Beacon v2.0.0",
        "description": "One cohort's VCF, ingested as one dataset.",
        "defaultSchema": {
            "id": "beacon-dataset-v2.0.0",
            "name": "Default schema for datasets",
            "referenceToSchemaDefinition": "https://raw.githubusercontent.com/"
            "ga4gh-beacon/beacon-v2/main/models/json/beacon-v2-default-model/"
            "datasets/defaultSchema.json",
            "schemaVersion": "v2.0.0",
        },
        "aCollectionOf": [{"id": "genomicVariation", "name": "Genomic variants"}],
        "nonFilteredQueriesAllowed": True,
    },
}


def info_results(settings: Settings) -> dict[str, Any]:
    info, org = settings.info, settings.info.organization
    organization = {"id": org.id, "name": org.name}
    organization.update(
        {
            k: v
            for k, v in (
                ("description", org.description),
                ("address", org.address),
                ("welcomeUrl", org.welcome_url),
                ("contactUrl", org.contact_url),
                ("logoUrl", org.logo_url),
            )
            if v
        }
    )
    results = {
        "id": info.id,
        "name": info.name,
        "apiVersion": API_VERSION,
        "environment": info.environment,
        "organization": organization,
        "description": info.description,
        "version": f"v{info.version}",
    }
    results.update({k: v for k, v in (("welcomeUrl", info.welcome_url),) if v})
    return results


def info_body(settings: Settings) -> dict[str, Any]:
    return {
        "meta": informational_meta(settings, [VARIANT_SCHEMA]),
        "response": info_results(settings),
    }


def service_info_body(settings: Settings) -> dict[str, Any]:
    info, org = settings.info, settings.info.organization
    body = {
        "id": info.id,
        "name": info.name,
        "description": info.description,
        "type": {"group": "org.ga4gh", "artifact": "beacon", "version": API_VERSION},
        "organization": {"name": org.name, "url": org.welcome_url or "https://example.org"},
        "version": info.version,
        "environment": info.environment,
    }
    if info.contact_url:
        body["contactUrl"] = info.contact_url
    return body


def configuration_body(settings: Settings) -> dict[str, Any]:
    status = {"prod": "PROD", "test": "TEST", "staging": "TEST"}.get(
        settings.info.environment, "DEV"
    )
    config = {
        "$schema": "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/framework/"
        "json/configuration/beaconConfigurationSchema.json",
        "maturityAttributes": {"productionStatus": status},
        "securityAttributes": _security(settings),
        "entryTypes": _ENTRY_TYPES,
    }
    return {"meta": informational_meta(settings, []), "response": config}


def _security(settings: Settings) -> dict[str, Any]:
    """The tiers in use and what an anonymous caller gets (`defaultGranularity`)."""
    policy = settings.policy
    if not policy.enforced:
        return {"defaultGranularity": "boolean", "securityLevels": ["PUBLIC"]}
    levels = {policy.default_level, *policy.levels.values(), Tier.PUBLIC}
    public = min(policy.granularity[Tier.PUBLIC], settings.max_granularity)
    return {
        "defaultGranularity": public.label,
        "securityLevels": [t.name for t in sorted(levels)],
    }


def entry_types_body(settings: Settings) -> dict[str, Any]:
    return {"meta": informational_meta(settings, []), "response": {"entryTypes": _ENTRY_TYPES}}


def map_body(settings: Settings, root: str) -> dict[str, Any]:
    endpoint_sets = {
        "genomicVariation": {
            "entryType": "genomicVariation",
            "rootUrl": f"{root}/g_variants",
            "singleEntryUrl": f"{root}/g_variants/{{id}}",
            "openAPIEndpointsDefinition": f"{root}/openapi.json",
        },
        "individual": {
            "entryType": "individual",
            "rootUrl": f"{root}/individuals",
            "openAPIEndpointsDefinition": f"{root}/openapi.json",
        },
        "dataset": {
            "entryType": "dataset",
            "rootUrl": f"{root}/datasets",
            "singleEntryUrl": f"{root}/datasets/{{id}}",
            "openAPIEndpointsDefinition": f"{root}/openapi.json",
        },
    }
    beacon_map = {
        "$schema": "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
        "framework/json/configuration/beaconMapSchema.json",
        "endpointSets": endpoint_sets,
    }
    return {"meta": informational_meta(settings, []), "response": beacon_map}


def filtering_terms_body(settings: Settings) -> dict[str, Any]:
    return {
        "meta": informational_meta(settings, []),
        "response": {"filteringTerms": [], "resources": []},
    }


SCHEMAS = {"variant": VARIANT_SCHEMA, "individual": INDIVIDUAL_SCHEMA, "dataset": DATASET_SCHEMA}
