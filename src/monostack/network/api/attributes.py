"""Resource attribute maps, as Neutron declares them: for each attribute, whether
POST and PUT may set it, how a value is checked and converted, and whether a
policy rule guards it (`<action>_<resource>:<attribute>`).

A converter takes the request's value and returns the clean one or raises
`Invalid(reason)`; the API answers 400 HTTPBadRequest
"Invalid input for <attribute>. Reason: <reason>.", Neutron's wording.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import uuid
from typing import Any, Callable

MISSING = object()
Converter = Callable[[Any], Any]


class Invalid(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Attr:
    convert: Converter | None = None
    post: bool = True
    put: bool = True
    required: bool = False
    policy: bool = False  # create_/update_<resource>:<name> rules guard setting it
    read_policy: bool = False  # get_<resource>:<name> guards reading it
    kind: str = "str"  # for filters and sorting: str, bool, int, list, dict
    sortable: bool = True


# -- converters ----------------------------------------------------------------------------------
def string(max_len: int | None = 255) -> Converter:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"'{value}' is not a valid string")
        if max_len is not None and len(value) > max_len:
            raise Invalid(f"'{value}' exceeds maximum length of {max_len}")
        return value
    return convert


def string_or_none(max_len: int | None = 255) -> Converter:
    inner = string(max_len)
    return lambda value: None if value is None else inner(value)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Invalid(f"'{value}' cannot be converted to boolean")


def integer(low: int | None = None, high: int | None = None, nullable: bool = False) -> Converter:
    def convert(value: Any) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool):
            raise Invalid(f"'{value}' is not an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise Invalid(f"'{value}' is not an integer") from None
        if isinstance(value, float) and value != number:
            raise Invalid(f"'{value}' is not an integer")
        if low is not None and number < low:
            raise Invalid(f"'{number}' is too small - must be at least '{low}'")
        if high is not None and number > high:
            raise Invalid(f"'{number}' is too large - must be no larger than '{high}'")
        return number
    return convert


def uuid_str(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid UUID")
    try:
        uuid.UUID(value)
    except ValueError:
        raise Invalid(f"'{value}' is not a valid UUID") from None
    return value


def uuid_or_none(value: Any) -> str | None:
    return None if value is None else uuid_str(value)


def ip_address(value: Any) -> str:
    try:
        if not isinstance(value, str) or "/" in value:
            raise ValueError
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP address") from None


def ip_or_none(value: Any) -> str | None:
    return None if value is None else ip_address(value)


def cidr(value: Any) -> str:
    """A network CIDR with no host bits set, as Neutron's validate_subnet."""
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP subnet") from None
    if "/" not in value:
        raise Invalid(f"'{value}' isn't a recognized IP subnet cidr, '{net}' is recommended")
    if str(net) != value and str(ipaddress.ip_network(value.lower(), strict=False)) != value.lower():
        raise Invalid(f"'{value}' isn't a recognized IP subnet cidr, '{net}' is recommended")
    if int(net.network_address) != int(ipaddress.ip_interface(value).ip):
        raise Invalid(f"'{value}' isn't a recognized IP subnet cidr, '{net}' is recommended")
    return str(net)


def cidr_or_none(value: Any) -> str | None:
    return None if value is None else cidr(value)


def ip_or_cidr(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid IP address or subnet")
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
            return value
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP address or subnet") from None


def any_cidr(value: Any) -> str:
    """A prefix that may have host bits set (remote_ip_prefix): accepted as given, checked for syntax."""
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid IP subnet")
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP subnet") from None
    return value


_MAC_RE = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")


def mac_address(value: Any) -> str:
    if not isinstance(value, str) or not _MAC_RE.match(value):
        raise Invalid(f"'{value}' is not a valid MAC address")
    mac = value.lower().replace("-", ":")
    first = int(mac[:2], 16)
    if mac == "00:00:00:00:00:00" or first & 1:
        raise Invalid(f"'{value}' is not a valid MAC address")
    return mac


def one_of(*choices: Any, nullable: bool = False) -> Converter:
    def convert(value: Any) -> Any:
        if value is None and nullable:
            return None
        if value not in choices:
            raise Invalid(f"'{value}' is not in {list(choices)}")
        return value
    return convert


def list_of(item: Converter, unique: bool = False) -> Converter:
    def convert(value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise Invalid(f"'{value}' is not a list")
        result = [item(v) for v in value]
        if unique and len({repr(v) for v in result}) != len(result):
            raise Invalid(f"Duplicate items in the list: '{', '.join(str(v) for v in value)}'")
        return result
    return convert


def dict_of(spec: dict[str, Converter], required: tuple[str, ...] = (), nullable: bool = False) -> Converter:
    def convert(value: Any) -> dict[str, Any] | None:
        if value is None and nullable:
            return None
        if not isinstance(value, dict):
            raise Invalid(f"'{value}' is not a dictionary")
        unknown = [k for k in value if k not in spec]
        if unknown:
            raise Invalid(f"Unexpected keys supplied: {', '.join(unknown)}")
        missing = [k for k in required if k not in value]
        if missing:
            raise Invalid(f"Validation of dictionary's keys failed. Expected keys: {set(required)} Provided keys: "
                          f"{set(value)}")
        return {k: spec[k](v) for k, v in value.items()}
    return convert


def any_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"'{value}' is not a dictionary")
    return value


def protocol(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise Invalid(f"'{value}' is not a valid protocol")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid protocol")
    return value


def fixed_ip(value: Any) -> dict[str, Any]:
    return dict_of({"subnet_id": uuid_str, "ip_address": ip_address})(value)  # type: ignore[return-value]


def route(value: Any) -> dict[str, Any]:
    return dict_of({"destination": cidr, "nexthop": ip_address}, required=("destination", "nexthop"))(value)  # type: ignore


def pool(value: Any) -> dict[str, Any]:
    return dict_of({"start": ip_address, "end": ip_address}, required=("start", "end"))(value)  # type: ignore


def address_pair(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and "ip_address" not in value:
        raise Invalid("Allowed address pair must contain ip_address")
    return dict_of({"ip_address": ip_or_cidr, "mac_address": mac_address})(value)  # type: ignore[return-value]


def gateway_info(value: Any) -> dict[str, Any] | None:
    if value is None or value == {}:
        return None
    return dict_of({"network_id": uuid_str, "enable_snat": boolean,
                    "external_fixed_ips": list_of(fixed_ip), "qos_policy_id": uuid_or_none})(value)


def project(value: Any) -> str:
    return string(255)(value)


# -- common attribute groups ---------------------------------------------------------------------
def standard(*, tags: bool = True) -> dict[str, Attr]:
    attrs = {
        "id": Attr(post=False, put=False),
        "project_id": Attr(string(255), put=False),
        "tenant_id": Attr(string(255), put=False),
        "description": Attr(string(255)),
        "created_at": Attr(post=False, put=False),
        "updated_at": Attr(post=False, put=False),
        "revision_number": Attr(post=False, put=False, kind="int"),
    }
    if tags:
        attrs["tags"] = Attr(post=False, put=False, kind="list", sortable=False)
    return attrs


def cidr_like_or_none(value: Any) -> str | None:
    return None if value is None else any_cidr(value)
