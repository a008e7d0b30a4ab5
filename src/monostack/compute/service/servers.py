"""Servers: the rows the API creates and the agents drive through the lifecycle
in monostack.compute.states.

The API resolves what needs other services (image, flavor, networks) and
hands a complete request to `create`, which writes every server of a
multi-create in one transaction with the quota check, so a refused request
leaves nothing behind.  Actions go through `begin` (lock and state checks,
task_state set, instance action recorded, all at once) and end in `finish`,
which the agents call.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import secrets
import string
import uuid as uuidlib
from typing import TYPE_CHECKING, Any, Iterable

import sqlalchemy as sa

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.compute import models, states
from monostack.compute.service import utcnow

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

_HOSTNAME_BAD = re.compile(r"[^\w.-]+")


def sanitize_hostname(name: str, default: str = "server") -> str:
    """Nova's rule (the hostname before 2.90 named it): Latin-1 letters, digits and dashes,
    at most 63 characters; spaces, underscores and dots become dashes (so an FQDN-like
    name is not taken for a domain)."""
    host = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    host = _HOSTNAME_BAD.sub("", re.sub(r"[ _.]", "-", host)).lower().strip(".-")
    return host or default[:63]


def canonical_ip(value: str | None) -> str | None:
    """Access IPs are kept in canonical form, as Nova's IP column keeps them
    ('0:0:0:0:0:babe:220.12.22.2' is shown as '::babe:dc0c:1602')."""
    if not value:
        return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise errors.BadRequest(f"{value} is not a valid IP address.") from None


def _canonical_ips(fields: dict[str, Any]) -> None:
    for key in ("access_ip_v4", "access_ip_v6"):
        if key in fields:
            fields[key] = canonical_ip(fields[key])


# A disk's name says its bus, as Nova names them (blockinfo's prefixes): vda on virtio, sda on
# SCSI (a SCSI disk's target follows its name), hda on IDE.
DEVICE_PREFIXES = {"virtio": "/dev/vd", "scsi": "/dev/sd", "sata": "/dev/sd", "usb": "/dev/sd", "ide": "/dev/hd",
                   "xen": "/dev/xvd"}


def disk_bus(image_meta: dict[str, Any] | None) -> str:
    """The bus an image's disks go on (hw_disk_bus; virtio when it says nothing)."""
    return str(((image_meta or {}).get("properties") or {}).get("hw_disk_bus") or "virtio")


def device_prefix(bus: str | None) -> str:
    return DEVICE_PREFIXES.get(bus or "virtio", "/dev/vd")


def on_bus(name: str | None, prefix: str) -> bool:
    """The name is one of the prefix's bus (a name of another bus is not kept: libvirt too names a
    disk after the bus it is on)."""
    return bool(name) and str(name).rsplit("/", 1)[-1].startswith(prefix.rsplit("/", 1)[-1])


def next_device_name(taken: Iterable[str | None], prefix: str = "/dev/vd") -> str:
    """The first free name on the prefix's bus after its root disk (vda): /dev/vdb, ..., /dev/vdz, /dev/vdaa."""
    base = prefix.rsplit("/", 1)[-1]
    used = {name.rsplit("/", 1)[-1] for name in taken if name} | {f"{base}a"}
    letters = string.ascii_lowercase
    candidates = [a for a in letters] + [a + b for a in letters for b in letters]
    for suffix in candidates:
        if f"{base}{suffix}" not in used:
            return f"{prefix}{suffix}"
    raise errors.BadRequest(f"No free disk device names for prefix '{base}'")


def flavor_disk_names(flavor: dict[str, Any], prefix: str = "/dev/vd") -> list[str]:
    """The names the flavor's ephemeral and swap disks take after the root disk, as Nova gives
    them (/dev/vdb, /dev/vdc): the guest sees them before any volume (their places come first)."""
    names: list[str] = []
    for present in (flavor.get("ephemeral"), flavor.get("swap")):
        if present:
            names.append(next_device_name(names, prefix))
    return names


