"""JSON schemas of Placement's request bodies and query strings, by microversion (from the
Placement API reference: field names, types, limits and patterns)."""

from __future__ import annotations

import copy
from typing import Any

from monostack.placement.service.common import MAX_INT

RC_PATTERN = "^[A-Z0-9_]+$"
CUSTOM_PATTERN = "^CUSTOM_[A-Z0-9_]+$"
UUID_KEY = "^[0-9a-fA-F-]{36}$"
SUFFIX = "[a-zA-Z0-9_-]{1,64}"
NUMBER_SUFFIX = "[1-9][0-9]*"
FLOAT_MAX = 3.40282e38
UUID = {"type": "string", "format": "uuid"}


def _object(properties: dict[str, Any], required: tuple[str, ...] | list[str] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False,
            **extra}


def _with(schema: dict[str, Any], *, must: tuple[str, ...] | list[str] = (), drop: tuple[str, ...] = (),
          **properties: Any) -> dict[str, Any]:
    """A copy of an object schema with more (or other) properties, `must` ones required, `drop` ones removed."""
    new = copy.deepcopy(schema)
    for name in drop:
        new["properties"].pop(name, None)
        if name in new.get("required", []):
            new["required"].remove(name)
    new["properties"].update(properties)
    new["required"] = new.get("required", []) + [name for name in must if name not in new.get("required", [])]
    return new


# -- resource providers ------------------------------------------------------------------------------
PROVIDER_POST = _object({"name": {"type": "string", "maxLength": 200}, "uuid": UUID}, ["name"])
PARENT = {"anyOf": [UUID, {"type": "null"}]}
PROVIDER_POST_1_14 = _with(PROVIDER_POST, parent_provider_uuid=PARENT)
PROVIDER_PUT = _with(PROVIDER_POST, drop=("uuid",))
PROVIDER_PUT_1_14 = _with(PROVIDER_POST_1_14, drop=("uuid",))

PROVIDERS_QUERY = _object({"name": {"type": "string"}, "uuid": UUID})
PROVIDERS_QUERY_1_3 = _with(PROVIDERS_QUERY, member_of={"type": "string"})
PROVIDERS_QUERY_1_4 = _with(PROVIDERS_QUERY_1_3, resources={"type": "string"})
PROVIDERS_QUERY_1_14 = _with(PROVIDERS_QUERY_1_4, in_tree=UUID)
PROVIDERS_QUERY_1_18 = _with(PROVIDERS_QUERY_1_14, required={"type": "string"})

# -- inventories -------------------------------------------------------------------------------------
_COUNT = {"type": "integer", "maximum": MAX_INT, "minimum": 1}
INVENTORY = _object({
    "resource_provider_generation": {"type": "integer"},
    "total": _COUNT,
    "reserved": {"type": "integer", "maximum": MAX_INT, "minimum": 0},
    "min_unit": _COUNT, "max_unit": _COUNT, "step_size": _COUNT,
    "allocation_ratio": {"type": "number", "maximum": FLOAT_MAX},
}, ["total", "resource_provider_generation"])
INVENTORY_POST = _with(INVENTORY, drop=("resource_provider_generation",), must=["resource_class"],
                       resource_class={"type": "string", "pattern": RC_PATTERN})
INVENTORIES_PUT = _object({
    "resource_provider_generation": {"type": "integer"},
    "inventories": {"type": "object",
                    "patternProperties": {RC_PATTERN: _with(INVENTORY, drop=("resource_provider_generation",))},
                    "additionalProperties": False},
}, ["resource_provider_generation", "inventories"])

# -- aggregates and traits ---------------------------------------------------------------------------
AGGREGATE_LIST = {"type": "array", "items": UUID, "uniqueItems": True}
AGGREGATES_PUT_1_19 = _object({"aggregates": AGGREGATE_LIST, "resource_provider_generation": {"type": "integer"}},
                              ["aggregates", "resource_provider_generation"])
TRAIT = {"type": "string", "minLength": 1, "maxLength": 255}
CUSTOM_TRAIT = {**TRAIT, "pattern": CUSTOM_PATTERN}
PROVIDER_TRAITS_PUT = _object({"traits": {"type": "array", "items": TRAIT},
                               "resource_provider_generation": {"type": "integer"}},
                              ["traits", "resource_provider_generation"])
TRAITS_QUERY = _object({"name": {"type": "string"}, "associated": {"type": "string"}})

# -- resource classes --------------------------------------------------------------------------------
RESOURCE_CLASS = _object({"name": {"type": "string", "pattern": CUSTOM_PATTERN, "maxLength": 255}}, ["name"])

