"""Limits (/v2.1/limits): the caller's project quotas and usage under Nova's
absolute-limit names; rate limits are no longer a thing (always [])."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, run_blocking
from monostack.compute.api import common
from monostack.compute.api import parameter_types as types

router = APIRouter()

# quota resource -> absolute limit names (metadata_items is both server and image metadata).
LIMIT_NAMES = {
    "ram": ["maxTotalRAMSize"], "instances": ["maxTotalInstances"], "cores": ["maxTotalCores"],
    "key_pairs": ["maxTotalKeypairs"], "floating_ips": ["maxTotalFloatingIps"],
    "metadata_items": ["maxServerMeta", "maxImageMeta"], "injected_files": ["maxPersonality"],
    "injected_file_content_bytes": ["maxPersonalitySize"], "security_groups": ["maxSecurityGroups"],
    "security_group_rules": ["maxSecurityGroupRules"], "server_groups": ["maxServerGroups"],
    "server_group_members": ["maxServerGroupMembers"],
}
USED_NAMES = {
    "totalRAMUsed": "ram", "totalCoresUsed": "cores", "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips", "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}


def _hidden(request: Request) -> list[str]:
    network = ["floating_ips", "security_groups", "security_group_rules"]
    if common.at_least(request, "2.57"):
        return network + ["injected_files", "injected_file_content_bytes"]
    if common.at_least(request, "2.36"):
        return network
    return []


@router.get("/v2.1/limits")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    types.check_query(request, {"tenant_id"})
    common.authorize(request, ctx, "os_compute_api:limits", {})
    project_id = ctx.project_id
    tenant_id = types.query_value(request, "tenant_id")
    if tenant_id is not None:
        common.authorize(request, ctx, "os_compute_api:limits:other_project", {"project_id": tenant_id})
        project_id = tenant_id
    details = await run_blocking(common.svc(request).quotas.details, project_id or "")
    hidden = _hidden(request)
    absolute: dict[str, Any] = {}
    for resource, names in LIMIT_NAMES.items():
        if resource in hidden:
            continue
        for name in names:
            if name == "maxImageMeta" and common.at_least(request, "2.39"):
                continue
            absolute[name] = details[resource]["limit"]
    for name, resource in USED_NAMES.items():
        if resource not in hidden:
            absolute[name] = details[resource]["in_use"]
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})
