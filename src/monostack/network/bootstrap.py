"""The networks a new cloud starts with, as DevStack makes them.

- `public`: the external network (admin's, `router:external`, flat on the
  physical network `[network] public_physical_network`, which has no uplink:
  the host itself holds its gateway address on the bridge, as DevStack's
  br-ex), subnet `public-subnet` (`[network] public_cidr`, 172.24.4.0/24),
  floating IPs from the second address to the last.
- `private`: the demo project's tenant network (VXLAN), subnet
  `private-subnet` (`[network] private_cidr`, 10.0.0.0/26).
- `router1`: the demo project's router, gateway on `public` (SNAT), an
  interface on `private-subnet`.

Made once (a marker file in the data dir says so); an operator may delete or
change them like any other resource.  Each step looks for its resource by
name first, so a bootstrap a crash interrupted is finished on the next start.
"""

from __future__ import annotations

import ipaddress
import logging
import pathlib
from typing import Any

from monostack.common.context import RequestContext

LOG = logging.getLogger(__name__)

def _admin(project_id: str) -> RequestContext:
    return RequestContext(user_id="bootstrap", project_id=project_id, roles=["admin", "member", "reader"],
                          is_service=True)


def _find(items: list[dict[str, Any]], name: str, project_id: str) -> dict[str, Any] | None:
    return next((i for i in items if i.get("name") == name and i.get("project_id") == project_id), None)


def run(service: Any, admin_project_id: str, demo_project_id: str | None) -> None:
    conf = service.conf.network
    marker = pathlib.Path(service.conf.data_dir) / "network-bootstrapped"
    if marker.exists():  # made once: what an operator deleted stays deleted
        return
    _run(service, conf, admin_project_id, demo_project_id)
    marker.write_text("public, private, router1\n")


def _run(service: Any, conf: Any, admin_project_id: str, demo_project_id: str | None) -> None:
    admin = _admin(admin_project_id)
    public = _find(service.list_networks(admin), "public", admin_project_id) or service.create_network(admin, {
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": conf.public_physical_network, "project_id": admin_project_id})
    subnets = service.list_subnets(admin)
    cidr = ipaddress.ip_network(conf.public_cidr)
    public_subnet = _find(subnets, "public-subnet", admin_project_id) or service.create_subnet(admin, {
        "name": "public-subnet", "network_id": public["id"], "ip_version": cidr.version, "cidr": str(cidr),
        "gateway_ip": str(cidr[1]), "enable_dhcp": False, "project_id": admin_project_id,
        "allocation_pools": [{"start": str(cidr[2]), "end": str(cidr[-2])}]})
    if demo_project_id is None:
        return
    demo = _admin(demo_project_id)
    private = _find(service.list_networks(admin), "private", demo_project_id) or service.create_network(admin, {
        "name": "private", "project_id": demo_project_id})
    private_subnet = _find(subnets, "private-subnet", demo_project_id) or service.create_subnet(admin, {
        "name": "private-subnet", "network_id": private["id"], "ip_version": 4, "cidr": conf.private_cidr,
        "project_id": demo_project_id})
    router = _find(service.list_routers(admin), "router1", demo_project_id) or service.create_router(admin, {
        "name": "router1", "project_id": demo_project_id,
        "external_gateway_info": {"network_id": public["id"], "enable_snat": True}})
    if not any(p.get("device_id") == router["id"] and any(f["subnet_id"] == private_subnet["id"]
                                                          for f in p.get("fixed_ips", []))
               for p in service.list_ports(admin)):
        service.add_router_interface(demo, router["id"], {"subnet_id": private_subnet["id"]})
    LOG.info("bootstrap networks: public %s (%s), private %s (%s), router1 %s", public["id"], public_subnet["cidr"],
             private["id"], private_subnet["cidr"], router["id"])
