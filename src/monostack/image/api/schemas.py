"""The JSON schemas Glance publishes at /v2/schemas/*, and the request-body parsing of the
image API: Glance's bodies are open (any additional property is an image property), so they
are parsed here by hand rather than by pydantic models; the JSON-patch documents are checked
here too."""

from __future__ import annotations

import json
from typing import Any

from monostack.common import errors
from monostack.image.service import CONTAINER_FORMATS, DISK_FORMATS, MEMBER_STATUSES, VISIBILITIES
from monostack.image.states import STATUSES

UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")
PATCH_MEDIA_TYPES = ("application/openstack-images-v2.1-json-patch", "application/openstack-images-v2.0-json-patch")


def _nullable(kind: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": ["null", kind], "description": description, **extra}


def _readonly(kind: Any, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "readOnly": True, "description": description, **extra}


def image_properties() -> dict[str, Any]:
    return {
        "id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "name": _nullable("string", "Descriptive name for the image", maxLength=255),
        "status": _readonly("string", "Status of the image", enum=[s for s in STATUSES]),
        "visibility": {"type": "string", "description": "Scope of image accessibility", "enum": list(VISIBILITIES)},
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list."},
        "checksum": _readonly(["null", "string"], "md5 hash of image contents.", maxLength=32),
        "os_hash_algo": _readonly(["null", "string"], "Algorithm to calculate the os_hash_value", maxLength=64),
        "os_hash_value": _readonly(["null", "string"], "Hexdigest of the image contents using os_hash_algo",
                                   maxLength=128),
        "owner": _nullable("string", "Owner of the image", maxLength=255),
        "size": _readonly(["null", "integer"], "Size of image file in bytes"),
        "virtual_size": _readonly(["null", "integer"], "Virtual size of image in bytes"),
        "container_format": _nullable("string", "Format of the container", enum=[None, *CONTAINER_FORMATS]),
        "disk_format": _nullable("string", "Format of the disk", enum=[None, *DISK_FORMATS]),
        "created_at": _readonly("string", "Date and time of image registration"),
        "updated_at": _readonly("string", "Date and time of the last image modification"),
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": _readonly("string", "URL to access the image file kept in external store"),
        "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
        "self": _readonly("string", "An image self url"),
        "file": _readonly("string", "An image file url"),
        "stores": _readonly("string", "Store in which image data resides."),
        "schema": _readonly("string", "An image schema url"),
        "locations": {"type": "array", "description": "A set of URLs to access the image file kept in external store",
                      "items": {"type": "object", "required": ["url", "metadata"],
                                "properties": {"url": {"type": "string", "maxLength": 255},
                                               "metadata": {"type": "object"}}}},
    }


IMAGE_LINKS = [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
               {"rel": "describedby", "href": "{schema}"}]


def image_schema() -> dict[str, Any]:
    return {"name": "image", "properties": image_properties(), "additionalProperties": {"type": "string"},
            "links": IMAGE_LINKS}


def images_schema() -> dict[str, Any]:
    return {"name": "images",
            "properties": {"images": {"type": "array", "items": image_schema()},
                           "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def member_schema() -> dict[str, Any]:
    return {"name": "member", "properties": {
        "created_at": {"type": "string", "description": "Date and time of image member creation"},
        "image_id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
        "status": {"type": "string", "description": "The status of this image member", "enum": list(MEMBER_STATUSES)},
        "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
        "schema": {"readOnly": True, "type": "string"}}}


def members_schema() -> dict[str, Any]:
    return {"name": "members", "properties": {"members": {"type": "array", "items": member_schema()},
                                              "schema": {"type": "string"}},
            "links": [{"rel": "describedby", "href": "{schema}"}]}


def _metadef(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"name": name, "properties": properties, "required": required, "additionalProperties": False}


def _metadef_list(name: str, key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "properties": {key: {"type": "array", "items": item}, "schema": {"type": "string"},
                                         "first": {"type": "string"}, "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}


_STAMPS = {"created_at": {"type": "string", "readOnly": True, "format": "date-time"},
           "updated_at": {"type": "string", "readOnly": True, "format": "date-time"}}
_STR = {"type": "string"}


def _namespace() -> dict[str, Any]:
    return _metadef("namespace", {
        "namespace": {"type": "string", "maxLength": 80}, "display_name": {"type": "string", "maxLength": 80},
        "description": {"type": "string", "maxLength": 500}, "visibility": {"type": "string",
                                                                         "enum": ["public", "private"]},
        "protected": {"type": "boolean"}, "owner": {"type": "string", "maxLength": 255},
        "resource_type_associations": {"type": "array", "items": {"type": "object"}},
        "properties": {"type": "object"}, "objects": {"type": "array", "items": {"type": "object"}},
        "tags": {"type": "array", "items": {"type": "object"}}, "self": _STR, "schema": _STR, **_STAMPS},
        ["namespace"])


def _object() -> dict[str, Any]:
    return _metadef("object", {"name": {"type": "string", "maxLength": 80}, "description": _STR,
                               "required": {"type": "array", "items": _STR}, "properties": {"type": "object"},
                               "self": _STR, "schema": _STR, **_STAMPS}, ["name"])


def _property() -> dict[str, Any]:
    return _metadef("property", {"name": {"type": "string", "maxLength": 255}, "title": _STR, "description": _STR,
                                 "type": {"type": "string", "enum": ["array", "boolean", "integer", "number",
                                                                     "object", "string", None]},
                                 "enum": {"type": "array"}, "default": {}, "readonly": {"type": "boolean"},
                                 "operators": {"type": "array", "items": _STR}}, ["name", "title", "type"])


def _tag() -> dict[str, Any]:
    return _metadef("tag", {"name": {"type": "string", "maxLength": 255}, **_STAMPS}, ["name"])


def _resource_type() -> dict[str, Any]:
    return _metadef("resource_type_association", {"name": {"type": "string", "maxLength": 80},
                                                  "prefix": {"type": "string", "maxLength": 80},
                                                  "properties_target": {"type": "string", "maxLength": 80},
                                                  **_STAMPS}, ["name"])


SCHEMAS = {"image": image_schema, "images": images_schema, "member": member_schema, "members": members_schema,
           "metadefs/namespace": _namespace,
           "metadefs/namespaces": lambda: _metadef_list("namespaces", "namespaces", _namespace()),
           "metadefs/object": _object, "metadefs/objects": lambda: _metadef_list("objects", "objects", _object()),
           "metadefs/property": _property,
           "metadefs/properties": lambda: {"name": "properties", "properties": {
               "properties": {"type": "object", "additionalProperties": _property()}}},
           "metadefs/tag": _tag, "metadefs/tags": lambda: _metadef_list("tags", "tags", _tag()),
           "metadefs/resource_type": _resource_type,
           "metadefs/resource_types": lambda: _metadef_list("resource_type_associations",
                                                            "resource_type_associations", _resource_type())}


# -- request bodies ----------------------------------------------------------------------------
def parse_json(raw: bytes) -> Any:
    if not raw:
        raise errors.BadRequest("Body expected in request.")
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.BadRequest("Malformed JSON in request body.") from None


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise errors.BadRequest(f"Json path should start with a '/', end with no '/', no 2 subsequent '/' are "
                                f"allowed: {path!r}")
    parts = path[1:].split("/")
    if any(part == "" for part in parts) and parts != ["locations", "-"]:
        raise errors.BadRequest(f"Invalid JSON pointer for this resource: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in parts]


def parse_patch(body: Any, media_type: str) -> list[dict[str, Any]]:
    """A JSON-patch document -> [{"op", "path": [parts], "value"}]."""
    if not isinstance(body, list):
        raise errors.BadRequest("Request body must be a JSON array of operation objects.")
    changes = []
    for raw in body:
        if not isinstance(raw, dict):
            raise errors.BadRequest("Operations must be JSON objects.")
        if media_type.endswith("v2.0-json-patch"):  # {"replace": "/name", "value": ...}
            ops = [op for op in ("add", "replace", "remove") if op in raw]
            if len(ops) != 1:
                raise errors.BadRequest("Operation objects must contain exactly one member named \"add\", "
                                        "\"remove\", or \"replace\".")
            op, path = ops[0], raw[ops[0]]
        else:
            op, path = raw.get("op"), raw.get("path")
            if op not in ("add", "replace", "remove"):
                raise errors.BadRequest(f"Invalid operation: `{op}`: it must be one of add, remove, replace.")
        if op != "remove" and "value" not in raw:
            raise errors.BadRequest(f"Operation \"{op}\" requires a member named \"value\".")
        changes.append({"op": op, "path": _pointer(path), "value": raw.get("value")})
    return changes
