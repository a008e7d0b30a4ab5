"""The hostname a server gets from its display name (before 2.90 the only way)."""

from __future__ import annotations

import pytest

from monostack.compute.service.servers import canonical_ip, sanitize_hostname
from monostack.common import errors


@pytest.mark.parametrize("name, hostname", [
    ("guest-instance-1.domain.com", "guest-instance-1-domain-com"),  # an FQDN is not taken for a domain
    ("tempest-Íñstáñcé-1", "tempest-íñstáñcé-1"),  # Latin-1 letters stay, lowercased
    ("My Server_2", "my-server-2"),
    ("..edge..", "edge"),
    ("x" * 80, "x" * 63),
])
def test_sanitize_hostname(name: str, hostname: str) -> None:
    assert sanitize_hostname(name) == hostname


def test_a_name_with_nothing_left_gets_the_default() -> None:
    assert sanitize_hostname("☃☃", "Server-1234") == "Server-1234"


def test_access_ips_are_canonical() -> None:
    assert canonical_ip("0000:0000:0000:0000:0000:babe:220.12.22.2") == "::babe:dc0c:1602"
    assert canonical_ip("2001:0db8::0001") == "2001:db8::1"
    assert canonical_ip("10.0.0.1") == "10.0.0.1"
    assert canonical_ip("") == "" and canonical_ip(None) is None
    with pytest.raises(errors.BadRequest):
        canonical_ip("not-an-ip")
