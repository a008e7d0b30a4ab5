"""Host filters, Nova's defaults: each answers whether a host may take the server.

Each filter is a function (host, spec) -> bool with a `name` for the
NoValidHost reason; FILTERS is the order they run in.
"""

from __future__ import annotations

from typing import Callable

from monostack.compute.scheduler.host_state import HostState, RequestSpec

Filter = Callable[[HostState, RequestSpec], bool]
_SCOPE = "aggregate_instance_extra_specs:"


def availability_zone(host: HostState, spec: RequestSpec) -> bool:
    return not spec.availability_zone or host.zone == spec.availability_zone


def compute_enabled_and_up(host: HostState, spec: RequestSpec) -> bool:
    return host.enabled and host.up


def requested_host(host: HostState, spec: RequestSpec) -> bool:
    """An admin's "zone:host" or host request pins the server; retries skip hosts that failed."""
    if host.host in spec.ignore_hosts:
        return False
    return not spec.requested_host or spec.requested_host in (host.host, host.node)


def image_properties(host: HostState, spec: RequestSpec) -> bool:
    """The image's hw_architecture and hypervisor_type (img_hv_type) must match the host (x86_64 QEMU)."""
    props = ((spec.image or {}).get("properties") or {}) if spec.image else {}
    arch = props.get("hw_architecture") or props.get("architecture")
    if arch and arch not in ("x86_64", "i686", "i386"):
        return False
    hv_type = props.get("img_hv_type") or props.get("hypervisor_type")
    if hv_type and hv_type.lower() not in (host.hypervisor_type.lower(), "kvm", "qemu"):
        return False
    return True


def aggregate_instance_extra_specs(host: HostState, spec: RequestSpec) -> bool:
    """Flavor extra specs (unscoped or aggregate_instance_extra_specs:) must match the host's aggregates."""
    wanted = {}
    for key, value in (spec.flavor.get("extra_specs") or {}).items():
        if key.startswith(_SCOPE):
            wanted[key[len(_SCOPE):]] = value
        elif ":" not in key:
            wanted[key] = value
    for key, value in wanted.items():
        values = {v.strip() for agg in host.aggregates for v in str(agg["metadata"].get(key, "")).split(",")
                  if key in agg["metadata"]}
        if not values or not _matches(value, values):
            return False
    return True


def _matches(requirement: str, values: set[str]) -> bool:
    """Nova's extra-spec operators: "<in> x", "<or> a <or> b", "s== x", ">= n", plain equality."""
    parts = requirement.split()
    if len(parts) >= 2 and parts[0] == "<in>":
        return any(requirement[5:].strip() in v for v in values)
    if parts and parts[0] == "<or>":
        options = {p for p in parts if p != "<or>"}
        return bool(options & values)
    if len(parts) == 2 and parts[0] in (">=", "<=", "=", "=="):
        try:
            number = float(parts[1])
            return any((float(v) >= number) if parts[0] == ">=" else (float(v) <= number) if parts[0] == "<="
                       else float(v) == number for v in values)
        except ValueError:
            return False
    if len(parts) == 2 and parts[0] in ("s==", "s!="):
        return (parts[1] in values) == (parts[0] == "s==")
    return requirement in values


def multi_tenancy_isolation(host: HostState, spec: RequestSpec) -> bool:
    """Hosts in an aggregate with filter_tenant_id take only those projects' servers."""
    allowed: set[str] = set()
    for agg in host.aggregates:
        for key, value in agg["metadata"].items():
            if key.startswith("filter_tenant_id"):
                allowed |= {v.strip() for v in value.split(",")}
    return not allowed or spec.project_id in allowed


def server_group_affinity(host: HostState, spec: RequestSpec) -> bool:
    if not spec.group or spec.group["policy"] != "affinity" or not spec.group_hosts:
        return True
    return host.host in spec.group_hosts


def server_group_anti_affinity(host: HostState, spec: RequestSpec) -> bool:
    if not spec.group or spec.group["policy"] != "anti-affinity":
        return True
    limit = int((spec.group.get("rules") or {}).get("max_server_per_host", 1))
    return spec.group_hosts.get(host.host, 0) < limit


FILTERS: list[tuple[str, Filter]] = [
    ("AvailabilityZoneFilter", availability_zone),
    ("ComputeFilter", compute_enabled_and_up),
    ("RequestedHostFilter", requested_host),
    ("ImagePropertiesFilter", image_properties),
    ("AggregateInstanceExtraSpecsFilter", aggregate_instance_extra_specs),
    ("AggregateMultiTenancyIsolation", multi_tenancy_isolation),
    ("ServerGroupAffinityFilter", server_group_affinity),
    ("ServerGroupAntiAffinityFilter", server_group_anti_affinity),
]
