"""Host weighers, Nova's defaults: each scores hosts, scores are normalised to
0..1 across the candidates and summed with their multipliers; the highest
total goes first (spreading: most free RAM, CPU and disk first)."""

from __future__ import annotations

from typing import Callable

from monostack.compute.scheduler.host_state import HostState, RequestSpec

Weigher = Callable[[HostState, RequestSpec], float]


def ram(host: HostState, spec: RequestSpec) -> float:
    return host.free("MEMORY_MB")


def cpu(host: HostState, spec: RequestSpec) -> float:
    return host.free("VCPU")


def disk(host: HostState, spec: RequestSpec) -> float:
    return host.free("DISK_GB")


def soft_affinity(host: HostState, spec: RequestSpec) -> float:
    if not spec.group or spec.group["policy"] != "soft-affinity":
        return 0.0
    return spec.group_hosts.get(host.host, 0)


def soft_anti_affinity(host: HostState, spec: RequestSpec) -> float:
    if not spec.group or spec.group["policy"] != "soft-anti-affinity":
        return 0.0
    return -spec.group_hosts.get(host.host, 0)


WEIGHERS: list[tuple[Weigher, float]] = [(ram, 1.0), (cpu, 1.0), (disk, 1.0),
                                         (soft_affinity, 1.0), (soft_anti_affinity, 1.0)]


def order(hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
    totals = {id(h): 0.0 for h in hosts}
    for weigher, multiplier in WEIGHERS:
        scores = [weigher(h, spec) for h in hosts]
        low, high = min(scores, default=0.0), max(scores, default=0.0)
        span = high - low
        for host, score in zip(hosts, scores):
            totals[id(host)] += multiplier * ((score - low) / span if span else 0.0)
    return sorted(hosts, key=lambda h: totals[id(h)], reverse=True)
