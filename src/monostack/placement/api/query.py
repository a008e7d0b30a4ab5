"""Parsing of Placement's filter syntax in query strings: `resources=VCPU:2,MEMORY_MB:512`,
`required=T1,!T2` and `required=in:T1,T2` (1.39), `member_of=AGG`, `in:A,B`, `!AGG`, `!in:A,B`."""

from __future__ import annotations

from fastapi import Request

from monostack.common import errors
from monostack.placement.api.common import at_least
from monostack.placement.service.common import is_uuid_like


def resources(value: str) -> dict[str, int]:
    if value.strip() == "":
        raise errors.BadRequest("Badly formed resources parameter. Expected resources query string parameter in "
                                "form: ?resources=VCPU:2,MEMORY_MB:1024. Got: empty string.")
    result: dict[str, int] = {}
    for item in value.split(","):
        try:
            name, amount_text = item.split(":")
        except ValueError:
            raise errors.BadRequest(f"Badly formed resources parameter. Expected resources query string parameter "
                                    f"in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {item}.") from None
        try:
            amount = int(amount_text)
        except ValueError:
            raise errors.BadRequest(f"Requested resource {name} expected positive integer amount. Got: "
                                    f"{amount_text}.") from None
        if amount < 1:
            raise errors.BadRequest(f"Requested resource {name} requires amount >= 1. Got: {amount}.")
        result[name] = amount
    return result


def _one_traits_value(value: str, allow_forbidden: bool, allow_any: bool) -> tuple[list[set[str]], set[str]]:
    if value.startswith("in:"):
        if not allow_any:
            raise errors.BadRequest(f"Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' "
                                    f"only supported since microversion 1.39. Got: {value}")
        any_of = {part.strip() for part in value[3:].split(",")}
        if not all(any_of):
            raise errors.BadRequest(f"Invalid query string parameters: Expected 'required' parameter value of the "
                                    f"form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: {value}")
        if any(trait.startswith("!") for trait in any_of):
            raise errors.BadRequest(f"Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' "
                                    f"does not support forbidden traits. Got: {value}")
        return [any_of], set()
    parts = [part.strip() for part in value.split(",")]
    forbidden = {part.lstrip("!") for part in parts if part.startswith("!")}
    if not all(parts) or not all(forbidden):
        form = "HW_CPU_X86_VMX,!CUSTOM_MAGIC" if allow_forbidden else "HW_CPU_X86_VMX,CUSTOM_MAGIC"
        raise errors.BadRequest(f"Invalid query string parameters: Expected 'required' parameter value of the "
                                f"form: {form}. Got an empty trait in: {value}")
    if forbidden and not allow_forbidden:
        raise errors.BadRequest(f"Invalid query string parameters: Expected 'required' parameter value of the form: "
                                f"HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}")
    return [{part} for part in parts if not part.startswith("!")], forbidden


def traits(request: Request, key: str = "required") -> tuple[list[set[str]], set[str]]:
    """(required: a list of any-of sets, forbidden).  Before 1.39 only the last `required`
    counts and `in:` is refused; before 1.22 `!` is refused."""
    values = request.query_params.getlist(key)
    if not at_least(request, "1.39"):
        values = values[-1:]
    required: list[set[str]] = []
    forbidden: set[str] = set()
    for value in values:
        more_required, more_forbidden = _one_traits_value(value, at_least(request, "1.22"), at_least(request, "1.39"))
        required += more_required
        forbidden |= more_forbidden
    return required, forbidden


def root_traits(value: str) -> tuple[set[str], set[str]]:
    required, forbidden = _one_traits_value(value, True, False)
    flat = {trait for any_of in required for trait in any_of}
    conflicts = flat & forbidden
    if conflicts:
        raise errors.BadRequest(f"Conflicting required and forbidden traits found in root_required: "
                                f"{', '.join(sorted(conflicts))}", code="placement.query.bad_value")
    return flat, forbidden


def _one_member_of(value: str) -> tuple[set[str], set[str]]:
    if "," in value and not (value.startswith("in:") or value.startswith("!in:")):
        raise errors.BadRequest(f"Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword "
                                f"using the valid microversion. Got: {value}")
    required: set[str] = set()
    forbidden: set[str] = set()
    if value.startswith("!in:"):
        forbidden = set(value[4:].split(","))
    elif value.startswith("!"):
        forbidden = {value[1:]}
    elif value.startswith("in:"):
        required = set(value[3:].split(","))
    else:
        required = {value}
    for agg in required | forbidden:
        if not is_uuid_like(agg):
            raise errors.BadRequest(f"Invalid query string parameters: Expected 'member_of' parameter to contain "
                                    f"valid UUID(s). Got: {agg}")
    return required, forbidden


def member_of(request: Request, key: str = "member_of") -> tuple[list[set[str]], set[str]]:
    """(required: a list of any-of sets, forbidden).  Several `member_of` from 1.24, `!` from 1.32."""
    values = request.query_params.getlist(key)
    suffix = key[len("member_of"):]
    if not at_least(request, "1.24") and len(values) > 1:
        raise errors.BadRequest(f"Multiple member_of{suffix} parameters are not supported")
    required: list[set[str]] = []
    forbidden: set[str] = set()
    for value in values:
        more_required, more_forbidden = _one_member_of(value)
        if more_required:
            required.append(more_required)
        if more_forbidden:
            if not at_least(request, "1.32"):
                raise errors.BadRequest(f"Forbidden member_of{suffix} parameters are not supported in the specified "
                                        f"microversion")
            forbidden |= more_forbidden
    return required, forbidden


def in_tree(value: str) -> str:
    value = value.strip()
    if not is_uuid_like(value):
        raise errors.BadRequest(f"Invalid query string parameters: Expected 'in_tree' parameter to be a format of "
                                f"uuid. Got: {value}")
    return value
