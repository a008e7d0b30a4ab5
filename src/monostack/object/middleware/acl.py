"""Container ACLs (X-Container-Read, X-Container-Write): cleaning and parsing, as Swift."""

from __future__ import annotations

from urllib.parse import urlparse


def clean_acl(name: str, value: str) -> str:
    """The ACL in its tidy form; ValueError (the message is the 400's body) when malformed."""
    name = name.lower()
    values = []
    for raw in value.split(","):
        raw = raw.strip()
        if not raw:
            continue
        if ":" not in raw:
            values.append(raw)
            continue
        first, second = (v.strip() for v in raw.split(":", 1))
        if not first or not first.startswith("."):
            values.append(raw)
        elif first in (".r", ".ref", ".referer", ".referrer"):
            if "write" in name:
                raise ValueError(f"Referrers not allowed in write ACL: {raw!r}")
            negate = False
            if second and second.startswith("-"):
                negate = True
                second = second[1:].strip()
            if second and second != "*" and second.startswith("*"):
                second = second[1:].strip()
            if not second or second == ".":
                raise ValueError(f"No host/domain value after referrer designation in ACL: {raw!r}")
            values.append(f".r:{'-' if negate else ''}{second}")
        else:
            raise ValueError(f"Unknown designator {first!r} in ACL: {raw!r}")
    return ",".join(values)


def parse_acl(acl: str | None) -> tuple[list[str], list[str]]:
    """(referrers, groups) of a cleaned ACL."""
    referrers: list[str] = []
    groups: list[str] = []
    if acl:
        for value in acl.split(","):
            if value.startswith(".r:"):
                referrers.append(value[len(".r:"):])
            else:
                groups.append(value)
    return referrers, groups


def referrer_allowed(referrer: str | None, referrer_acl: list[str]) -> bool:
    allow = False
    if referrer_acl:
        host = urlparse(referrer or "").hostname or "unknown"
        for match in referrer_acl:
            if match.startswith("-"):
                match = match[1:]
                if match == host or (match.startswith(".") and host.endswith(match)):
                    allow = False
            elif match == "*" or match == host or (match.startswith(".") and host.endswith(match)):
                allow = True
    return allow
