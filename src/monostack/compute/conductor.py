"""The conductor: the control-plane side of builds and deletes.

`build` schedules each new server (scheduler.manager) and hands it to the
chosen host's agent over the bus (topic "compute", server = host).  An agent
whose build fails asks for `reschedule`: the claim is dropped and the next
host is tried, up to [compute] max_attempts, then the server goes to ERROR
with the reason in its fault.  Servers of one server group are scheduled one
after another, so each decision sees where the previous ones went.

Served on the bus topic "conductor", so agents on other hosts reach it too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from monostack.common.context import RequestContext, use_context
from monostack.compute import states
from monostack.compute.scheduler.host_state import RequestSpec
from monostack.compute.scheduler.manager import NoValidHost, Scheduler

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

LOG = logging.getLogger(__name__)
SCHEDULING_CONCURRENCY = 16


class Conductor:
    def __init__(self, svc: "ComputeService", scheduler: Scheduler, placement: Any, bus: Any):
        self.svc = svc
        self.scheduler = scheduler
        self.placement = placement
        self.bus = bus
        self._group_locks: dict[str, asyncio.Lock] = {}
        self._scheduling = asyncio.Semaphore(SCHEDULING_CONCURRENCY)
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Any) -> None:
        """Background work the API does not wait for (kept referenced until done)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- builds -------------------------------------------------------------------------
    async def build(self, ctx: RequestContext, uuids: list[str]) -> None:
        with use_context(ctx):
            results = await asyncio.gather(*(self._schedule(ctx, uuid) for uuid in uuids), return_exceptions=True)
        for uuid, result in zip(uuids, results):
            if isinstance(result, Exception):  # never leave a server in BUILD without a word
                LOG.error("build of %s failed before it reached a host: %r", uuid, result)
                await asyncio.to_thread(self.svc.servers.set_error, uuid, f"Build failed: {result}")

    async def _schedule(self, ctx: RequestContext, uuid: str) -> None:
        group = await asyncio.to_thread(self.svc.groups.group_of, uuid)
        if group is None:
            await self._schedule_one(ctx, uuid, None)
            return
        async with self._group_locks.setdefault(group["id"], asyncio.Lock()):
            await self._schedule_one(ctx, uuid, group)

    async def _schedule_one(self, ctx: RequestContext, uuid: str, group: dict[str, Any] | None) -> None:
        begun = await asyncio.to_thread(self._begin, ctx, uuid, group)
        if begun is None:
            return
        row, spec = begun
        try:
            host = await self._select(spec, boot_from_volume=not row.image_ref)
        except Exception as err:  # NoValidHost, or Placement out of reach after the retries
            message = err.message if isinstance(err, NoValidHost) else f"Scheduling failed: {err}"
            LOG.warning("server %s: %s", uuid, message)
            await self.placement.delete_allocations(uuid)
            await asyncio.to_thread(self.svc.servers.set_error, uuid, message, code=500)
            await asyncio.to_thread(self.svc.actions.event, uuid, self._request_id(ctx, row),
                                    "conductor_schedule_and_build_instances", error=err)
            self.svc.notify("compute.instance.create.error", {"instance_id": uuid, "message": message})
            return
        if await asyncio.to_thread(self._place, ctx, row, host) is None:  # deleted while we scheduled
            await self.placement.delete_allocations(uuid)
            return
        await self.bus.cast("compute", "build", ctx, server=host.host, instance_uuid=uuid)

    # The database work of a decision is two thread trips, one before and one after it: every
    # trip waits for a worker thread and the event loop again, on the way to the guest's start.
    def _begin(self, ctx: RequestContext, uuid: str, group: dict[str, Any] | None) -> tuple[Any, RequestSpec] | None:
        """The server's row and request spec, its scheduling event begun; None when it no longer
        waits for a host."""
        row = self.svc.servers.by_uuid(uuid)
        if row is None or row.deleted or row.task_state != states.SCHEDULING:
            return None
        self.svc.actions.event(uuid, self._request_id(ctx, row), "conductor_schedule_and_build_instances",
                               start=True)
        return row, self._spec(row, group)

    def _place(self, ctx: RequestContext, row: Any, host: Any) -> Any:
        """The server on its host (None: deleted meanwhile), the scheduling event finished."""
        placed = self.svc.servers.finish(
            row.uuid, expected_task=states.SCHEDULING, host=host.host, node=host.node,
            availability_zone=row.availability_zone or host.zone, build_attempts=(row.build_attempts or 0) + 1,
            tried_hosts=[*(row.tried_hosts or []), host.host])
        self.svc.actions.event(row.uuid, self._request_id(ctx, row), "conductor_schedule_and_build_instances")
        return placed

    async def _select(self, spec: RequestSpec, *, boot_from_volume: bool) -> Any:
        """A host, claimed; a Placement that does not answer is asked again (three times in all),
        and at most SCHEDULING_CONCURRENCY decisions run at once, so a burst of builds queues
        here instead of exhausting Placement's connections."""
        async with self._scheduling:
            for attempt in range(3):
                try:
                    return await self.scheduler.select_and_claim(spec, boot_from_volume=boot_from_volume)
                except NoValidHost:
                    raise
                except Exception as err:
                    if attempt == 2:
                        raise
                    LOG.warning("scheduling %s failed (%s), retrying", spec.instance_uuid, err)
                    await asyncio.sleep(0.5 * (attempt + 1))

    def _request_id(self, ctx: RequestContext, row: Any) -> str:
        return ctx.request_id

    def _spec(self, row: Any, group: dict[str, Any] | None) -> RequestSpec:
        zone, requested_host = row.requested_az, None
        if zone and ":" in zone:  # "zone:host" (admin): pin the host
            zone, _, requested_host = zone.partition(":")
        group_hosts: dict[str, int] = {}
        if group is not None:
            for member in self.svc.servers.list(RequestContext.service(), project_id=None,
                                                uuids=[m for m in group["members"] if m != row.uuid]):
                if member.host:
                    group_hosts[member.host] = group_hosts.get(member.host, 0) + 1
        return RequestSpec(instance_uuid=row.uuid, project_id=row.project_id, user_id=row.user_id,
                           flavor=row.flavor, image=row.image_meta, availability_zone=zone or None,
                           requested_host=requested_host or (row.scheduler_hints or {}).get("_requested_host"),
                           group=group, group_hosts=group_hosts, ignore_hosts=set(row.tried_hosts or []))

    # -- called by agents -----------------------------------------------------------------
    async def reschedule(self, instance_uuid: str, failed_host: str, reason: str,
                         context: RequestContext | None = None) -> None:
        """A build failed on `failed_host`: try another host, or fail the server."""
        ctx = context or RequestContext.service()
        await self.placement.delete_allocations(instance_uuid)
        row = await asyncio.to_thread(self.svc.servers.by_uuid, instance_uuid)
        if row is None or row.deleted:
            return
        if (row.build_attempts or 0) >= self.svc.conf.compute.max_attempts or row.requested_az and ":" in row.requested_az:
            message = f"Build of instance {instance_uuid} aborted: {reason}"
            if (row.build_attempts or 0) >= self.svc.conf.compute.max_attempts:
                message = (f"Exceeded maximum number of retries. Exhausted all hosts available for retrying "
                           f"build failures for instance {instance_uuid}.")
            await asyncio.to_thread(self.svc.servers.set_error, instance_uuid, message, code=500, details=reason)
            return
        await asyncio.to_thread(self.svc.servers.finish, instance_uuid, host=None, node=None,
                                vm_state=states.BUILDING, task_state=states.SCHEDULING)
        await self._schedule(ctx, instance_uuid)

    # -- deletes ----------------------------------------------------------------------------
    async def local_delete(self, instance_uuid: str) -> None:
        """Delete a server no agent will handle (never placed, shelved-offloaded, or its host is
        down): its ports and volume attachments go too (Nova's _local_delete)."""
        row = await asyncio.to_thread(self.svc.servers.by_uuid, instance_uuid)
        if row is not None and self.svc.network is not None:
            try:
                await self.svc.network.deallocate(row)
            except Exception:  # the ports stay; deleting the server must not fail on them
                LOG.exception("could not release the ports of %s", instance_uuid)
        if self.svc.volumes is not None:
            await self.svc.volumes.release(instance_uuid,
                                           await asyncio.to_thread(self.svc.servers.block_devices, instance_uuid))
        await self.placement.delete_allocations(instance_uuid)
        await asyncio.to_thread(self.svc.servers.mark_deleted, instance_uuid)
        self.svc.notify("compute.instance.delete.end", {"instance_id": instance_uuid})

    # -- start-up -----------------------------------------------------------------------------
    async def recover(self) -> None:
        """Servers created but never placed (the cloud stopped while scheduling) are scheduled now."""
        rows = await asyncio.to_thread(self.svc.servers.unplaced_builds)
        for row in rows:
            if row.task_state == states.DELETING:
                await self.local_delete(row.uuid)
            else:
                self.spawn(self._schedule(RequestContext.service(), row.uuid))

    # -- requests from the API ----------------------------------------------------------------
    async def delete(self, ctx: RequestContext, row: Any) -> None:
        """Begin a delete: the host's agent destroys the guest; with no (live) agent, delete here."""
        row = await asyncio.to_thread(self.svc.servers.begin, ctx, row.uuid, "delete", record_as="delete")
        if row.host and await asyncio.to_thread(self._agent_up, row.host):
            await self.bus.cast("compute", "delete", ctx, server=row.host, instance_uuid=row.uuid)
        else:
            await self.local_delete(row.uuid)

    async def act(self, ctx: RequestContext, server_id: str, action: str, *, record_as: str,
                  args: dict[str, Any] | None = None, check_lock: bool = True, **changes: Any) -> Any:
        """Begin an action (state checks, task_state) and hand it to the server's agent."""
        row = await asyncio.to_thread(self.svc.servers.begin, ctx, server_id, action, record_as=record_as,
                                      check_lock=check_lock, **changes)
        if not row.host or not await asyncio.to_thread(self._agent_up, row.host):
            await asyncio.to_thread(self.svc.servers.finish, row.uuid, task_state=None)
            from monostack.common import errors
            raise errors.Conflict(f"Compute service of {row.host or 'the server'} is unavailable at this time.")
        await self.bus.cast("compute", "action", ctx, server=row.host, instance_uuid=row.uuid, action=action,
                            args=args or {})
        return row

    async def call_agent(self, row: Any, method: str, *, timeout: float = 30, **kwargs: Any) -> Any:
        from monostack.common import errors
        if not row.host or not await asyncio.to_thread(self._agent_up, row.host):
            raise errors.Conflict(f"Compute service of {row.host or 'the server'} is unavailable at this time.")
        return await self.bus.call("compute", method, server=row.host, timeout=timeout, **kwargs)

    def _agent_up(self, host: str) -> bool:
        service = self.svc.hosts.service(host)
        return service is not None and self.svc.hosts.is_up(service)

    async def unshelve_offloaded(self, ctx: RequestContext, row: Any) -> None:
        """An offloaded server has no host: schedule it again, then its new agent boots it."""
        row = await asyncio.to_thread(self.svc.servers.begin, ctx, row.uuid, "unshelve", record_as="unshelve")
        group = await asyncio.to_thread(self.svc.groups.group_of, row.uuid)
        spec = await asyncio.to_thread(self._spec, row, group)
        spec.ignore_hosts = set()
        try:
            host = await self.scheduler.select_and_claim(spec, boot_from_volume=not row.image_ref)
        except NoValidHost as err:
            await asyncio.to_thread(self.svc.servers.add_fault, row.uuid, err.message)
            await asyncio.to_thread(self.svc.servers.finish, row.uuid, task_state=None)
            return
        await asyncio.to_thread(self.svc.servers.finish, row.uuid, host=host.host, node=host.node)
        await self.bus.cast("compute", "action", ctx, server=host.host, instance_uuid=row.uuid, action="unshelve",
                            args={})
