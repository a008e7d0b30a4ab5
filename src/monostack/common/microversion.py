"""API microversions (Nova, Cinder, Placement, Manila style).

A service declares its minimum and maximum; a request asks with
`OpenStack-API-Version: <service> <X.Y>` (or the service's legacy header,
e.g. X-OpenStack-Nova-API-Version), `latest` meaning the maximum; no header
means the minimum.  An unsupported version is 406.  The response names the
version used, and `Vary` tells caches the header matters.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from monostack.common import errors

_VERSION_RE = re.compile(r"^([1-9]\d*)\.(0|[1-9]\d*)$")


@functools.total_ordering
@dataclasses.dataclass(frozen=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> "Version":
        match = _VERSION_RE.match(text.strip())
        if not match:
            raise errors.BadRequest(f"Invalid microversion: {text!r}. It must be in the form X.Y.")
        return cls(int(match.group(1)), int(match.group(2)))

    def __lt__(self, other: "Version") -> bool:
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def matches(self, minimum: str | None = None, maximum: str | None = None) -> bool:
        if minimum is not None and self < Version.parse(minimum):
            return False
        if maximum is not None and Version.parse(maximum) < self:
            return False
        return True


@dataclasses.dataclass(frozen=True)
class Microversions:
    service: str  # the name in OpenStack-API-Version, e.g. "compute"
    minimum: Version
    maximum: Version
    legacy_header: str | None = None  # e.g. "x-openstack-nova-api-version"

    def negotiate(self, headers: dict[str, str] | object) -> Version:
        """The version a request asked for (headers: a case-insensitive mapping)."""
        get = headers.get  # type: ignore[attr-defined]
        requested = None
        value = get("openstack-api-version")
        if value:
            for part in value.split(","):
                name, _, version = part.strip().partition(" ")
                if name.lower() == self.service:
                    requested = version.strip()
                    break
        if requested is None and self.legacy_header:
            requested = get(self.legacy_header)
        if not requested:
            return self.minimum
        if requested.strip().lower() == "latest":
            return self.maximum
        version = Version.parse(requested)
        if version < self.minimum or self.maximum < version:
            raise errors.NotAcceptable(f"Version {version} is not supported by the API. Minimum is {self.minimum} "
                                       f"and maximum is {self.maximum}.")
        return version

    def response_headers(self, version: Version) -> dict[str, str]:
        headers = {"OpenStack-API-Version": f"{self.service} {version}",
                   "Vary": "OpenStack-API-Version"}
        if self.legacy_header:
            headers[self.legacy_header] = str(version)
            headers["Vary"] += f", {self.legacy_header}"
        return headers
