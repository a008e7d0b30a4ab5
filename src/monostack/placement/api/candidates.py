"""GET /allocation_candidates (1.10): request groups parsed from the query string, and the
answer shaped for the microversion."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response

from monostack.common import errors
from monostack.placement.api import query, schemas
from monostack.placement.api.common import (at_least, authorize, blocking, check_accept, query as query_params,
                                            require, respond, service, version)
from monostack.placement.service import CandidateRequest, RequestGroup
from monostack.placement.service.common import (ILLEGAL_DUPLICATE_QUERYPARAM, QUERYPARAM_BAD_VALUE,
                                                QUERYPARAM_MISSING_VALUE)

router = APIRouter()
_KEYS = "resources|required|member_of|in_tree"


def parse_groups(request: Request, params: dict[str, str]) -> dict[str, RequestGroup]:
    suffix = schemas.SUFFIX if at_least(request, "1.33") else schemas.NUMBER_SUFFIX
    pattern = re.compile(f"^({_KEYS})({suffix})?$" if at_least(request, "1.25") else f"^({_KEYS})()$")
    groups: dict[str, RequestGroup] = {}
    for key in params:
        match = pattern.match(key)
        if not match:
            continue
        kind, group_suffix = match.group(1), match.group(2) or ""
        group = groups.setdefault(group_suffix, RequestGroup(suffix=group_suffix))
        if kind == "resources":
            group.resources = query.resources(params[key])
        elif kind == "required":
            group.required, group.forbidden = query.traits(request, key)
        elif kind == "member_of":
            group.member_of, group.forbidden_aggs = query.member_of(request, key)
        else:
            group.in_tree = query.in_tree(params[key])
    return groups


def _check_groups(request: Request, groups: dict[str, RequestGroup], same_subtrees: list[set[str]]) -> None:
    if at_least(request, "1.36"):
        resourceless = [suffix for suffix, group in groups.items() if not group.resources]
        if len(resourceless) == len(groups):
            raise errors.BadRequest("There must be at least one resources or resources[$S] parameter.",
                                    code=QUERYPARAM_MISSING_VALUE)
        in_subtrees = set().union(*same_subtrees)
        bad = [suffix for suffix in resourceless if suffix not in in_subtrees]
        if bad:
            raise errors.BadRequest(f"Resourceless suffixed group request should be specified in `same_subtree` "
                                    f"query param: bad group(s) - {bad}.", code=QUERYPARAM_BAD_VALUE)
        unknown = [suffix for suffix in sorted(in_subtrees) if suffix not in groups]
        if unknown:
            raise errors.BadRequest(f"Real suffixes should be specified in `same_subtree`: {unknown} not found in "
                                    f"{list(groups)}.", code=QUERYPARAM_BAD_VALUE)
    else:
        orphans = [f"required{s}" for s, g in groups.items() if g.required and not g.resources]
        if orphans:
            raise errors.BadRequest(f"All traits parameters must be associated with resources.  Found the following "
                                    f"orphaned traits keys: {', '.join(orphans)}")
        orphans = [f"member_of{s}" for s, g in groups.items() if not g.resources and (g.member_of or g.forbidden_aggs)]
        if orphans:
            raise errors.BadRequest(f"All member_of parameters must be associated with resources. Found the "
                                    f"following orphaned member_of keys: {', '.join(orphans)}")
        if not all(group.resources for group in groups.values()):
            raise errors.BadRequest("All request groups must specify resources.")
        if not groups:
            raise errors.BadRequest("At least one request group (`resources` or `resources{$S}`) is required.")
    if at_least(request, "1.22"):
        conflicts = [f"required{s}: ({', '.join(sorted(any_of))})" for s, g in groups.items()
                     for any_of in g.required if any_of <= g.forbidden]
        if conflicts:
            raise errors.BadRequest(f"Conflicting required and forbidden traits found in the following traits keys: "
                                    f"{', '.join(sorted(conflicts))}")


def parse(request: Request) -> CandidateRequest:
    params = query_params(request, schemas.candidates_query(version(request)))
    same_subtrees: list[set[str]] = []
    for value in request.query_params.getlist("same_subtree"):
        suffixes = {part.strip() for part in value.split(",")}
        if "" in suffixes:
            raise errors.BadRequest("Empty string (unsuffixed group) can not be specified in `same_subtree` ",
                                    code=QUERYPARAM_BAD_VALUE)
        same_subtrees.append(suffixes)
    root_required: set[str] = set()
    root_forbidden: set[str] = set()
    roots = request.query_params.getlist("root_required")
    if roots:
        if len(roots) > 1:
            raise errors.BadRequest("Query parameter 'root_required' may be specified only once.",
                                    code=ILLEGAL_DUPLICATE_QUERYPARAM)
        root_required, root_forbidden = query.root_traits(roots[0])
    groups = parse_groups(request, params)
    _check_groups(request, groups, same_subtrees)
    group_policy = request.query_params.getlist("group_policy")[:1]
    if not group_policy and sum(1 for suffix in groups if suffix) > 1:
        raise errors.BadRequest('The "group_policy" parameter is required when specifying more than one '
                                '"resources{N}" parameter.')
    limits = request.query_params.getlist("limit")
    return CandidateRequest(groups=groups, limit=int(limits[0]) if limits else None,
                            group_policy=group_policy[0] if group_policy else None, root_required=root_required,
                            root_forbidden=root_forbidden, same_subtrees=same_subtrees,
                            nested_aware=at_least(request, "1.29"),
                            randomize=service(request).conf.placement.randomize_allocation_candidates)


def shape(request: Request, found: dict[str, Any], candidate_request: CandidateRequest) -> dict[str, Any]:
    """The service's answer in the microversion's shape (decided once, not per candidate)."""
    as_dict, with_mappings = at_least(request, "1.12"), at_least(request, "1.34")
    all_classes, with_traits = at_least(request, "1.27"), at_least(request, "1.17")
    with_tree = at_least(request, "1.29")
    requests = found["allocation_requests"]  # the 1.34 shape
    if not with_mappings:
        for item in requests:
            del item["mappings"]
    if not as_dict:
        requests = [{"allocations": [{"resource_provider": {"uuid": rp}, "resources": entry["resources"]}
                                     for rp, entry in item["allocations"].items()]} for item in requests]
    requested = {rc for group in candidate_request.groups.values() for rc in group.resources}
    summaries = {}
    for uuid, summary in found["provider_summaries"].items():
        shown: dict[str, Any] = {"resources": summary["resources"] if all_classes else
                                 {rc: v for rc, v in summary["resources"].items() if rc in requested}}
        if with_traits:
            shown["traits"] = summary["traits"]
        if with_tree:
            shown["parent_provider_uuid"] = summary["parent_provider_uuid"]
            shown["root_provider_uuid"] = summary["root_provider_uuid"]
        summaries[uuid] = shown
    return {"allocation_requests": requests, "provider_summaries": summaries}


@router.get("/allocation_candidates")
async def list_candidates(request: Request) -> Response:
    require(request, "1.10")
    await authorize(request, "placement:allocation_candidates:list")
    check_accept(request)
    candidate_request = parse(request)
    found = await blocking(service(request).candidates.find, candidate_request)
    return respond(request, shape(request, found, candidate_request))
