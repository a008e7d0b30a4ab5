"""JSON Schema validation of request bodies and queries, with each schema's
validator built once (building one costs milliseconds: more than the request).

`error(schema, instance)` is what `jsonschema.validate` would raise (the best
matching error), or None.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import jsonschema

DEFAULT_FORMATS = jsonschema.FormatChecker()
# Keyed by the ids of the schema and the checker; an entry keeps both alive, so
# an id is not reused while its entry exists.  Bounded: a schema built per
# request (one that depends on the microversion, say) only passes through.
_VALIDATORS: collections.OrderedDict[tuple[int, int], tuple[Any, Any, Any]] = collections.OrderedDict()
_MAX = 512
_LOCK = threading.Lock()


def validator(schema: dict[str, Any], format_checker: jsonschema.FormatChecker | None = None) -> Any:
    checker = format_checker or DEFAULT_FORMATS
    key = (id(schema), id(checker))
    with _LOCK:
        cached = _VALIDATORS.get(key)
        if cached is not None:
            _VALIDATORS.move_to_end(key)
            return cached[2]
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
    cached = (schema, checker, cls(schema, format_checker=checker))
    with _LOCK:
        _VALIDATORS[key] = cached
        if len(_VALIDATORS) > _MAX:
            _VALIDATORS.popitem(last=False)
    return cached[2]


def error(schema: dict[str, Any], instance: Any,
          format_checker: jsonschema.FormatChecker | None = None) -> jsonschema.ValidationError | None:
    return jsonschema.exceptions.best_match(validator(schema, format_checker).iter_errors(instance))
