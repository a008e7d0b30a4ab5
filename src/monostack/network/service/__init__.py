"""The Networking service layer: one class, one mixin per resource family.

API handlers call these methods in worker threads with the caller's request
context; agents and other services call them with `ctx=None` where a method
allows it (no visibility filtering) or a service context.  Every change is one
database transaction (`ServiceBase.write`, retried when a concurrent request won
a unique value) and, once committed, one or more notifications on the bus
(`network.create.end`, `port.update.end`, ...) for the data-plane agents.
"""

from __future__ import annotations

from monostack.network.service.agents import AgentsMixin
from monostack.network.service.floatingips import FloatingIPsMixin
from monostack.network.service.host_state import HostStateMixin
from monostack.network.service.ip_availability import IPAvailabilityMixin
from monostack.network.service.networks import NetworksMixin
from monostack.network.service.ports import PortsMixin
from monostack.network.service.quotas import QuotasMixin
from monostack.network.service.rbac import RBACMixin
from monostack.network.service.routers import RoutersMixin
from monostack.network.service.security_groups import SecurityGroupsMixin
from monostack.network.service.subnetpools import SubnetPoolsMixin
from monostack.network.service.subnets import SubnetsMixin
from monostack.network.service.tags import TagsMixin


class NetworkService(NetworksMixin, SubnetsMixin, SubnetPoolsMixin, PortsMixin, SecurityGroupsMixin, RoutersMixin,
                     FloatingIPsMixin, RBACMixin, QuotasMixin, AgentsMixin, IPAvailabilityMixin, TagsMixin,
                     HostStateMixin):
    def close(self) -> None:
        self.db.dispose()


__all__ = ["NetworkService"]
