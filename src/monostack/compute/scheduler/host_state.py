"""What the filters and weighers know of one candidate host."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class HostState:
    host: str
    node: str  # hypervisor hostname
    node_uuid: str  # = Placement resource provider
    zone: str
    enabled: bool
    up: bool
    hypervisor_type: str = "QEMU"
    aggregates: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # From Placement's provider summary: resource class -> {"capacity", "used"}.
    resources: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    allocation_request: dict[str, Any] = dataclasses.field(default_factory=dict)
    instances: set[str] = dataclasses.field(default_factory=set)  # server uuids on the host

    def free(self, resource_class: str) -> int:
        summary = self.resources.get(resource_class) or {}
        return int(summary.get("capacity", 0)) - int(summary.get("used", 0))


@dataclasses.dataclass
class RequestSpec:
    """What the server asks of a host."""

    instance_uuid: str
    project_id: str
    user_id: str
    flavor: dict[str, Any]
    image: dict[str, Any] | None
    availability_zone: str | None
    requested_host: str | None
    group: dict[str, Any] | None  # the server group (policy, rules, members' hosts)
    group_hosts: dict[str, int] = dataclasses.field(default_factory=dict)  # host -> members there
    ignore_hosts: set[str] = dataclasses.field(default_factory=set)
    num_instances: int = 1