# -- allocations -------------------------------------------------------------------------------------
_AMOUNTS = {"type": "object", "minProperties": 1,
            "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1}}, "additionalProperties": False}
_EXTERNAL_ID = {"type": "string", "minLength": 1, "maxLength": 255}
ALLOCATIONS_PUT_1_0 = _object({"allocations": {
    "type": "array", "minItems": 1,
    "items": _object({"resource_provider": _object({"uuid": UUID}, ["uuid"]), "resources": _AMOUNTS},
                     ["resource_provider", "resources"])}}, ["allocations"])
ALLOCATIONS_PUT_1_8 = _with(ALLOCATIONS_PUT_1_0, must=["project_id", "user_id"], project_id=_EXTERNAL_ID,
                            user_id=_EXTERNAL_ID)
ALLOCATIONS_PUT_1_12 = _object({
    "allocations": {"type": "object", "minProperties": 1,
                    "patternProperties": {UUID_KEY: _object({"generation": {"type": "integer"},
                                                             "resources": _AMOUNTS}, ["resources"])},
                    "additionalProperties": False},
    "project_id": _EXTERNAL_ID, "user_id": _EXTERNAL_ID,
}, ["allocations", "project_id", "user_id"])
_DELETABLE = copy.deepcopy(ALLOCATIONS_PUT_1_12)
_DELETABLE["properties"]["allocations"]["minProperties"] = 0
_GENERATION = {"type": ["integer", "null"]}
ALLOCATIONS_PUT_1_28 = _with(_DELETABLE, must=["consumer_generation"], consumer_generation=_GENERATION)
MAPPINGS = {"type": "object", "minProperties": 1,
            "patternProperties": {SUFFIX: {"type": "array", "minItems": 1, "items": UUID}}}
ALLOCATIONS_PUT_1_34 = _with(ALLOCATIONS_PUT_1_28, mappings=MAPPINGS)
CONSUMER_TYPE = {"type": "string", "pattern": RC_PATTERN, "minLength": 1, "maxLength": 255}
ALLOCATIONS_PUT_1_38 = _with(ALLOCATIONS_PUT_1_34, must=["consumer_type"], consumer_type=CONSUMER_TYPE)


def _by_consumer(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "minProperties": 1, "additionalProperties": False,
            "patternProperties": {UUID_KEY: schema}}


ALLOCATIONS_POST_1_13 = _by_consumer(_DELETABLE)
ALLOCATIONS_POST_1_28 = _by_consumer(ALLOCATIONS_PUT_1_28)
ALLOCATIONS_POST_1_34 = _by_consumer(ALLOCATIONS_PUT_1_34)
ALLOCATIONS_POST_1_38 = _by_consumer(ALLOCATIONS_PUT_1_38)


def allocations_put(version: Any) -> dict[str, Any]:
    for minimum, schema in (("1.38", ALLOCATIONS_PUT_1_38), ("1.34", ALLOCATIONS_PUT_1_34),
                            ("1.28", ALLOCATIONS_PUT_1_28), ("1.12", ALLOCATIONS_PUT_1_12),
                            ("1.8", ALLOCATIONS_PUT_1_8)):
        if version.matches(minimum):
            return schema
    return ALLOCATIONS_PUT_1_0


def allocations_post(version: Any) -> dict[str, Any]:
    for minimum, schema in (("1.38", ALLOCATIONS_POST_1_38), ("1.34", ALLOCATIONS_POST_1_34),
                            ("1.28", ALLOCATIONS_POST_1_28)):
        if version.matches(minimum):
            return schema
    return ALLOCATIONS_POST_1_13


# -- usages --------------------------------------------------------------------------------------
USAGES_QUERY = _object({"project_id": _EXTERNAL_ID, "user_id": _EXTERNAL_ID}, ["project_id"])
USAGES_QUERY_1_38 = _with(USAGES_QUERY, consumer_type={"type": "string", "pattern": f"{RC_PATTERN}|^all|^unknown$",
                                                        "minLength": 1, "maxLength": 255})

# -- reshaper (1.30) -----------------------------------------------------------------------------
_RESHAPE_INVENTORIES = {"type": "object", "patternProperties": {UUID_KEY: _object({
    "resource_provider_generation": {"type": "integer"},
    "inventories": INVENTORIES_PUT["properties"]["inventories"]}, ["resource_provider_generation", "inventories"])},
    "additionalProperties": False}
RESHAPE = _object({"inventories": _RESHAPE_INVENTORIES, "allocations": ALLOCATIONS_POST_1_28},
                  ["inventories", "allocations"])
RESHAPE_1_34 = _with(RESHAPE, allocations=ALLOCATIONS_POST_1_34)
RESHAPE_1_38 = _with(RESHAPE, allocations=ALLOCATIONS_POST_1_38)


# -- allocation candidates -----------------------------------------------------------------------
def candidates_query(version: Any) -> dict[str, Any]:
    """Which query parameters GET /allocation_candidates takes at this microversion."""
    properties: dict[str, Any] = {"resources": {"type": "string"}}
    patterns: dict[str, Any] = {}
    required = ["resources"]
    if version.matches("1.16"):
        properties["limit"] = {"type": "string", "pattern": "^[1-9][0-9]*$"}
    if version.matches("1.17"):
        properties["required"] = {"type": "string"}
    if version.matches("1.21"):
        properties["member_of"] = {"type": "string"}
    if version.matches("1.25"):
        required = []
        suffix = SUFFIX if version.matches("1.33") else NUMBER_SUFFIX
        keys = ["resources", "required", "member_of"] + (["in_tree"] if version.matches("1.31") else [])
        properties = {k: v for k, v in properties.items() if k == "limit"}
        properties["group_policy"] = {"type": "string", "enum": ["none", "isolate"]}
        patterns = {f"^{key}({suffix})?$": {"type": "string"} for key in keys}
    if version.matches("1.35"):
        properties["root_required"] = {"type": "string"}
    if version.matches("1.36"):
        properties["same_subtree"] = {"type": "string"}
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    if patterns:
        schema["patternProperties"] = patterns
    return schema
