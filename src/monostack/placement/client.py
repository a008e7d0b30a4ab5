"""The Placement client the other services use (the compute scheduler, the compute agents).

It speaks the HTTP API at microversion 1.39 through httpx, so it works the same in the
all-in-one and across hosts.  Failures are `monostack.common.errors` (the status's class, the
Placement error `code` in `err.details["code"]`); writes that carry a generation re-read and
retry when another writer got there first.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Iterable

import httpx

from monostack.common import errors

LOG = logging.getLogger(__name__)
MICROVERSION = "placement 1.39"
CONCURRENT_UPDATE = "placement.concurrent_update"
RETRIES = 5
INVENTORY_DEFAULTS = {"reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1, "allocation_ratio": 1.0}


def _error(response: httpx.Response) -> errors.APIError:
    code, detail = None, response.text
    try:
        entry = response.json()["errors"][0]
        code, detail = entry.get("code"), entry.get("detail", detail)
    except (ValueError, KeyError, IndexError, TypeError):
        pass
    err = errors.for_status(response.status_code, (detail or "").strip() or None)
    err.details["code"] = code
    return err


def _is_concurrent_update(err: errors.APIError) -> bool:
    return isinstance(err, errors.Conflict) and err.details.get("code") == CONCURRENT_UPDATE


class PlacementClient:
    def __init__(self, endpoint: str, token_getter: Callable[[], Awaitable[str]], *,
                 transport: httpx.AsyncBaseTransport | None = None, timeout: float = 30.0):
        self._token_getter = token_getter
        self._http = httpx.AsyncClient(base_url=endpoint.rstrip("/"), transport=transport, timeout=timeout,
                                       headers={"OpenStack-API-Version": MICROVERSION,
                                                "Accept": "application/json"})

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "PlacementClient":
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()

    async def _request(self, method: str, path: str, *, json: Any = None,
                       params: Any = None) -> httpx.Response:
        """The response of a 2xx answer; an APIError otherwise (a 401 is retried once with a
        fresh token, in case the one we had just expired)."""
        for attempt in range(2):
            token = await self._token_getter()
            response = await self._http.request(method, path, json=json, params=params,
                                                headers={"X-Auth-Token": token})
            if response.status_code == 401 and attempt == 0:
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")

    # -- providers -------------------------------------------------------------------------------
    async def get_provider(self, uuid: str) -> dict[str, Any]:
        return (await self._request("GET", f"/resource_providers/{uuid}")).json()

    async def ensure_provider(self, uuid: str, name: str, parent_uuid: str | None = None) -> dict[str, Any]:
        """The provider, created (under `parent_uuid`) when missing."""
        try:
            return await self.get_provider(uuid)
        except errors.NotFound:
            pass
        body: dict[str, Any] = {"uuid": uuid, "name": name}
        if parent_uuid is not None:
            body["parent_provider_uuid"] = parent_uuid
        try:
            return (await self._request("POST", "/resource_providers", json=body)).json()
        except errors.Conflict:  # created meanwhile by another agent (or the name is taken: GET says which)
            return await self.get_provider(uuid)

    async def list_providers(self, **filters: Any) -> list[dict[str, Any]]:
        """GET /resource_providers; filters: name, uuid, in_tree, resources ({class: amount}),
        required (trait names, "!" for forbidden), member_of (aggregate uuids, or lists of them: any of)."""
        params: list[tuple[str, str]] = []
        for key, value in filters.items():
            if value is None:
                continue
            if key == "resources":
                params.append(("resources", ",".join(f"{rc}:{amount}" for rc, amount in value.items())))
            elif key == "required":
                params.append(("required", ",".join(value)))
            elif key == "member_of":
                params += _member_of("member_of", value)
            else:
                params.append((key, str(value)))
        return (await self._request("GET", "/resource_providers", params=params)).json()["resource_providers"]

    async def delete_provider(self, uuid: str) -> None:
        """Delete the provider (a missing one is already deleted)."""
        try:
            await self._request("DELETE", f"/resource_providers/{uuid}")
        except errors.NotFound:
            pass

    async def provider_usages(self, uuid: str) -> dict[str, int]:
        return (await self._request("GET", f"/resource_providers/{uuid}/usages")).json()["usages"]

    async def provider_allocations(self, uuid: str) -> dict[str, Any]:
        return (await self._request("GET", f"/resource_providers/{uuid}/allocations")).json()["allocations"]

    # -- inventories, traits, aggregates (generation-guarded: re-read and retry) -------------------
    async def get_inventories(self, uuid: str) -> dict[str, Any]:
        return (await self._request("GET", f"/resource_providers/{uuid}/inventories")).json()

    async def set_inventory(self, uuid: str, inventories: dict[str, dict[str, Any]]) -> None:
        """Make the provider's inventories exactly these ({class: {total, reserved, ...}}); nothing
        is written when they already are.  A class with allocations cannot be removed (Conflict)."""
        wanted = {rc: {**INVENTORY_DEFAULTS, **fields} for rc, fields in inventories.items()}
        for attempt in range(RETRIES):
            current = await self.get_inventories(uuid)
            if current["inventories"] == wanted:
                return
            try:
                await self._request("PUT", f"/resource_providers/{uuid}/inventories", json={
                    "resource_provider_generation": current["resource_provider_generation"], "inventories": wanted})
                return
            except errors.Conflict as err:
                if not _is_concurrent_update(err) or attempt == RETRIES - 1:
                    raise
                LOG.debug("inventory of %s changed meanwhile, retrying", uuid)

    async def get_traits(self, uuid: str) -> dict[str, Any]:
        return (await self._request("GET", f"/resource_providers/{uuid}/traits")).json()

    async def set_traits(self, uuid: str, traits: Iterable[str]) -> None:
        """Make the provider's traits exactly these (CUSTOM_ ones are created as needed)."""
        wanted = sorted(set(traits))
        for trait in wanted:
            if trait.startswith("CUSTOM_"):
                await self._request("PUT", f"/traits/{trait}")
        for attempt in range(RETRIES):
            current = await self.get_traits(uuid)
            if sorted(current["traits"]) == wanted:
                return
            try:
                await self._request("PUT", f"/resource_providers/{uuid}/traits", json={
                    "resource_provider_generation": current["resource_provider_generation"], "traits": wanted})
                return
            except errors.Conflict as err:
                if not _is_concurrent_update(err) or attempt == RETRIES - 1:
                    raise

    async def get_aggregates(self, uuid: str) -> dict[str, Any]:
        return (await self._request("GET", f"/resource_providers/{uuid}/aggregates")).json()

    async def set_aggregates(self, uuid: str, aggregates: Iterable[str]) -> None:
        wanted = sorted(set(aggregates))
        for attempt in range(RETRIES):
            current = await self.get_aggregates(uuid)
            if sorted(current["aggregates"]) == wanted:
                return
            try:
                await self._request("PUT", f"/resource_providers/{uuid}/aggregates", json={
                    "resource_provider_generation": current["resource_provider_generation"], "aggregates": wanted})
                return
            except errors.Conflict as err:
                if not _is_concurrent_update(err) or attempt == RETRIES - 1:
                    raise

    # -- scheduling ------------------------------------------------------------------------------
    async def allocation_candidates(self, resources: dict[str, int], *, required: Iterable[str] = (),
                                    forbidden: Iterable[str] = (), member_of: Iterable[Any] = (),
                                    in_tree: str | None = None, limit: int | None = None,
                                    root_required: Iterable[str] = ()) -> dict[str, Any]:
        """GET /allocation_candidates for one (unsuffixed) request group: the API's body,
        {"allocation_requests": [...], "provider_summaries": {...}}.  `member_of` items are
        aggregate uuids, or lists of them (any of the list)."""
        params: list[tuple[str, str]] = [("resources", ",".join(f"{rc}:{n}" for rc, n in resources.items()))]
        traits = list(required) + [f"!{trait}" for trait in forbidden]
        if traits:
            params.append(("required", ",".join(traits)))
        params += _member_of("member_of", member_of)
        if in_tree is not None:
            params.append(("in_tree", in_tree))
        if limit is not None:
            params.append(("limit", str(limit)))
        if root_required:
            params.append(("root_required", ",".join(root_required)))
        return (await self._request("GET", "/allocation_candidates", params=params)).json()

    async def claim(self, consumer_uuid: str, allocation_request: dict[str, Any], project_id: str, user_id: str,
                    consumer_generation: int | None = None, consumer_type: str = "INSTANCE") -> bool:
        """Claim one allocation request (an item of `allocation_requests`) for the consumer.
        False when it no longer fits, or the consumer changed meanwhile (409): the scheduler
        moves on to its next candidate."""
        allocations = allocation_request.get("allocations", allocation_request)
        try:
            await self.put_allocations(consumer_uuid, allocations, project_id, user_id, consumer_generation,
                                       consumer_type)
            return True
        except errors.Conflict as err:
            LOG.info("claim for %s refused: %s", consumer_uuid, err.message)
            return False

    async def get_allocations(self, consumer_uuid: str) -> dict[str, Any]:
        """{"allocations": {rp: {"generation", "resources"}}, and when it has any: project_id,
        user_id, consumer_generation, consumer_type}."""
        return (await self._request("GET", f"/allocations/{consumer_uuid}")).json()

    async def put_allocations(self, consumer_uuid: str, allocations: dict[str, Any], project_id: str, user_id: str,
                              consumer_generation: int | None, consumer_type: str = "INSTANCE") -> None:
        await self._request("PUT", f"/allocations/{consumer_uuid}", json={
            "allocations": _resources_only(allocations), "project_id": project_id, "user_id": user_id,
            "consumer_generation": consumer_generation, "consumer_type": consumer_type})

    async def delete_allocations(self, consumer_uuid: str) -> None:
        """Remove all the consumer's allocations (none is fine)."""
        try:
            await self._request("DELETE", f"/allocations/{consumer_uuid}")
        except errors.NotFound:
            pass

    async def move_allocations(self, source_consumer: str, target_consumer: str,
                               consumer_type: str = "MIGRATION") -> bool:
        """Give the source consumer's allocations to the target consumer in one atomic POST
        /allocations (resize/migrate: the instance's allocations move to the migration record).
        False when the source has none."""
        for attempt in range(RETRIES):
            source = await self.get_allocations(source_consumer)
            if not source["allocations"]:
                return False
            target = await self.get_allocations(target_consumer)
            body = {
                target_consumer: {"allocations": _resources_only(source["allocations"]),
                                  "project_id": source["project_id"], "user_id": source["user_id"],
                                  "consumer_generation": target.get("consumer_generation"),
                                  "consumer_type": consumer_type},
                source_consumer: {"allocations": {}, "project_id": source["project_id"],
                                  "user_id": source["user_id"],
                                  "consumer_generation": source["consumer_generation"],
                                  "consumer_type": source.get("consumer_type", "INSTANCE")},
            }
            try:
                await self._request("POST", "/allocations", json=body)
                return True
            except errors.Conflict as err:
                if not _is_concurrent_update(err) or attempt == RETRIES - 1:
                    raise
        return False

    async def usages(self, project_id: str, user_id: str | None = None) -> dict[str, Any]:
        params = {"project_id": project_id, **({"user_id": user_id} if user_id else {})}
        return (await self._request("GET", "/usages", params=params)).json()["usages"]


def _resources_only(allocations: dict[str, Any]) -> dict[str, Any]:
    """{rp: {"resources": {...}}} from allocations as GET returns them (with generations) or as
    allocation candidates give them."""
    return {rp: {"resources": dict(entry["resources"])} for rp, entry in allocations.items()}


def _member_of(key: str, member_of: Iterable[Any]) -> list[tuple[str, str]]:
    params = []
    for item in member_of:
        if isinstance(item, str):
            params.append((key, item))
        else:
            item = list(item)
            params.append((key, item[0] if len(item) == 1 else "in:" + ",".join(item)))
    return params
