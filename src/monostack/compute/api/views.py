"""How a server looks in the API, per microversion (Nova's servers view builder)."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request

from monostack.common.context import RequestContext
from monostack.compute import states
from monostack.compute.api.common import allowed, at_least, isotime, links
from monostack.compute.network_api import addresses


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: sha224 of project and host, so projects can't map the cloud's hosts."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def flavor_view(request: Request, row: Any, ctx: RequestContext) -> dict[str, Any]:
    flavor = row.flavor or {}
    if not at_least(request, "2.47"):
        return {"id": flavor.get("id"), "links": links(request, "flavors", flavor.get("id"))[1:]}
    view = {"vcpus": flavor.get("vcpus"), "ram": flavor.get("ram"), "disk": flavor.get("disk"),
            "ephemeral": flavor.get("ephemeral", 0), "swap": flavor.get("swap", 0) or 0,
            "original_name": flavor.get("name")}
    if allowed(request, ctx, "os_compute_api:servers:show:flavor-extra-specs", {"project_id": row.project_id}):
        view["extra_specs"] = flavor.get("extra_specs") or {}
    return view


def image_view(request: Request, row: Any) -> Any:
    if not row.image_ref:
        return ""  # booted from a volume
    return {"id": row.image_ref, "links": links(request, "images", row.image_ref)[1:]}


def server_brief(request: Request, row: Any) -> dict[str, Any]:
    return {"id": row.uuid, "name": row.display_name, "links": links(request, "servers", row.uuid)}


def _volumes(row: Any) -> list[Any]:
    """The server's volume mappings (what Nova lists as volumes_attached)."""
    return [b for b in getattr(row, "block_devices", None) or [] if b.destination_type == "volume" and b.volume_id]


_PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def server_detail(request: Request, row: Any, ctx: RequestContext, *, show_extended: bool | None = None,
                  host_statuses: dict[str, str] | None = None,
                  server_groups: list[str] | None = None) -> dict[str, Any]:
    """server_groups: the ids of the server's group, shown from 2.71 (by show, update and rebuild)."""
    status = states.status(row.vm_state, row.task_state)
    view: dict[str, Any] = {
        "id": row.uuid, "name": row.display_name, "status": status,
        "tenant_id": row.project_id, "user_id": row.user_id, "metadata": {m.key: m.value for m in row.metadata_items},
        "hostId": host_id(row.project_id, row.host), "image": image_view(request, row),
        "flavor": flavor_view(request, row, ctx), "created": isotime(row.created_at),
        "updated": isotime(row.updated_at), "addresses": addresses(row.network_info),
        "accessIPv4": row.access_ip_v4 or "", "accessIPv6": row.access_ip_v6 or "",
        "links": links(request, "servers", row.uuid), "OS-DCF:diskConfig": row.disk_config or "MANUAL",
        "OS-EXT-AZ:availability_zone": row.availability_zone or "",
        "config_drive": "True" if row.config_drive else "",
        "key_name": row.key_name,
        "OS-SRV-USG:launched_at": _usage_time(row.launched_at),
        "OS-SRV-USG:terminated_at": _usage_time(row.terminated_at),
        "OS-EXT-STS:task_state": row.task_state, "OS-EXT-STS:vm_state": row.vm_state,
        "OS-EXT-STS:power_state": row.power_state,
        "os-extended-volumes:volumes_attached": [{"id": b.volume_id} for b in _volumes(row)],
    }
    groups = [{"name": name} for name in (row.security_groups or [])] if row.network_info else []
    if groups:  # Nova leaves the key out for a server without security groups
        view["security_groups"] = groups
    if status == "DELETED" and row.deleted:
        view["status"] = "DELETED"
    if view["status"] in _PROGRESS_STATUSES:  # Nova shows progress only while it means something
        view["progress"] = row.progress or 0
    if show_extended is None:
        show_extended = allowed(request, ctx, "os_compute_api:os-extended-server-attributes",
                                {"project_id": row.project_id})
    if show_extended:
        view.update({"OS-EXT-SRV-ATTR:host": row.host, "OS-EXT-SRV-ATTR:hypervisor_hostname": row.node,
                     "OS-EXT-SRV-ATTR:instance_name": f"instance-{row.id:08x}"})
        if at_least(request, "2.3"):
            view.update({"OS-EXT-SRV-ATTR:reservation_id": row.reservation_id,
                         "OS-EXT-SRV-ATTR:launch_index": row.launch_index,
                         "OS-EXT-SRV-ATTR:hostname": row.hostname,
                         "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                         "OS-EXT-SRV-ATTR:root_device_name": row.root_device_name,
                         "OS-EXT-SRV-ATTR:user_data": row.user_data})
    elif at_least(request, "2.90"):
        view["OS-EXT-SRV-ATTR:hostname"] = row.hostname
    if at_least(request, "2.3"):
        view["os-extended-volumes:volumes_attached"] = [
            {"id": b.volume_id, "delete_on_termination": bool(b.delete_on_termination)} for b in _volumes(row)]
    if at_least(request, "2.9"):
        view["locked"] = bool(row.locked)
    if server_groups is not None and at_least(request, "2.71"):
        view["server_groups"] = server_groups
    if at_least(request, "2.73"):
        view["locked_reason"] = row.locked_reason
    if at_least(request, "2.19"):
        view["description"] = row.display_description
    if at_least(request, "2.26"):
        view["tags"] = sorted(t.tag for t in row.tags)
    if at_least(request, "2.63"):
        view["trusted_image_certificates"] = row.trusted_image_certificates
    if at_least(request, "2.96"):
        view["pinned_availability_zone"] = row.requested_az.partition(":")[0] if row.requested_az else None
    if at_least(request, "2.16") and host_statuses is not None and row.host:
        view["host_status"] = host_statuses.get(row.host, "UNKNOWN")
    if row.faults and status in ("ERROR", "DELETED"):
        fault = row.faults[0]
        view["fault"] = {"code": fault.code, "created": isotime(fault.created_at), "message": fault.message}
        if fault.code != 500 or ctx.is_admin:
            view["fault"]["details"] = fault.details or ""
    return view


