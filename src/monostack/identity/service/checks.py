"""Request-body checks shared by the extras managers.

Keystone validates these bodies with JSON schemas; a body that fails is a 400
ValidationError.  These helpers give the same answers (and never let a wrong
type reach the database, where it would be a 500).
"""

from __future__ import annotations

from typing import Any, Iterable

from monostack.common import errors

MAX_INT = 0x7FFFFFFF  # the largest signed 32-bit integer, Keystone's limit bound


def invalid(field: str, why: str) -> errors.ValidationError:
    return errors.ValidationError(f"Invalid input for field '{field}': {why}")


def string(ref: dict[str, Any], field: str, *, required: bool = False, nullable: bool = False,
           min_length: int = 0, max_length: int | None = None) -> str | None:
    """The string `ref[field]` (None when absent and optional)."""
    if field not in ref:
        if required:
            raise invalid(field, f"'{field}' is a required property")
        return None
    value = ref[field]
    if value is None:
        if nullable:
            return None
        raise invalid(field, "None is not of type 'string'")
    if not isinstance(value, str):
        raise invalid(field, f"{value!r} is not of type 'string'")
    if len(value) < min_length:
        raise invalid(field, f"{value!r} is too short")
    if max_length is not None and len(value) > max_length:
        raise invalid(field, f"{value!r} is too long")
    return value


def integer(ref: dict[str, Any], field: str, *, required: bool = False, minimum: int = -1,
            maximum: int = MAX_INT) -> int | None:
    """A JSON integer (booleans are not integers in JSON schema)."""
    if field not in ref:
        if required:
            raise invalid(field, f"'{field}' is a required property")
        return None
    value = ref[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, f"{value!r} is not of type 'integer'")
    if value < minimum or value > maximum:
        raise invalid(field, f"{value} is not between {minimum} and {maximum}")
    return value


def boolean(ref: dict[str, Any], field: str) -> bool | None:
    if field not in ref:
        return None
    value = ref[field]
    if not isinstance(value, bool):
        raise invalid(field, f"{value!r} is not of type 'boolean'")
    return value


def only(ref: dict[str, Any], allowed: Iterable[str], entity: str) -> None:
    """Keystone's additionalProperties: false."""
    extra = sorted(set(ref) - set(allowed))
    if extra:
        raise errors.ValidationError(f"Invalid input for {entity}: additional properties are not allowed "
                                     f"({', '.join(repr(k) for k in extra)} was unexpected).")


def not_empty(ref: dict[str, Any], entity: str) -> None:
    """Keystone's minProperties: 1 on update bodies."""
    if not ref:
        raise errors.ValidationError(f"Invalid input for {entity}: {{}} does not have enough properties.")


def matching_id(ref: dict[str, Any], entity_id: str) -> None:
    """An update body may repeat the entity's id, never change it."""
    if "id" in ref and ref["id"] != entity_id:
        raise errors.ValidationError("Cannot change the ID of an entity: the ID in the body does not match the URL.")
