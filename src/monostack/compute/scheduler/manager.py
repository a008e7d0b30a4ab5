"""The scheduler: pick a host for a server and claim its resources there.

  1. Placement's allocation candidates: the hosts with room for the flavor
     (VCPU, MEMORY_MB, DISK_GB), overcommit ratios applied by Placement.
  2. The filters (filters.py) drop hosts the server may not use.
  3. The weighers (weighers.py) order the rest.
  4. The first host whose claim (PUT /allocations/{server}) succeeds wins;
     a claim lost to a concurrent scheduler moves on to the next host.
NoValidHost carries the reason: which filter left no host.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from monostack.common import errors
from monostack.compute.scheduler import filters, weighers
from monostack.compute.scheduler.host_state import HostState, RequestSpec

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

LOG = logging.getLogger(__name__)


class NoValidHost(errors.APIError):
    code, title, nova_key = 500, "No Valid Host", "computeFault"

    def __init__(self, reason: str = "") -> None:
        text = "No valid host was found. " + (reason or "There are not enough hosts available.")
        super().__init__(text)


def resources_of(flavor: dict[str, Any], boot_from_volume: bool = False) -> dict[str, int]:
    disk = flavor["ephemeral"] + math.ceil(flavor.get("swap", 0) / 1024)
    if not boot_from_volume:
        disk += flavor["disk"]
    wanted = {"VCPU": flavor["vcpus"], "MEMORY_MB": flavor["ram"]}
    if disk:
        wanted["DISK_GB"] = disk
    return wanted


class Scheduler:
    def __init__(self, svc: "ComputeService", placement: Any):
        self.svc = svc
        self.placement = placement
        self.decisions = 0
        self.decision_seconds = 0.0

    async def select_and_claim(self, spec: RequestSpec, *, boot_from_volume: bool = False) -> HostState:
        started = time.perf_counter()
        try:
            # What the database knows of the hosts is read while Placement answers.
            candidates, known = await asyncio.gather(
                self.placement.allocation_candidates(resources_of(spec.flavor, boot_from_volume)),
                asyncio.to_thread(self._known_hosts))
            hosts = self._host_states(candidates, known)
            if not hosts:
                raise NoValidHost("There are not enough hosts available.")
            for name, check in filters.FILTERS:
                hosts = [h for h in hosts if check(h, spec)]
                if not hosts:
                    LOG.info("no host for %s after %s", spec.instance_uuid, name)
                    raise NoValidHost(f"There are not enough hosts available. (filter {name} returned 0 hosts)")
            for host in weighers.order(hosts, spec):
                if await self.placement.claim(spec.instance_uuid, host.allocation_request, spec.project_id,
                                              spec.user_id):
                    return host
            raise NoValidHost("There are not enough hosts available. (every claim was refused)")
        finally:
            self.decisions += 1
            self.decision_seconds += time.perf_counter() - started

    def _known_hosts(self) -> dict[str, Any]:
        """One read each of the nodes, the services, the zones and the aggregates, whatever the number of hosts."""
        return {"nodes": {n.uuid: n for n in self.svc.hosts.nodes()}, "services": self.svc.hosts.compute_services(),
                "zones": self.svc.aggregates.zones_of_hosts(), "aggregates": self.svc.aggregates.aggregates_by_host()}

    def _host_states(self, candidates: dict[str, Any], known: dict[str, Any]) -> list[HostState]:
        """Join Placement's candidates with what the database knows of each host."""
        summaries = candidates.get("provider_summaries", {})
        requests = {}
        for request in candidates.get("allocation_requests", []):
            providers = list(request["allocations"])
            if len(providers) == 1:
                requests.setdefault(providers[0], request)
        nodes, services, zones, aggregates = known["nodes"], known["services"], known["zones"], known["aggregates"]
        default_zone = self.svc.aggregates.default_zone
        states = []
        for rp_uuid, request in requests.items():
            node = nodes.get(rp_uuid)
            if node is None:
                continue
            service = services.get(node.host)
            resources = {rc: {"capacity": v["capacity"], "used": v["used"]}
                         for rc, v in summaries.get(rp_uuid, {}).get("resources", {}).items()}
            states.append(HostState(
                host=node.host, node=node.hypervisor_hostname, node_uuid=node.uuid,
                zone=zones.get(node.host, default_zone),
                enabled=service is not None and not service.disabled,
                up=service is not None and self.svc.hosts.is_up(service), hypervisor_type=node.hypervisor_type,
                aggregates=aggregates.get(node.host, []), resources=resources, allocation_request=request))
        return states
