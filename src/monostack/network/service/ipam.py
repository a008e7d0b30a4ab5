"""IP address management: allocation pools and the addresses handed out from them.

An address is a row of `ip_allocations`, unique per (network, address): the
database, not this code, is what makes two concurrent requests unable to
take the same address.  `allocate_any` picks the lowest free address of the
subnet's pools (on a retry after losing a race, a random one of the lowest
few, so that racing requests spread instead of colliding again); the caller's
transaction is restarted by `ServiceBase.write` when the insert conflicts.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.network import exceptions as nexc
from monostack.network import models

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def network(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr, strict=False)


def default_pools(cidr: str, gateway_ip: str | None) -> list[dict[str, str]]:
    """Neutron's pools for a subnet given none: every host address but the gateway
    (IPv4 leaves out the network and broadcast addresses, IPv6 the subnet-router anycast one)."""
    net = network(cidr)
    first, last = int(net.network_address), int(net.broadcast_address)
    if first == last:
        ranges = [(first, last)]
    else:
        start, end = first + 1, last - (1 if net.version == 4 else 0)
        if start > end:
            return []
        ranges = [(start, end)]
    if gateway_ip:
        gw = int(ipaddress.ip_address(gateway_ip))
        split = []
        for start, end in ranges:
            if start <= gw <= end:
                if start < gw:
                    split.append((start, gw - 1))
                if gw < end:
                    split.append((gw + 1, end))
            else:
                split.append((start, end))
        ranges = split
    cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    return [{"start": str(cls(start)), "end": str(cls(end))} for start, end in ranges]


def pool_ranges(pools: Iterable[dict[str, str]]) -> list[tuple[int, int]]:
    return sorted((int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"]))) for p in pools)


def pool_size(pools: Iterable[dict[str, str]]) -> int:
    return sum(end - start + 1 for start, end in pool_ranges(pools))


def validate_pools(cidr: str, pools: list[dict[str, str]], gateway_ip: str | None) -> None:
    """400/409 for pools outside the subnet, reversed, overlapping, or holding the gateway."""
    net = network(cidr)
    ranges = []
    for pool in pools:
        try:
            start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        except (KeyError, ValueError, TypeError):
            raise nexc.InvalidAllocationPool(f"The allocation pool {pool} is not valid.") from None
        if start.version != net.version or end.version != net.version:
            raise nexc.InvalidAllocationPool(f"The allocation pool {start}-{end} is not valid.")
        if start > end:
            raise nexc.InvalidAllocationPool(f"The allocation pool {start}-{end} is not valid.")
        if start not in net or end not in net or (net.version == 4 and net.prefixlen < 31 and (
                start == net.network_address or end == net.broadcast_address)):
            raise nexc.OutOfBoundsAllocationPool(
                f"The allocation pool {start}-{end} spans beyond the subnet cidr {cidr}.")
        ranges.append((int(start), int(end), f"{start}-{end}"))
    ranges.sort()
    for (s1, e1, n1), (s2, e2, n2) in zip(ranges, ranges[1:]):
        if s2 <= e1:
            raise nexc.OverlappingAllocationPools(
                f"Found overlapping allocation pools: {n1} and {n2} for subnet {cidr}.")
    if gateway_ip:
        gw = int(ipaddress.ip_address(gateway_ip))
        for start, end, name in ranges:
            if start <= gw <= end:
                raise nexc.GatewayConflictWithAllocationPools(
                    f"Gateway ip {gateway_ip} conflicts with allocation pool {name}.")


def used_addresses(session: orm.Session, subnet_id: str) -> set[int]:
    rows = session.scalars(sa.select(models.IPAllocation.ip_address).where(
        models.IPAllocation.subnet_id == subnet_id))
    return {int(ipaddress.ip_address(ip)) for ip in rows}


def free_candidates(ranges: list[tuple[int, int]], used: set[int], wanted: int) -> list[int]:
    found: list[int] = []
    for start, end in ranges:
        value = start
        while value <= end and len(found) < wanted:
            if value not in used:
                found.append(value)
            value += 1
        if len(found) >= wanted:
            break
    return found


def pick_address(session: orm.Session, subnet: models.Subnet, *, spread: bool) -> str | None:
    """A free address of the subnet's pools, or None when they are exhausted."""
    used = used_addresses(session, subnet.id)
    candidates = free_candidates(pool_ranges(subnet.allocation_pools), used, 16 if spread else 1)
    if not candidates:
        return None
    value = random.choice(candidates) if spread else candidates[0]
    cls = ipaddress.IPv4Address if subnet.ip_version == 4 else ipaddress.IPv6Address
    return str(cls(value))


def eui64(cidr: str, mac: str) -> str:
    """The SLAAC address of a MAC in an IPv6 /64 (modified EUI-64)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    iid = octets[:3] + [0xFF, 0xFE] + octets[3:]
    value = int(network(cidr).network_address) | int.from_bytes(bytes(iid), "big")
    return str(ipaddress.IPv6Address(value))


def is_auto_address(subnet: models.Subnet | dict[str, Any]) -> bool:
    mode = subnet["ipv6_address_mode"] if isinstance(subnet, dict) else subnet.ipv6_address_mode
    return mode in ("slaac", "dhcpv6-stateless")


def in_subnet(ip: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in network(cidr)
    except ValueError:
        return False


def in_pools(ip: str, pools: list[dict[str, str]]) -> bool:
    value = int(ipaddress.ip_address(ip))
    return any(start <= value <= end for start, end in pool_ranges(pools))
