"""/os-security-groups, /os-security-group-rules, /servers/{id}/os-security-groups and the
addSecurityGroup / removeSecurityGroup actions: Nova's proxy to the Networking service's
security groups (deprecated from 2.36, where Nova answers 404), with the caller's token, in
Nova's shapes: groups with their ingress rules as {ip_protocol, from_port, to_port, ip_range,
group}.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import neutron_proxy
from monostack.compute.api.common import authorize, json_body, svc
from monostack.compute.api.server_actions import action

router = APIRouter()


def _rule_view(rule: dict[str, Any], groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    group = groups.get(rule.get("remote_group_id") or "")
    port_min, port_max = rule.get("port_range_min"), rule.get("port_range_max")
    if rule.get("protocol") == "icmp":
        port_min = -1 if port_min is None else port_min
        port_max = -1 if port_max is None else port_max
    return {"id": rule["id"], "parent_group_id": rule["security_group_id"], "ip_protocol": rule.get("protocol"),
            "from_port": port_min, "to_port": port_max,
            "ip_range": {"cidr": rule["remote_ip_prefix"]} if rule.get("remote_ip_prefix") else {},
            "group": {"name": group["name"], "tenant_id": group["project_id"]} if group else {}}


def _view(group: dict[str, Any], groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rules = [r for r in group.get("security_group_rules", []) if r["direction"] == "ingress"
             and r.get("ethertype", "IPv4") == "IPv4"]
    return {"id": group["id"], "name": group["name"], "description": group.get("description") or "",
            "tenant_id": group["project_id"], "rules": [_rule_view(r, groups) for r in rules]}


async def _groups(request: Request, ctx: RequestContext, **params: Any) -> dict[str, dict[str, Any]]:
    body = await neutron_proxy.call(request, ctx, "GET", "/security-groups", params=params or None)
    return {g["id"]: g for g in body["security_groups"]}


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise errors.BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r}.")
    return value


@router.get("/v2.1/os-security-groups")
async def list_groups(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-security-groups:get")
    params = {} if ctx.is_admin and request.query_params.get("all_tenants") else {"project_id": ctx.project_id}
    groups = await _groups(request, ctx, **params)
    return JSONResponse({"security_groups": [_view(g, groups) for g in groups.values()]})


@router.post("/v2.1/os-security-groups")
async def create_group(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-security-groups:create")
    body = (await json_body(request)).get("security_group")
    if not isinstance(body, dict):
        raise errors.BadRequest("Invalid input for field/attribute security_group.")
    created = (await neutron_proxy.call(request, ctx, "POST", "/security-groups", json={"security_group": {
        "name": _text(body, "name"), "description": body.get("description") or ""}}))["security_group"]
    return JSONResponse({"security_group": _view(created, {created["id"]: created})})


@router.get("/v2.1/os-security-groups/{group_id}")
async def show_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-security-groups:show")
    group = (await neutron_proxy.call(request, ctx, "GET", f"/security-groups/{group_id}"))["security_group"]
    groups = await _groups(request, ctx)
    return JSONResponse({"security_group": _view(group, groups)})


@router.put("/v2.1/os-security-groups/{group_id}")
async def update_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-security-groups:update")
    body = (await json_body(request)).get("security_group")
    if not isinstance(body, dict):
        raise errors.BadRequest("Invalid input for field/attribute security_group.")
    changes = {"name": _text(body, "name")}
    if "description" in body:
        changes["description"] = body.get("description") or ""
    group = (await neutron_proxy.call(request, ctx, "PUT", f"/security-groups/{group_id}",
                            json={"security_group": changes}))["security_group"]
    return JSONResponse({"security_group": _view(group, {group["id"]: group})})


@router.delete("/v2.1/os-security-groups/{group_id}", status_code=202)
async def delete_group(group_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "os_compute_api:os-security-groups:delete")
    group = (await neutron_proxy.call(request, ctx, "GET", f"/security-groups/{group_id}"))["security_group"]
    if group["name"] == "default":
        raise errors.BadRequest("Removing default security group not allowed.")
    await neutron_proxy.call(request, ctx, "DELETE", f"/security-groups/{group_id}")
    return Response(status_code=202)


@router.post("/v2.1/os-security-group-rules")
async def create_rule(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    authorize(request, ctx, "os_compute_api:os-security-groups:rule:create")
    body = (await json_body(request)).get("security_group_rule")
    if not isinstance(body, dict) or not body.get("parent_group_id"):
        raise errors.BadRequest("Invalid input for field/attribute security_group_rule.")
    protocol = (body.get("ip_protocol") or "").lower() or None
    rule: dict[str, Any] = {"security_group_id": body["parent_group_id"], "direction": "ingress",
                            "ethertype": "IPv4", "protocol": protocol}
    if protocol in ("tcp", "udp", "icmp"):
        try:
            low, high = int(body.get("from_port")), int(body.get("to_port"))
        except (TypeError, ValueError):
            raise errors.BadRequest("Invalid port range: from_port and to_port must be integers.") from None
        if protocol != "icmp":
            if not (1 <= low <= high <= 65535):
                raise errors.BadRequest(f"Invalid port range {low}:{high}.")
            rule.update(port_range_min=low, port_range_max=high)
        elif low != -1:
            rule.update(port_range_min=low, port_range_max=None if high == -1 else high)
    elif protocol is not None:
        raise errors.BadRequest(f"Invalid IP protocol {body.get('ip_protocol')}.")
    if body.get("group_id"):
        rule["remote_group_id"] = body["group_id"]
    else:
        rule["remote_ip_prefix"] = body.get("cidr") or "0.0.0.0/0"
    made = (await neutron_proxy.call(request, ctx, "POST", "/security-group-rules",
                           json={"security_group_rule": rule}))["security_group_rule"]
    groups = await _groups(request, ctx)
    return JSONResponse({"security_group_rule": _rule_view(made, groups)})


@router.delete("/v2.1/os-security-group-rules/{rule_id}", status_code=202)
async def delete_rule(rule_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> Response:
    authorize(request, ctx, "os_compute_api:os-security-groups:rule:delete")
    await neutron_proxy.call(request, ctx, "DELETE", f"/security-group-rules/{rule_id}")
    return Response(status_code=202)


async def _server_ports(request: Request, ctx: RequestContext, server_id: str) -> list[dict[str, Any]]:
    return (await neutron_proxy.call(request, ctx, "GET", "/ports", params={"device_id": server_id}))["ports"]


@router.get("/v2.1/servers/{server_id}/os-security-groups")
async def server_groups(server_id: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    row = await run_blocking(svc(request).servers.get, ctx, server_id)
    authorize(request, ctx, "os_compute_api:os-security-groups:list", {"project_id": row.project_id})
    ids = {g for port in await _server_ports(request, ctx, row.uuid) for g in port.get("security_groups") or []}
    groups = await _groups(request, ctx)
    return JSONResponse({"security_groups": [_view(groups[g], groups) for g in sorted(ids) if g in groups]})


async def _change_groups(request: Request, ctx: RequestContext, row: Any, args: Any, add: bool) -> Response:
    name = args.get("name") if isinstance(args, dict) else None
    if not isinstance(name, str) or not name:
        raise errors.BadRequest("Security group not specified")
    groups = await _groups(request, ctx, project_id=row.project_id)
    matches = [g["id"] for g in groups.values() if g["name"] == name or g["id"] == name]
    if not matches:
        raise errors.NotFound(f"Security group {name} not found for project {row.project_id}.")
    ports = await _server_ports(request, ctx, row.uuid)
    if not ports:
        raise errors.BadRequest("The server has no network interface to add a security group to.")
    for port in ports:
        current = list(port.get("security_groups") or [])
        if add and matches[0] not in current:
            current.append(matches[0])
        elif not add:
            if matches[0] not in current:
                raise errors.BadRequest(f"Security group {name} not associated with the instance {row.uuid}")
            current.remove(matches[0])
        await neutron_proxy.call(request, ctx, "PUT", f"/ports/{port['id']}",
                                 json={"port": {"security_groups": current}})
    names = set(row.security_groups or [])
    names = names | {name} if add else names - {name}
    await run_blocking(svc(request).servers.finish, row.uuid, security_groups=sorted(names))
    return Response(status_code=202)


@action("addSecurityGroup", "os-security-groups:add")
async def add_security_group(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    neutron_proxy.network(request)
    return await _change_groups(request, ctx, row, args, add=True)


@action("removeSecurityGroup", "os-security-groups:remove")
async def remove_security_group(request: Request, ctx: RequestContext, row: Any, args: Any) -> Response:
    neutron_proxy.network(request)
    return await _change_groups(request, ctx, row, args, add=False)
