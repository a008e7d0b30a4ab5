"""The Neutron API framework: one `Resource` declares a collection (its
attribute map and service calls) and gets Neutron's behaviour for it:

- bodies `{"network": {...}}` (or `{"networks": [...]}` for bulk create),
  unknown or read-only attributes refused, values checked and converted;
- policy: `<action>_<resource>` on the resource (a resource the caller may not
  read is a 404, one it may read but not change a 403), `<action>_<resource>:<attr>`
  for guarded attributes (checked when the request names them; left out of
  answers the caller may not read);
- lists with filters on any attribute (a repeated parameter matches any of its
  values), `fields=`, `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse`
  with Neutron's `<collection>_links`, and the tag filters;
- `If-Match: revision_number=N` on PUT (412 when the resource moved on).
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse, base_url, run_blocking
from monostack.network import exceptions as nexc
from monostack.network.api.attributes import Attr, Invalid
from monostack.network.policies import RULES

RULE_NAMES = frozenset(rule.name for rule in RULES)

PAGING_PARAMS = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "tags", "tags-any",
                 "not-tags", "not-tags-any"}

Target = Callable[[Any, RequestContext, dict[str, Any]], dict[str, Any]]


def svc(request: Request) -> Any:
    return request.app.state.network


def bad_request(message: str) -> nexc.HTTPBadRequest:
    return nexc.HTTPBadRequest(message)


# -- policy --------------------------------------------------------------------------------------
def check(request: Request, ctx: RequestContext, rule: str, target: dict[str, Any]) -> bool:
    return svc(request).policy.check(ctx, rule, target)


def authorize(request: Request, ctx: RequestContext, rule: str, target: dict[str, Any]) -> None:
    if not check(request, ctx, rule, target):
        raise nexc.PolicyNotAuthorized(f"rule:{rule} is disallowed by policy")


# -- bodies --------------------------------------------------------------------------------------
async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise bad_request("Resource body required")
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.BadRequest("Malformed request body", error_type="MalformedRequestBody") from None


def convert_body(attrs: dict[str, Attr], body: Any, *, action: str, member: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"Unable to find '{member}' in request body")
    unknown = [k for k in body if k not in attrs]
    if unknown:
        raise bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    clean: dict[str, Any] = {}
    for name, value in body.items():
        attr = attrs[name]
        allowed = attr.post if action == "create" else attr.put
        if not allowed:
            raise bad_request(f"Attribute '{name}' not allowed in {'POST' if action == 'create' else 'PUT'}")
        try:
            clean[name] = attr.convert(value) if attr.convert is not None else value
        except Invalid as err:
            raise bad_request(f"Invalid input for {name}. Reason: {err}.") from None
    if action == "create":
        missing = [name for name, attr in attrs.items() if attr.required and name not in clean]
        if missing:
            raise bad_request(f"Failed to parse request. Required attribute '{missing[0]}' not specified")
        project, tenant = clean.pop("project_id", None), clean.pop("tenant_id", None)
        if project is not None and tenant is not None and project != tenant:
            raise bad_request("'project_id' and 'tenant_id' do not match")
        if project or tenant:
            clean["project_id"] = project or tenant
    return clean


def if_match_revision(request: Request) -> int | None:
    header = request.headers.get("if-match")
    if not header:
        return None
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "revision_number":
            try:
                return int(value)
            except ValueError:
                raise bad_request(f"Invalid If-Match header {header}") from None
    return None


# -- list queries --------------------------------------------------------------------------------
def _query(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def _coerce(attr: Attr | None, value: str) -> Any:
    if attr is None:
        return value
    if attr.kind == "bool":
        lowered = value.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise bad_request(f"Invalid input for {value}. Reason: '{value}' cannot be converted to boolean.")
    if attr.kind == "int":
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _matches(item_value: Any, wanted: list[Any], name: str) -> bool:
    if name == "fixed_ips":
        for want in wanted:
            key, _, value = str(want).partition("=")
            if key == "ip_address_substr":
                if any(value in ip["ip_address"] for ip in item_value):
                    return True
            elif any(ip.get(key) == value for ip in item_value):
                return True
        return False
    if isinstance(item_value, list):
        return any(v in item_value for v in wanted)
    if item_value is None:
        return any(w in ("", "None", None) for w in wanted)
    return item_value in wanted or str(item_value) in [str(w) for w in wanted]


def _tag_filter(item: dict[str, Any], params: dict[str, list[str]]) -> bool:
    tags = set(item.get("tags") or [])

    def values(key: str) -> list[set[str]]:
        return [set(v.split(",")) for v in params.get(key, []) if v]

    if any(not group <= tags for group in values("tags")):
        return False
    if any(not group & tags for group in values("tags-any")):
        return False
    if any(group <= tags for group in values("not-tags")):
        return False
    if any(group & tags for group in values("not-tags-any")):
        return False
    return True


def filter_items(items: list[dict[str, Any]], attrs: dict[str, Attr], params: dict[str, list[str]],
                 custom: dict[str, Callable[[dict[str, Any], list[str]], bool]] | None = None
                 ) -> list[dict[str, Any]]:
    filters: dict[str, list[Any]] = {}
    custom = custom or {}
    for key, values in params.items():
        if key in custom:
            items = [item for item in items if custom[key](item, values)]
            continue
        if key in PAGING_PARAMS:
            continue
        name = "project_id" if key == "tenant_id" else key
        if name not in attrs and name != "project_id":
            continue  # Neutron ignores filters on attributes it does not know
        filters[name] = [_coerce(attrs.get(name), v) for v in values]
    result = []
    for item in items:
        if all(_matches(item.get(name), wanted, name) for name, wanted in filters.items()) and \
                _tag_filter(item, params):
            result.append(item)
    return result


def sort_items(items: list[dict[str, Any]], attrs: dict[str, Attr], params: dict[str, list[str]]
               ) -> list[dict[str, Any]]:
    keys = params.get("sort_key", [])
    dirs = params.get("sort_dir", [])
    if not keys:
        if dirs:
            raise bad_request("The number of sort_keys and sort_dirs must be same")
        return items
    if dirs and len(dirs) != len(keys):
        raise bad_request("The number of sort_keys and sort_dirs must be same")
    dirs = dirs or ["asc"] * len(keys)
    for key in keys:
        attr = attrs.get(key)
        if attr is None or not attr.sortable:
            raise bad_request(f"{key} is invalid attribute for sort_keys")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise bad_request(f"{direction} is invalid value for sort_dirs, valid values are 'asc' and 'desc'")
    result = list(items)
    # Stable sorts from the last key to the first give the multi-key order.
    for key, direction in reversed(list(zip(keys, dirs))):
        result.sort(key=lambda item: (item.get(key) is None, _sortable(item.get(key))), reverse=direction == "desc")
    return result


def _sortable(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def paginate(request: Request, collection: str, items: list[dict[str, Any]], params: dict[str, list[str]],
             max_limit: int) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    raw_limit = params.get("limit", [None])[0]
    limit: int | None = None
    if raw_limit not in (None, ""):
        try:
            limit = int(raw_limit)  # type: ignore[arg-type]
        except ValueError:
            raise bad_request(f"Invalid input for limit. Reason: '{raw_limit}' is not an integer.") from None
        if limit < 0:
            raise bad_request(f"Limit must be an integer 0 or greater and not '{limit}'")
        if limit == 0:
            limit = None
    if max_limit > 0 and (limit is None or limit > max_limit) and raw_limit not in (None, ""):
        limit = max_limit
    marker = params.get("marker", [None])[0]
    reverse = str(params.get("page_reverse", ["false"])[0]).lower() == "true"
    start, end = 0, len(items)
    if marker:
        index = next((i for i, item in enumerate(items) if item.get("id") == marker), None)
        if index is None:
            raise errors.NotFound(f"Marker {marker} could not be found.", error_type="NotFound")
        if reverse:
            end = index
        else:
            start = index + 1
    window = items[start:end]
    if limit is None:
        return window, []
    page = window[-limit:] if reverse else window[:limit]
    links: list[dict[str, str]] = []
    if page and not (len(page) < limit and not reverse):
        links.append({"rel": "next", "href": _page_href(request, collection, page[-1]["id"], False)})
    if page and not (len(page) < limit and reverse) and (marker or reverse):
        links.append({"rel": "previous", "href": _page_href(request, collection, page[0]["id"], True)})
    return page, links


def _page_href(request: Request, collection: str, marker: str, reverse: bool) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "page_reverse")]
    query.append(("marker", marker))
    if reverse:
        query.append(("page_reverse", "True"))
    return f"{base_url(request)}{request.url.path[len(request.scope.get('root_path', '')):]}?" + \
        urllib.parse.urlencode(query)


# -- the resource --------------------------------------------------------------------------------
def default_target(_svc: Any, ctx: RequestContext, item: dict[str, Any]) -> dict[str, Any]:
    project = item.get("project_id") or ctx.project_id
    return {"project_id": project, "tenant_id": project}


@dataclasses.dataclass
class Resource:
    collection: str  # the body key of lists: "security_groups"
    member: str  # the body key of one: "security_group"
    attrs: dict[str, Attr]
    list: Callable[[Any, RequestContext], list[dict[str, Any]]]
    get: Callable[[Any, RequestContext, str], dict[str, Any]]
    create: Callable[[Any, RequestContext, dict[str, Any]], dict[str, Any]] | None = None
    update: Callable[..., dict[str, Any]] | None = None
    delete: Callable[[Any, RequestContext, str], None] | None = None
    path: str = ""  # URL segment when it differs from the collection: "security-groups"
    target: Target = default_target
    # An action that must see the request before the service (e.g. project id defaults).
    prepare: Callable[[Any, RequestContext, dict[str, Any]], dict[str, Any]] | None = None
    # Filters that are not a plain comparison with an attribute: name -> (item, values) -> keep?
    custom_filters: dict[str, Callable[[dict[str, Any], list[str]], bool]] = dataclasses.field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/v2.0/{self.path or self.collection}"

    # -- answers --------------------------------------------------------------------------------
    def visible_fields(self, request: Request, ctx: RequestContext, item: dict[str, Any],
                       fields: list[str] | None) -> dict[str, Any]:
        target = None
        result = {}
        for key, value in item.items():
            if fields and key not in fields:
                continue
            attr = self.attrs.get(key)
            if attr is not None and attr.read_policy:
                target = target or self.target(svc(request), ctx, item)
                if not check(request, ctx, f"get_{self.member}:{key}", target):
                    continue
            result[key] = value
        return result

    def readable(self, request: Request, ctx: RequestContext, item: dict[str, Any]) -> bool:
        return check(request, ctx, f"get_{self.member}", self.target(svc(request), ctx, item))

    def authorize_fields(self, request: Request, ctx: RequestContext, action: str, body: dict[str, Any],
                         target: dict[str, Any]) -> None:
        for key, value in body.items():
            attr = self.attrs.get(key)
            if attr is not None and attr.policy:
                authorize(request, ctx, f"{action}_{self.member}:{key}", target)
            if isinstance(value, dict):
                for sub in value:
                    rule = f"{action}_{self.member}:{key}:{sub}"
                    if rule in RULE_NAMES:
                        authorize(request, ctx, rule, target)
            if key == "fixed_ips" and isinstance(value, list) and any(v.get("ip_address") for v in value):
                authorize(request, ctx, f"{action}_{self.member}:fixed_ips:ip_address", target)

    # -- routes ---------------------------------------------------------------------------------
    def register(self, router: APIRouter) -> None:
        res = self
        url = self.url

        @router.get(url, name=f"list_{self.collection}")
        @router.get(url + ".json", include_in_schema=False)
        async def list_items(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
            params = _query(request)
            service = svc(request)
            items = await run_blocking(res.list, service, ctx)
            items = filter_items(items, res.attrs, params, res.custom_filters)
            items = [item for item in items if res.readable(request, ctx, item)]
            items = sort_items(items, res.attrs, params)
            page, links = paginate(request, res.collection, items, params,
                                   service.conf.network.pagination_max_limit)
            fields = params.get("fields")
            body: dict[str, Any] = {res.collection: [res.visible_fields(request, ctx, i, fields) for i in page]}
            if links:
                body[f"{res.collection}_links"] = links
            return JSONResponse(body)

        @router.get(url + "/{item_id}", name=f"show_{self.member}")
        async def show_item(item_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                            ) -> JSONResponse:
            item = await run_blocking(res.get, svc(request), ctx, item_id)
            if not res.readable(request, ctx, item):
                raise await res._not_found(request, item_id)
            fields = _query(request).get("fields")
            return JSONResponse({res.member: res.visible_fields(request, ctx, item, fields)})

        if self.create is not None:
            @router.post(url, status_code=201, name=f"create_{self.member}")
            async def create_item(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
                body = await json_body(request)
                if isinstance(body, dict) and res.collection in body and res.member not in body:
                    entries = body[res.collection]
                    if not isinstance(entries, list) or not entries:
                        raise bad_request(f"Invalid input for {res.collection}. Reason: not a list.")
                    created = []
                    try:
                        for entry in entries:
                            created.append(await res._create_one(request, ctx, entry))
                    except Exception:
                        # Bulk create is all or nothing, as Neutron's emulated bulk.
                        for item in created:
                            if res.delete is not None:
                                try:
                                    await run_blocking(res.delete, svc(request), ctx, item["id"])
                                except errors.APIError:
                                    pass
                        raise
                    return JSONResponse({res.collection: [res.visible_fields(request, ctx, i, None) for i in created]},
                                        status_code=201)
                if not isinstance(body, dict) or res.member not in body:
                    raise bad_request(f"Unable to find '{res.member}' in request body")
                item = await res._create_one(request, ctx, body[res.member])
                return JSONResponse({res.member: res.visible_fields(request, ctx, item, None)}, status_code=201)

        if self.update is not None:
            @router.put(url + "/{item_id}", name=f"update_{self.member}")
            async def update_item(item_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                                  ) -> JSONResponse:
                body = await json_body(request)
                if not isinstance(body, dict) or res.member not in body:
                    raise bad_request(f"Unable to find '{res.member}' in request body")
                clean = convert_body(res.attrs, body[res.member], action="update", member=res.member)
                service = svc(request)
                current = await run_blocking(res.get, service, ctx, item_id)
                target = res.target(service, ctx, current)
                if not res.readable(request, ctx, current):
                    raise await res._not_found(request, item_id)
                authorize(request, ctx, f"update_{res.member}", target)
                # Attribute rules see the resource as it would be (e.g. a new device_owner).
                res.authorize_fields(request, ctx, "update", clean, res.target(service, ctx, {**current, **clean}))
                revision = if_match_revision(request)
                if revision is not None:
                    item = await run_blocking(res.update, service, ctx, item_id, clean, revision)
                else:
                    item = await run_blocking(res.update, service, ctx, item_id, clean)
                return JSONResponse({res.member: res.visible_fields(request, ctx, item, None)})

        if self.delete is not None:
            @router.delete(url + "/{item_id}", status_code=204, name=f"delete_{self.member}")
            async def delete_item(item_id: str, request: Request, ctx: RequestContext = Depends(authenticated)
                                  ) -> Response:
                service = svc(request)
                current = await run_blocking(res.get, service, ctx, item_id)
                if not res.readable(request, ctx, current):
                    raise await res._not_found(request, item_id)
                authorize(request, ctx, f"delete_{res.member}", res.target(service, ctx, current))
                await run_blocking(res.delete, service, ctx, item_id)
                return Response(status_code=204)

    async def _create_one(self, request: Request, ctx: RequestContext, entry: Any) -> dict[str, Any]:
        clean = convert_body(self.attrs, entry, action="create", member=self.member)
        service = svc(request)
        if self.prepare is not None:
            clean = await run_blocking(self.prepare, service, ctx, clean)
        target = self.target(service, ctx, clean)
        authorize(request, ctx, f"create_{self.member}", target)
        self.authorize_fields(request, ctx, "create", clean, target)
        assert self.create is not None
        return await run_blocking(self.create, service, ctx, clean)

    async def _not_found(self, request: Request, item_id: str) -> errors.APIError:
        try:
            await run_blocking(self.get, svc(request), None, item_id)
        except errors.APIError as err:
            return err
        # The resource exists but the caller may not read it: Neutron says it is not there.
        return errors.NotFound(f"{self.member.replace('_', ' ').capitalize()} {item_id} could not be found.",
                               error_type=f"{''.join(p.capitalize() for p in self.member.split('_'))}NotFound")