def name_block_devices(bdms: list[dict[str, Any]], flavor: dict[str, Any],
                       image_meta: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A create's mappings with their device names and buses: the names asked for kept, a boot
    volume the root disk's name, the other volumes the next free names after the flavor's own
    disks, each volume on its own disk_bus or the image's (Nova names them so at build; the API
    shows them in os-volume_attachments)."""
    bus = disk_bus(image_meta)
    taken = {device_prefix(bus) + "a", *flavor_disk_names(flavor, device_prefix(bus))}
    taken |= {b["device_name"] for b in bdms
              if b.get("device_name") and on_bus(b["device_name"], device_prefix(b.get("disk_bus") or bus))}
    named = []
    for bdm in bdms:
        name, own_bus = bdm.get("device_name"), bdm.get("disk_bus")
        if bdm.get("destination_type") == "volume":
            own_bus = own_bus or bus
            prefix = device_prefix(own_bus)
            if not on_bus(name, prefix):
                name = prefix + "a" if bdm.get("boot_index") == 0 else next_device_name(taken, prefix)
                taken.add(name)
        named.append({**bdm, "device_name": name, "disk_bus": own_bus})
    return named


def reservation_id() -> str:
    return "r-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


class ServerManager:
    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    # -- reading -----------------------------------------------------------------------
    def get(self, ctx: RequestContext, server_id: str, *, deleted: bool = False) -> models.Instance:
        """The server if the caller may see it (another project's: 404, as Nova)."""
        with self.svc.db.reader() as session:
            row = session.scalar(sa.select(models.Instance).where(models.Instance.uuid == server_id))
        if row is None or (row.deleted and not deleted) or not self._visible(ctx, row):
            raise errors.NotFound(f"Instance {server_id} could not be found.")
        return row

    def by_uuid(self, server_id: str) -> models.Instance | None:
        with self.svc.db.reader() as session:
            return session.scalar(sa.select(models.Instance).where(models.Instance.uuid == server_id))

    def _visible(self, ctx: RequestContext, row: models.Instance) -> bool:
        return ctx.is_admin or row.project_id == ctx.project_id

    def list(self, ctx: RequestContext, *, project_id: str | None, deleted: bool | None = False,
             changes_since: datetime.datetime | None = None, changes_before: datetime.datetime | None = None,
             host: str | None = None, uuids: Iterable[str] | None = None) -> list[models.Instance]:
        """Servers in creation order (newest first), prefiltered in SQL; the API filters the rest."""
        query = sa.select(models.Instance)
        if project_id is not None:
            query = query.where(models.Instance.project_id == project_id)
        if changes_since is not None:
            query = query.where(models.Instance.updated_at >= changes_since)
        elif deleted is not None:
            query = query.where(models.Instance.deleted.is_(deleted))
        if changes_before is not None:
            query = query.where(models.Instance.updated_at <= changes_before)
        if host is not None:
            query = query.where(models.Instance.host == host)
        if uuids is not None:
            query = query.where(models.Instance.uuid.in_(list(uuids)))
        query = query.order_by(models.Instance.created_at.desc(), models.Instance.id.desc())
        with self.svc.db.reader() as session:
            return list(session.scalars(query).all())

    def on_host(self, host: str) -> list[models.Instance]:
        with self.svc.db.reader() as session:
            return list(session.scalars(sa.select(models.Instance).where(
                models.Instance.host == host, models.Instance.deleted.is_(False))).all())

    def unplaced_builds(self) -> list[models.Instance]:
        """Servers still waiting for a host (their scheduling was cut short)."""
        with self.svc.db.reader() as session:
            return list(session.scalars(sa.select(models.Instance).where(
                models.Instance.vm_state == states.BUILDING, models.Instance.deleted.is_(False),
                models.Instance.host.is_(None))).all())

    # -- creating ----------------------------------------------------------------------
    def create(self, ctx: RequestContext, req: dict[str, Any]) -> list[models.Instance]:
        """Every server of the request, BUILD/scheduling, or a 4xx and nothing written."""
        flavor = req["flavor"]
        now = utcnow()
        rid = reservation_id()
        with self.svc.db.writer() as session:
            count = self._quota_count(session, ctx, req["min_count"], req["max_count"], flavor)
            rows = []
            for index in range(count):
                name = req["name"]
                if count > 1:
                    name = f"{req['name']}-{index + 1}"
                hostname = req.get("hostname")
                if hostname and count > 1:
                    hostname = f"{hostname}-{index + 1}"
                server_uuid = str(uuidlib.uuid4())
                row = models.Instance(
                    uuid=server_uuid, project_id=ctx.project_id, user_id=ctx.user_id,
                    display_name=name, display_description=req.get("description"),
                    hostname=hostname or sanitize_hostname(name, f"Server-{server_uuid}"), flavor=flavor,
                    vcpus=flavor["vcpus"], memory_mb=flavor["ram"], root_gb=flavor["disk"],
                    ephemeral_gb=flavor["ephemeral"], image_ref=(req.get("image") or {}).get("id") or "",
                    image_meta=req.get("image"), key_name=(req.get("key") or {}).get("name"),
                    key_data=(req.get("key") or {}).get("public_key"), user_data=req.get("user_data"),
                    injected_files=req.get("injected_files"), config_drive=bool(req.get("config_drive")), vm_state=states.BUILDING,
                    task_state=states.SCHEDULING, power_state=states.NOSTATE, locked=False,
                    access_ip_v4=canonical_ip(req.get("access_ip_v4")),
                    access_ip_v6=canonical_ip(req.get("access_ip_v6")),
                    disk_config=req.get("disk_config") or "MANUAL", progress=0, reservation_id=rid,
                    launch_index=index, root_device_name=device_prefix(disk_bus(req.get("image"))) + "a",
                    requested_networks=req.get("requested_networks"), network_info=[],
                    security_groups=req.get("security_groups") or ["default"],
                    scheduler_hints=req.get("scheduler_hints") or {}, requested_az=req.get("availability_zone"),
                    availability_zone=req.get("availability_zone"), build_attempts=0, tried_hosts=[],
                    created_at=now, updated_at=now, deleted=False)
                row.metadata_items = [models.InstanceMetadata(key=k, value=v)
                                      for k, v in (req.get("metadata") or {}).items()]
                row.tags = [models.InstanceTag(tag=t) for t in dict.fromkeys(req.get("tags") or [])]
                session.add(row)
                session.flush()
                for bdm in name_block_devices(req.get("bdms") or [], flavor, req.get("image")):
                    session.add(models.BlockDeviceMapping(uuid=str(uuidlib.uuid4()), instance_uuid=row.uuid,
                                                          created_at=now, **bdm))
                if req.get("group_uuid"):
                    self.svc.groups.add_member(session, req["group_uuid"], row.uuid, ctx)
                self.svc.actions.start(session, ctx, row.uuid, "create")
                rows.append(row)
        return rows

    def _quota_count(self, session: Any, ctx: RequestContext, min_count: int, max_count: int,
                     flavor: dict[str, Any]) -> int:
        """As many servers as the quota allows between min_count and max_count (Nova's rule)."""
        def fits(count: int) -> bool:
            self.svc.quotas.check_servers(session, ctx.project_id, ctx.user_id, instances=count,
                                          cores=flavor["vcpus"] * count, ram=flavor["ram"] * count)
            return True

        try:
            fits(max_count)
            return max_count
        except errors.Forbidden:
            if min_count == max_count:
                raise
        low, high = min_count, max_count - 1
        fits(low)  # raises the quota error when not even min_count fits
        while low < high:
            middle = (low + high + 1) // 2
            try:
                fits(middle)
                low = middle
            except errors.Forbidden:
                high = middle - 1
        return low

    # -- changing ----------------------------------------------------------------------
    def update(self, ctx: RequestContext, server_id: str, fields: dict[str, Any]) -> models.Instance:
        fields = dict(fields)
        _canonical_ips(fields)
        with self.svc.db.writer() as session:
            row = self.for_update(session, ctx, server_id)
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
        return row

    def for_update(self, session: Any, ctx: RequestContext | None, server_id: str) -> models.Instance:
        row = session.scalar(sa.select(models.Instance).where(models.Instance.uuid == server_id))
        if row is None or row.deleted or (ctx is not None and not self._visible(ctx, row)):
            raise errors.NotFound(f"Instance {server_id} could not be found.")
        return row

    def check_lock(self, ctx: RequestContext, row: models.Instance) -> None:
        """A locked server refuses changes from anyone but an admin (Nova: 409)."""
        if row.locked and not ctx.is_admin:
            raise errors.Conflict(f"Instance {row.uuid} is locked")

    def begin(self, ctx: RequestContext, server_id: str, action_name: str, *, record_as: str | None = None,
              check_lock: bool = True, **changes: Any) -> models.Instance:
        """Start an action: lock and state checks, task_state set, instance action recorded."""
        _canonical_ips(changes)
        with self.svc.db.writer() as session:
            row = self.for_update(session, ctx, server_id)
            if check_lock:
                self.check_lock(ctx, row)
            action = states.check(action_name, row.uuid, row.vm_state, row.task_state)
            if action.task is not None:
                row.task_state = action.task
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            if record_as is not None:
                self.svc.actions.start(session, ctx, row.uuid, record_as)
        return row

    def finish(self, server_id: str, *, expected_task: Any = ..., **changes: Any) -> models.Instance | None:
        """The agent's update at the end (or a step) of work; None when the server is gone.

        expected_task: the task_state the work started under; when another
        request replaced it meanwhile (a delete), the update is skipped.
        """
        with self.svc.db.writer() as session:
            row = session.scalar(sa.select(models.Instance).where(models.Instance.uuid == server_id))
            if row is None or row.deleted:
                return None
            if expected_task is not ... and row.task_state != expected_task:
                return None
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
        return row

    def add_fault(self, server_id: str, message: str, *, code: int = 500, details: str | None = None,
                  host: str | None = None) -> None:
        with self.svc.db.writer() as session:
            session.add(models.InstanceFault(instance_uuid=server_id, code=code, message=message[:255],
                                             details=details, host=host, created_at=utcnow()))

    def set_error(self, server_id: str, message: str, *, code: int = 500, details: str | None = None,
                  host: str | None = None) -> None:
        """ERROR with a fault the API shows (e.g. NoValidHost), and no task."""
        self.add_fault(server_id, message, code=code, details=details, host=host)
        self.finish(server_id, vm_state=states.ERROR, task_state=None)

    def mark_deleted(self, server_id: str) -> None:
        """The end of a delete: the row stays (changes-since, usage) as DELETED."""
        now = utcnow()
        with self.svc.db.writer() as session:
            row = session.scalar(sa.select(models.Instance).where(models.Instance.uuid == server_id))
            if row is None or row.deleted:
                return
            row.vm_state, row.task_state, row.power_state = states.DELETED, None, states.NOSTATE
            row.deleted, row.deleted_at, row.terminated_at, row.updated_at = True, now, now, now
            self.svc.groups.remove_member(session, server_id)

    def block_devices(self, server_id: str) -> list[models.BlockDeviceMapping]:
        with self.svc.db.reader() as session:
            return list(session.scalars(sa.select(models.BlockDeviceMapping).where(
                models.BlockDeviceMapping.instance_uuid == server_id).order_by(models.BlockDeviceMapping.id)).all())

    def volumes(self, server_id: str) -> list[models.BlockDeviceMapping]:
        """The server's volume mappings (a volume-backed server's boot volume has boot_index 0)."""
        return [b for b in self.block_devices(server_id) if b.destination_type == "volume" and b.volume_id]

    def add_block_device(self, server_id: str, **fields: Any) -> models.BlockDeviceMapping:
        """A volume attached later (os-volume_attachments); device_name picked when not given."""
        with self.svc.db.writer() as session:
            taken = set(session.scalars(sa.select(models.BlockDeviceMapping.device_name).where(
                models.BlockDeviceMapping.instance_uuid == server_id)).all())
            server = session.scalar(sa.select(models.Instance).where(models.Instance.uuid == server_id))
            server_bus = disk_bus(server.image_meta if server is not None else None)
            bus = fields["disk_bus"] = fields.get("disk_bus") or server_bus
            if server is not None:
                taken.update(flavor_disk_names(server.flavor or {}, device_prefix(server_bus)))
            name = fields.get("device_name")
            if name in taken or not on_bus(name, device_prefix(bus)):
                fields["device_name"] = next_device_name(taken, device_prefix(bus))
            bdm = models.BlockDeviceMapping(uuid=str(uuidlib.uuid4()), instance_uuid=server_id,
                                            created_at=utcnow(), **fields)
            session.add(bdm)
            session.flush()
            session.expunge(bdm)
            return bdm

    def update_block_device(self, bdm_uuid: str, **changes: Any) -> None:
        with self.svc.db.writer() as session:
            bdm = session.scalar(sa.select(models.BlockDeviceMapping).where(models.BlockDeviceMapping.uuid == bdm_uuid))
            if bdm is not None:
                for key, value in changes.items():
                    setattr(bdm, key, value)

    def remove_block_device(self, bdm_uuid: str) -> None:
        with self.svc.db.writer() as session:
            session.execute(sa.delete(models.BlockDeviceMapping).where(models.BlockDeviceMapping.uuid == bdm_uuid))

    def set_metadata_items(self, session: Any, row: models.Instance, items: dict[str, str]) -> None:
        row.metadata_items = [models.InstanceMetadata(key=k, value=v) for k, v in items.items()]

    # -- migrations (resize, cold and live migration) -------------------------------------
    def start_migration(self, ctx: RequestContext, row: models.Instance, kind: str,
                        new_flavor: dict[str, Any] | None) -> str:
        """A migration record (os-migrations shows it); its uuid holds the source allocation."""
        now = utcnow()
        migration_uuid = str(uuidlib.uuid4())
        with self.svc.db.writer() as session:
            session.add(models.Migration(
                uuid=migration_uuid, instance_uuid=row.uuid, migration_type=kind, status="pre-migrating",
                source_compute=row.host, source_node=row.node, dest_compute=row.host, dest_node=row.node,
                dest_host=None, old_flavor_id=row.flavor.get("id"),
                new_flavor_id=(new_flavor or row.flavor).get("id"), project_id=row.project_id,
                user_id=row.user_id, created_at=now, updated_at=now))
        return migration_uuid

    def migration_status(self, instance_uuid: str, status: str) -> str | None:
        """Set the status of the server's newest migration; returns its uuid (None when none)."""
        with self.svc.db.writer() as session:
            migration = session.scalar(sa.select(models.Migration).where(
                models.Migration.instance_uuid == instance_uuid).order_by(models.Migration.id.desc()))
            if migration is None:
                return None
            migration.status = status
            migration.updated_at = utcnow()
            return migration.uuid