# What the PUT /servers/{id} and rebuild answers leave out before 2.75 (Nova's
# show() with the extension attributes off); since 2.75 they equal GET.
_EXTENSION_KEYS = ("OS-EXT-AZ:availability_zone", "config_drive", "key_name", "OS-SRV-USG:launched_at",
                   "OS-SRV-USG:terminated_at", "security_groups", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
                   "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached", "host_status")


def server_after_change(request: Request, row: Any, ctx: RequestContext, *, rebuild: bool = False,
                        server_groups: list[str] | None = None) -> dict[str, Any]:
    """The server as the answer of PUT /servers/{id} (rebuild=False) or of the rebuild action."""
    if at_least(request, "2.75"):
        view = server_detail(request, row, ctx, server_groups=server_groups)
        if rebuild:  # rebuild names it user_data (below)
            view.pop("OS-EXT-SRV-ATTR:user_data", None)
    else:
        view = server_detail(request, row, ctx, show_extended=False, server_groups=server_groups)
        keep_key_name = rebuild and at_least(request, "2.54")
        for key in _EXTENSION_KEYS:
            if not (key == "key_name" and keep_key_name):
                view.pop(key, None)
        # Addresses without the OS-EXT-IPS extension keys.
        view["addresses"] = {net: [{"version": a["version"], "addr": a["addr"]} for a in addrs]
                             for net, addrs in view["addresses"].items()}
    if rebuild and at_least(request, "2.57"):
        view["user_data"] = row.user_data
    return view


def group_ids(service: Any, server_uuid: str) -> list[str]:
    """Blocking: the ids of the server group the server is in (Nova's server_groups field)."""
    group = service.groups.group_of(server_uuid)
    return [group["id"]] if group else []


def _usage_time(value: Any) -> str | None:
    return value.replace(microsecond=value.microsecond).strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None
