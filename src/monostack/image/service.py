"""The Image service layer: Glance's use cases over the database and a store.

API handlers parse and authorise the request shape, then call these (blocking
functions, run in worker threads; `Ingest.consume` is the one coroutine: it
receives data on the event loop and hashes and writes it in worker threads).
Every status change goes through `states.MACHINE`.  Visibility follows
Glance: an image is seen by its owner, by everyone when public or community,
by its members when shared, and by admin always; an image a caller may not
see is a 404, never a 403.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import logging
import mmap
import os
import pathlib
import subprocess
import tempfile
import threading
import urllib.parse
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import context as context_mod
from monostack.common import errors
from monostack.common.config import Config
from monostack.common.context import RequestContext
from monostack.common.db import Database
from monostack.common.notify import notify_soon
from monostack.common.policy import Policy
from monostack.image import options  # noqa: F401  (registers the [image] options)
from monostack.image import states
from monostack.image.models import Image, ImageLocation, ImageMember, ImageProperty, ImageTag, ImageTask
from monostack.image.store import Store, load_stores
from monostack.image.store.filesystem import FilesystemStore

if TYPE_CHECKING:
    from monostack.common.bus import Bus

LOG = logging.getLogger(__name__)

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
READONLY = ("created_at", "updated_at", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
            "virtual_size", "direct_url", "self", "file", "schema", "id", "stores")
RESERVED = ("location", "deleted", "deleted_at", "locations")
CORE = ("id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
        "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk", "disk_format",
        "container_format", "created_at", "updated_at", "tags")
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "virtual_size", "id", "created_at",
             "updated_at", "min_ram", "min_disk", "owner", "visibility", "protected", "os_hidden")
HASH_ALGO = "sha512"
BLOCK = 4 << 20  # bytes handed to the hashers and the disk at a time
IN_FLIGHT = 4  # blocks an upload may have queued for its hashers and the disk
MEASURE_SPAN = 4 << 20  # bytes of each end of the data qemu-img sees when the store keeps no local file
IMPORTING_KEY, FAILED_KEY = "os_glance_importing_to_stores", "os_glance_failed_import"
# qemu-img's name of each disk format it can measure.
QEMU_FORMATS = {"qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx", "vdi": "vdi", "ploop": "parallels"}


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def isotime(value: datetime.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _parse_time(value: str) -> datetime.datetime:
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.BadRequest(f"Invalid value {value!r}: not an ISO 8601 time") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def _schema_error(message: str) -> errors.BadRequest:
    return errors.BadRequest(f"Provided object does not match schema 'image': {message}")


# -- validation of image attributes (the JSON schema Glance checks) ----------------------------
def _check_core(key: str, value: Any) -> None:
    if key == "name":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise _schema_error(f"{value!r} is not valid under any of the given schemas")
    elif key == "visibility":
        if value not in VISIBILITIES:
            raise _schema_error(f"{value!r} is not one of {list(VISIBILITIES)}")
    elif key in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise _schema_error(f"{value!r} is not of type 'boolean'")
    elif key == "disk_format":
        if value is not None and value not in DISK_FORMATS:
            raise _schema_error(f"{value!r} is not one of {[None, *DISK_FORMATS]}")
    elif key == "container_format":
        if value is not None and value not in CONTAINER_FORMATS:
            raise _schema_error(f"{value!r} is not one of {[None, *CONTAINER_FORMATS]}")
    elif key in ("min_ram", "min_disk"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 2 ** 31 - 1:
            raise _schema_error(f"{value!r} is not a valid value for '{key}'")
    elif key == "owner":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise _schema_error(f"{value!r} is not valid under any of the given schemas")
    elif key == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) and len(t) <= 255 for t in value):
            raise _schema_error(f"{value!r} is not a valid list of tags")
    elif key == "id":
        try:
            uuid.UUID(str(value))
        except ValueError:
            raise _schema_error(f"{value!r} does not match the uuid format") from None


def _check_extra(key: Any, value: Any) -> None:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise _schema_error(f"{key!r} is not a valid property name")
    if key.startswith("os_glance"):
        raise errors.Forbidden(f"Attribute '{key}' is reserved.")
    if not isinstance(value, str):
        raise _schema_error(f"{value!r} is not of type 'string'")


def image_target(row: Image, ctx: RequestContext) -> dict[str, Any]:
    member = ctx.project_id if ctx.project_id and any(m.member == ctx.project_id for m in row.members) else None
    return {"project_id": row.owner, "member_id": member, "visibility": row.visibility}


class OverQuota(errors.OverLimit):
    pass


def unknown_store(store_id: Any) -> str:
    """glance_store's UnknownScheme message, as Glance returns it for an unknown store id."""
    return f"Unknown scheme '{store_id}' found in URI"


def _store_list(value: str | None) -> list[str]:
    return [item for item in (value or "").split(",") if item]


class RangeNotSatisfiable(errors.APIError):
    code, title = 416, "Requested Range Not Satisfiable"
    default_message = "Requested range not satisfiable"


class Ingest:
    """Receives an image's data: hashes it (md5 and sha512) and writes it to the store as it
    arrives, in blocks handed to worker threads while the next blocks are received.  Never holds
    more than IN_FLIGHT + 1 blocks (see consume)."""

    def __init__(self, svc: "ImageService", image: dict[str, Any], writer: Any, *, limit: int | None,
                 staging: bool, store: Store | None = None):
        self.svc = svc
        self.store = store or svc.store  # where the data goes (the staging area when staging)
        self.image = image
        self.image_id = image["id"]
        self.writer = writer
        self.limit = limit  # most bytes accepted (size cap and quota), None: no limit
        self.staging = staging
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha = hashlib.new(HASH_ALGO)
        self.size = 0

    def _add(self, length: int) -> None:
        self.size += length
        if self.limit is not None and self.size > self.limit:
            raise OverQuota("Image exceeds the storage quota or the image size limit.")

    def feed_blocking(self, data: bytes) -> None:
        """The whole pipeline in the calling thread (imports, tests)."""
        self._add(len(data))
        self.md5.update(data)
        self.sha.update(data)
        self.writer.write(data)

    async def consume(self, chunks: AsyncIterator[bytes]) -> None:
        """Receive on the event loop; md5, sha512 and the disk write each run in a thread of their
        own (hashlib releases the GIL), so the slowest of them sets the pace rather than their sum.
        The chunks are copied into BLOCK-sized page-aligned buffers (few thread hops, few GIL
        hand-overs; the store can write them with O_DIRECT) taken from a pool of IN_FLIGHT + 1,
        so memory stays flat whatever the image's size."""
        loop = asyncio.get_running_loop()
        stages = [(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"image-ingest-{name}"), fn)
                  for name, fn in (("md5", self.md5.update), ("sha", self.sha.update),
                                   ("write", self.writer.write))]
        in_flight: collections.deque[tuple[asyncio.Future, mmap.mmap]] = collections.deque()
        free: list[mmap.mmap] = []
        allocated = 0

        def hand_off(buffer: mmap.mmap, length: int) -> None:
            # one single-threaded executor per stage: each sees the blocks in order
            view = memoryview(buffer)[:length]
            in_flight.append((asyncio.gather(*(loop.run_in_executor(executor, fn, view)
                                               for executor, fn in stages)), buffer))

        async def retire_oldest() -> None:
            future, buffer = in_flight[0]
            await future
            in_flight.popleft()
            free.append(buffer)

        async def take() -> mmap.mmap:
            nonlocal allocated
            if not free and allocated <= IN_FLIGHT:
                allocated += 1
                return mmap.mmap(-1, BLOCK)
            if not free:
                await retire_oldest()
            return free.pop()

        try:
            buffer = await take()
            filled = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                self._add(len(chunk))
                view = memoryview(chunk)
                while view:
                    n = min(len(view), BLOCK - filled)
                    buffer[filled:filled + n] = view[:n]
                    filled += n
                    view = view[n:]
                    if filled == BLOCK:
                        hand_off(buffer, filled)
                        buffer, filled = await take(), 0
            if filled:
                hand_off(buffer, filled)
            while in_flight:
                await retire_oldest()
        finally:
            if in_flight:  # never abort while a write is running: let every stage finish its blocks
                await asyncio.gather(*(future for future, _ in in_flight), return_exceptions=True)
                await asyncio.to_thread(lambda: [executor.shutdown(wait=True) for executor, _ in stages])
            for executor, _ in stages:
                executor.shutdown(wait=False)


@dataclasses.dataclass
class ImportPlan:
    """What one import does (the task's input, resolved)."""
    image: dict[str, Any]
    method: str
    uri: str | None
    limit: int | None
    task_id: str
    stores: list[str]
    must_succeed: bool


class ImageService:
    """`stores` are the enabled backends by id (see store/__init__.py); `store` is the
    filesystem store that stages imports (and the "file" backend when `stores` is not given)."""

    def __init__(self, conf: Config, db: Database, *, store: FilesystemStore | None = None,
                 stores: dict[str, Store] | None = None, bus: "Bus | None" = None,
                 loop: asyncio.AbstractEventLoop | None = None, policy: Policy | None = None):
        from monostack.image import policies
        self.conf = conf
        self.db = db
        self.bus = bus
        self.loop = loop
        if stores is None:
            stores = {store.id: store} if store is not None else load_stores(conf)
        self.backends: dict[str, Store] = stores
        self.default_store = conf.image.default_backend or next(iter(stores))
        if self.default_store not in stores:
            raise ValueError(f"[image] default_backend {self.default_store!r} is not an enabled store")
        if store is None:  # the filesystem backend under store_dir stages too; else a staging-only one
            store = next((s for s in stores.values() if isinstance(s, FilesystemStore)
                          and s.root == pathlib.Path(conf.image.store_dir)), None)
        self.store: FilesystemStore = store or FilesystemStore(conf.image.store_dir, fsync=conf.image.fsync,
                                                               store_id="os_glance_staging_store")
        self.policy = policy or Policy(policies.RULES, policy_file=conf.policy.file,
                                       enforce_scope=conf.policy.enforce_scope,
                                       enforce_new_defaults=conf.policy.enforce_new_defaults)
        self._imports = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="image-import")
        self.import_futures: dict[str, concurrent.futures.Future] = {}

    # -- notifications ---------------------------------------------------------------------
    def notify(self, event_type: str, payload: dict[str, Any]) -> None:
        notify_soon(self.bus, self.loop, event_type, payload, publisher_id="image")

    # -- views -----------------------------------------------------------------------------
    @staticmethod
    def view(row: Image) -> dict[str, Any]:
        image: dict[str, Any] = {p.name: p.value for p in row.properties}
        image.update({
            "id": row.id, "name": row.name, "status": row.status, "visibility": row.visibility,
            "protected": bool(row.protected), "os_hidden": bool(row.os_hidden), "checksum": row.checksum,
            "os_hash_algo": row.os_hash_algo, "os_hash_value": row.os_hash_value, "owner": row.owner,
            "size": row.size, "virtual_size": row.virtual_size, "min_ram": row.min_ram, "min_disk": row.min_disk,
            "disk_format": row.disk_format, "container_format": row.container_format,
            "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at),
            "tags": sorted(t.value for t in row.tags),
            "self": f"/v2/images/{row.id}", "file": f"/v2/images/{row.id}/file", "schema": "/v2/schemas/image",
        })
        if row.locations:  # Glance lists the stores holding the data (sorted: Tempest compares so)
            image["stores"] = ",".join(sorted(location.store for location in row.locations))
        return image

    @staticmethod
    def member_view(row: ImageMember) -> dict[str, Any]:
        return {"image_id": row.image_id, "member_id": row.member, "status": row.status,
                "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at),
                "schema": "/v2/schemas/member"}

    # -- visibility ------------------------------------------------------------------------
    @staticmethod
    def visible(row: Image, ctx: RequestContext) -> bool:
        if ctx.is_admin or row.visibility in ("public", "community"):
            return True
        if ctx.project_id is None:
            return False
        if row.owner == ctx.project_id:
            return True
        return row.visibility == "shared" and any(m.member == ctx.project_id for m in row.members)

    def _load(self, session: orm.Session, ctx: RequestContext, image_id: str, *, lock: bool = False) -> Image:
        query = sa.select(Image).where(Image.id == image_id)
        if lock and not self.db.is_sqlite:
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None or not self.visible(row, ctx):
            raise errors.NotFound(f"No image found with ID {image_id}")
        return row

    def _authorize(self, ctx: RequestContext, rule: str, row: Image | None = None,
                   target: dict[str, Any] | None = None) -> None:
        if target is None:
            target = image_target(row, ctx) if row is not None else {"project_id": ctx.project_id}
        self.policy.authorize(ctx, rule, target)

    def _require_owner_or_admin(self, ctx: RequestContext, row: Image, rule: str) -> None:
        """Writes to an image another project owns are refused with 403 (Glance's message)."""
        self._authorize(ctx, rule, row)
        if not ctx.is_admin and row.owner != ctx.project_id:
            raise errors.Forbidden("You are not permitted to modify this image.")

    # -- quotas ----------------------------------------------------------------------------
    def _usage(self, session: orm.Session, project_id: str | None) -> tuple[int, int]:
        count, stored, staged = session.execute(
            sa.select(sa.func.count(Image.id), sa.func.coalesce(sa.func.sum(Image.size), 0),
                      sa.func.coalesce(sa.func.sum(Image.staged_size), 0))
            .where(Image.owner == project_id)).one()
        return int(count), int(stored) + int(staged)

    def _bytes_allowed(self, session: orm.Session, project_id: str | None) -> int | None:
        """Most bytes one more upload of this project may write (the size cap, the storage quota)."""
        allowed: int | None = self.conf.image.image_size_cap
        quota = self.conf.image.quota_image_size_total
        if quota >= 0:
            _, used = self._usage(session, project_id)
            if used >= quota:
                raise OverQuota(f"Resource image_size_total is over limit of {quota} due to current "
                                f"usage {used} and delta 0")
            allowed = min(allowed, quota - used) if allowed is not None and allowed >= 0 else quota - used
        return allowed if allowed is None or allowed >= 0 else None

    def usage(self, ctx: RequestContext) -> dict[str, Any]:
        """Glance's /v2/info/usage: the caller's project against its quotas."""
        with self.db.reader() as session:
            count, stored = self._usage(session, ctx.project_id)
            uploading = session.scalar(sa.select(sa.func.count(Image.id)).where(
                Image.owner == ctx.project_id, Image.status.in_((states.SAVING, states.UPLOADING,
                                                                 states.IMPORTING))))
            staged = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Image.staged_size), 0)).where(
                Image.owner == ctx.project_id))
        return {"image_size_total": {"limit": self.conf.image.quota_image_size_total, "usage": stored},
                "image_count_total": {"limit": self.conf.image.quota_image_count, "usage": count},
                "image_stage_total": {"limit": -1, "usage": int(staged or 0)},
                "image_count_uploading": {"limit": -1, "usage": int(uploading or 0)}}

    # -- images ----------------------------------------------------------------------------
    def create(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.BadRequest("Body expected in request.")
        for key in body:
            if key in READONLY and key != "id":
                raise errors.Forbidden(f"Attribute '{key}' is read-only.")
            if key in RESERVED:
                raise errors.Forbidden(f"Attribute '{key}' is reserved.")
        fields = {"name": None, "visibility": "shared", "protected": False, "os_hidden": False,
                  "disk_format": None, "container_format": None, "min_ram": 0, "min_disk": 0,
                  "owner": ctx.project_id, "tags": []}
        extra: dict[str, str] = {}
        for key, value in body.items():
            if key == "id":
                _check_core(key, value)
            elif key in fields:
                _check_core(key, value)
                fields[key] = value
            else:
                _check_extra(key, value)
                extra[key] = value
        self._check_counts(extra, fields["tags"])
        owner = fields["owner"]
        if owner != ctx.project_id and not ctx.is_admin:
            raise errors.Forbidden(f"You are not permitted to create images owned by '{owner}'.")
        self.policy.authorize(ctx, "add_image", {"project_id": owner, "visibility": fields["visibility"]})
        if fields["visibility"] == "public":
            self.policy.authorize(ctx, "publicize_image", {"project_id": owner})
        elif fields["visibility"] == "community":
            self.policy.authorize(ctx, "communitize_image", {"project_id": owner})
        image_id = str(body.get("id") or uuid.uuid4())
        tags = list(dict.fromkeys(fields.pop("tags")))
        stamp = now()
        try:
            with self.db.writer() as session:
                quota = self.conf.image.quota_image_count
                if quota >= 0:
                    count, _ = self._usage(session, owner)
                    if count + 1 > quota:
                        raise OverQuota(f"Resource image_count_total is over limit of {quota} due to current "
                                        f"usage {count} and delta 1")
                if session.get(Image, image_id) is not None:
                    raise errors.Conflict(f"Image with identifier {image_id} already exists!")
                row = Image(id=image_id, status=states.QUEUED, created_at=stamp, updated_at=stamp,
                            staged_size=0, **fields)
                row.properties = [ImageProperty(name=k, value=v) for k, v in extra.items()]
                row.tags = [ImageTag(value=t) for t in tags]
                row.members = []
                session.add(row)
                session.flush()
                image = self.view(row)
        except sa.exc.IntegrityError:
            raise errors.Conflict(f"Image with identifier {image_id} already exists!") from None
        self.notify("image.create", image)
        return image

    def _check_counts(self, extra: dict[str, Any], tags: list[str]) -> None:
        props, tag_quota = self.conf.image.image_property_quota, self.conf.image.image_tag_quota
        if props >= 0 and len(extra) > props:
            raise errors.OverLimit(f"Maximum number of image properties exceeded: {len(extra)} > {props}")
        if tag_quota >= 0 and len(set(tags)) > tag_quota:
            raise errors.OverLimit(f"Maximum number of image tags exceeded: {len(set(tags))} > {tag_quota}")

    def get(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            row = self._load(session, ctx, image_id)
            self._authorize(ctx, "get_image", row)
            return self.view(row)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._authorize(ctx, "delete_image", row)
            if not ctx.is_admin and row.owner != ctx.project_id:
                raise errors.Forbidden("You are not permitted to delete this image.")
            if row.protected:
                raise errors.Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            states.MACHINE.next(row.status, "delete")
            image = self.view(row)
            image["status"] = states.DELETED
            locations = [(location.store, location.url) for location in row.locations]
            session.delete(row)
        for store_id, url in locations:
            self._delete_data(store_id, url)
        self.store.delete(self.store.staged_location(image_id))
        self.notify("image.delete", image)

    def update(self, ctx: RequestContext, image_id: str, changes: list[dict[str, Any]]) -> dict[str, Any]:
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._require_owner_or_admin(ctx, row, "modify_image")
            core = {k: getattr(row, k) for k in ("name", "visibility", "protected", "os_hidden", "disk_format",
                                                  "container_format", "min_ram", "min_disk", "owner")}
            extra = {p.name: p.value for p in row.properties}
            tags = [t.value for t in row.tags]
            for change in changes:
                op, path, value = change["op"], change["path"], change.get("value")
                if len(path) != 1:
                    if path and path[0] == "locations":
                        raise errors.Forbidden("It's not allowed to update locations if locations are invisible.")
                    raise errors.BadRequest(f"Invalid JSON pointer for this resource: '/{'/'.join(path)}'")
                key = path[0]
                if key in READONLY:
                    raise errors.Forbidden(f"Attribute '{key}' is read-only.")
                if key in RESERVED:
                    raise errors.Forbidden(f"Attribute '{key}' is reserved.")
                if key == "tags":
                    if op == "remove":
                        raise errors.Forbidden("Attribute 'tags' cannot be removed.")
                    _check_core("tags", value)
                    tags = list(dict.fromkeys(value))
                elif key in core:
                    if op == "remove":
                        raise errors.Forbidden(f"Attribute '{key}' is reserved.")
                    _check_core(key, value)
                    if key in ("disk_format", "container_format") and value != core[key] \
                            and row.status != states.QUEUED:
                        raise errors.Forbidden(f"Attribute {key} can be only replaced for a queued image.")
                    if key == "owner" and value != core[key] and not ctx.is_admin:
                        raise errors.Forbidden("Attribute 'owner' can be changed only by an admin.")
                    core[key] = value
                elif op == "remove":
                    if key not in extra:
                        raise errors.Conflict(f"Property {key} does not exist.")
                    if key.startswith("os_glance"):
                        raise errors.Forbidden(f"Attribute '{key}' is reserved.")
                    del extra[key]
                else:
                    if op == "replace" and key not in extra:
                        raise errors.Conflict(f"Property {key} does not exist.")
                    _check_extra(key, value)
                    extra[key] = value
            if core["visibility"] != row.visibility:
                if core["visibility"] == "public":
                    self._authorize(ctx, "publicize_image", row)
                elif core["visibility"] == "community":
                    self._authorize(ctx, "communitize_image", row)
            if len(extra) > len(row.properties) or len(set(tags)) > len(row.tags):
                self._check_counts(extra, tags)
            for key, value in core.items():
                setattr(row, key, value)
            existing = {p.name: p for p in row.properties}
            for name, prop in existing.items():
                if name not in extra:
                    row.properties.remove(prop)
                elif prop.value != extra[name]:
                    prop.value = extra[name]
            for name, value in extra.items():
                if name not in existing:
                    row.properties.append(ImageProperty(name=name, value=value))
            current_tags = {t.value: t for t in row.tags}
            for value, tag in current_tags.items():
                if value not in tags:
                    row.tags.remove(tag)
            for value in tags:
                if value not in current_tags:
                    row.tags.append(ImageTag(value=value))
            row.updated_at = now()
            session.flush()
            image = self.view(row)
        self.notify("image.update", image)
        return image

    def set_status(self, ctx: RequestContext, image_id: str, event: str) -> None:
        """deactivate / reactivate (the owner or admin)."""
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._require_owner_or_admin(ctx, row, event)
            if not states.MACHINE.allows(row.status, event):
                raise errors.Forbidden(f"Not allowed to {event} image in status '{row.status}'")
            target = states.MACHINE.next(row.status, event)
            if target != row.status:
                row.status = target
                row.updated_at = now()
            image = self.view(row)
        self.notify(f"image.{event}", image)

    # -- tags ------------------------------------------------------------------------------
    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        if len(tag) > 255:
            raise errors.BadRequest("Tag is too long (255 characters at most).")
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._require_owner_or_admin(ctx, row, "modify_image")
            if tag in {t.value for t in row.tags}:
                return
            quota = self.conf.image.image_tag_quota
            if 0 <= quota <= len(row.tags):
                raise errors.OverLimit(f"Maximum number of image tags exceeded: {len(row.tags) + 1} > {quota}")
            row.tags.append(ImageTag(value=tag))
            row.updated_at = now()
            session.flush()
            image = self.view(row)
        self.notify("image.update", image)

    def delete_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._require_owner_or_admin(ctx, row, "modify_image")
            found = [t for t in row.tags if t.value == tag]
            if not found:
                raise errors.NotFound(f"Tag {tag} not found.")
            row.tags.remove(found[0])
            row.updated_at = now()
            session.flush()
            image = self.view(row)
        self.notify("image.update", image)

    # -- listing ---------------------------------------------------------------------------
    def list(self, ctx: RequestContext, params: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], int]:
        """Images visible to the caller, filtered and sorted as Glance does; returns the page and
        the limit that applied (the caller makes the `next` link when the page is full)."""
        self.policy.authorize(ctx, "get_images", {"project_id": ctx.project_id})
        single: dict[str, str] = {}
        tags: list[str] = []
        sort_keys: list[str] = []
        sort_dirs: list[str] = []
        sort: str | None = None
        for key, value in params:
            if key == "tag":
                tags.append(value)
            elif key == "sort_key":
                sort_keys.append(value)
            elif key == "sort_dir":
                sort_dirs.append(value)
            elif key == "sort":
                sort = value
            else:
                single[key] = value
        limit = self._limit(single.pop("limit", None))
        marker = single.pop("marker", None)
        order = self._sort_order(sort, sort_keys, sort_dirs)
        visibility = single.pop("visibility", None)
        if visibility is not None and visibility not in (*VISIBILITIES, "all"):
            raise errors.BadRequest(f"Invalid visibility value: {visibility}")
        member_status = single.pop("member_status", "accepted")
        if member_status not in (*MEMBER_STATUSES, "all"):
            raise errors.BadRequest(f"Invalid status value: {member_status}")
        hidden = self._bool_filter("os_hidden", single.pop("os_hidden", "false"))
        protected = single.pop("protected", None)
        size_min = self._int_filter("size_min", single.pop("size_min", None))
        size_max = self._int_filter("size_max", single.pop("size_max", None))
        time_filters = [(name, single.pop(name)) for name in ("created_at", "updated_at") if name in single]
        for skip in ("changes-since",):
            single.pop(skip, None)

        with self.db.reader() as session:
            query = sa.select(Image)
            project = ctx.project_id
            if visibility not in (None, "all"):
                query = query.where(Image.visibility == visibility)
            elif visibility is None:
                query = query.where(sa.or_(Image.visibility != "community", Image.owner == project))
            if not ctx.is_admin:
                member_q = sa.select(ImageMember.image_id).where(ImageMember.member == project)
                if member_status != "all":
                    member_q = member_q.where(ImageMember.status == member_status)
                query = query.where(sa.or_(
                    Image.visibility.in_(("public", "community")), Image.owner == project,
                    sa.and_(Image.visibility == "shared", Image.id.in_(member_q))))
            if hidden is not None:
                query = query.where(Image.os_hidden == hidden)
            if protected is not None:
                query = query.where(Image.protected == self._bool_filter("protected", protected))
            if size_min is not None:
                query = query.where(Image.size >= size_min)
            if size_max is not None:
                query = query.where(Image.size <= size_max)
            for name, raw in time_filters:
                query = query.where(self._time_filter(getattr(Image, name), raw))
            for key in ("name", "status", "container_format", "disk_format", "id", "owner"):
                if key in single:
                    raw = single.pop(key)
                    column = getattr(Image, key)
                    if raw.startswith("in:"):
                        values = [v.strip().strip('"') for v in raw[3:].split(",")]
                        query = query.where(column.in_(values))
                    else:
                        query = query.where(column == raw)
            for key in ("size", "virtual_size", "min_ram", "min_disk"):
                if key in single:
                    query = query.where(getattr(Image, key) == self._int_filter(key, single.pop(key)))
            for key in ("checksum", "os_hash_algo", "os_hash_value"):
                if key in single:
                    query = query.where(getattr(Image, key) == single.pop(key))
            for tag in tags:
                query = query.where(Image.id.in_(sa.select(ImageTag.image_id).where(ImageTag.value == tag)))
            for key, raw in single.items():  # any other parameter filters on an additional property
                query = query.where(Image.id.in_(sa.select(ImageProperty.image_id).where(
                    ImageProperty.name == key, ImageProperty.value == raw)))
            rows = list(session.scalars(query).all())

        rows = _sort(rows, order)
        start = 0
        if marker is not None:
            for index, row in enumerate(rows):
                if row.id == marker:
                    start = index + 1
                    break
            else:
                raise errors.BadRequest(f"Invalid marker. Image {marker} could not be found.")
        page = rows[start:start + limit]
        return [self.view(row) for row in page], limit

    def _limit(self, raw: str | None) -> int:
        maximum = self.conf.image.api_limit_max
        if raw is None:
            return min(self.conf.image.limit_param_default, maximum)
        try:
            limit = int(raw)
        except ValueError:
            raise errors.BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise errors.BadRequest("limit param must be positive")
        return min(limit, maximum)

    @staticmethod
    def _sort_order(sort: str | None, keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
        if sort is not None and (keys or dirs):
            raise errors.BadRequest("The sort param cannot be used with sort_key or sort_dir")
        order: list[tuple[str, str]] = []
        if sort is not None:
            for part in sort.split(","):
                key, _, direction = part.strip().partition(":")
                order.append((key, direction or "desc"))
        else:
            if len(dirs) > 1 and len(dirs) != len(keys):
                raise errors.BadRequest("Number of sort dirs does not match the number of sort keys")
            keys = keys or ["created_at"]
            dirs = dirs * len(keys) if len(dirs) == 1 else (dirs or ["desc"] * len(keys))
            order = list(zip(keys, dirs))
        for key, direction in order:
            if key not in SORT_KEYS:
                raise errors.BadRequest(f"Invalid sort key: {key}. It should be one of the following: "
                                        f"{', '.join(SORT_KEYS)}.")
            if direction not in ("asc", "desc"):
                raise errors.BadRequest(f"Invalid sort direction: {direction}")
        if "created_at" not in {k for k, _ in order}:
            order.append(("created_at", order[0][1] if order else "desc"))
        if "id" not in {k for k, _ in order}:
            order.append(("id", order[0][1]))
        return order

    @staticmethod
    def _bool_filter(name: str, raw: str) -> bool | None:
        lowered = raw.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise errors.BadRequest(f"Invalid value '{raw}' for '{name}' filter")

    @staticmethod
    def _int_filter(name: str, raw: str | None) -> int | None:
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise errors.BadRequest(f"Invalid value for {name}: {raw}") from None

    @staticmethod
    def _time_filter(column: Any, raw: str) -> Any:
        op, sep, value = raw.partition(":")
        if not sep or op not in ("gt", "gte", "lt", "lte", "eq", "neq"):
            op, value = "eq", raw
        moment = _parse_time(value)
        return {"gt": column > moment, "gte": column >= moment, "lt": column < moment, "lte": column <= moment,
                "eq": column == moment, "neq": column != moment}[op]

    # -- members ---------------------------------------------------------------------------
    def _shared(self, session: orm.Session, ctx: RequestContext, image_id: str, *, lock: bool = False) -> Image:
        row = self._load(session, ctx, image_id, lock=lock)
        if row.visibility != "shared":
            raise errors.Forbidden("Only shared images have members.")
        return row

    def add_member(self, ctx: RequestContext, image_id: str, member_id: str) -> dict[str, Any]:
        if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
            raise errors.BadRequest("Member to be added not specified")
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._authorize(ctx, "add_member", row)
            if not ctx.is_admin and row.owner != ctx.project_id:
                raise errors.Forbidden("You are not permitted to modify 'members' on this image.")
            if row.visibility != "shared":
                raise errors.Forbidden(f"Image {image_id} is not shared: only shared images have members.")
            if any(m.member == member_id for m in row.members):
                raise errors.Conflict(f"Member {member_id} already exists for image {image_id}")
            quota = self.conf.image.image_member_quota
            if 0 <= quota <= len(row.members):
                raise errors.OverLimit(f"Maximum number of image members exceeded: {quota}")
            stamp = now()
            member = ImageMember(image_id=image_id, member=member_id, status="pending", created_at=stamp,
                                 updated_at=stamp)
            row.members.append(member)
            session.flush()
            result = self.member_view(member)
        self.notify("image.member.create", result)
        return result

    def list_members(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            row = self._shared(session, ctx, image_id)
            self._authorize(ctx, "get_members", row)
            members = sorted(row.members, key=lambda m: m.created_at)
            if not ctx.is_admin and row.owner != ctx.project_id:
                members = [m for m in members if m.member == ctx.project_id]
            return [self.member_view(m) for m in members]

    def get_member(self, ctx: RequestContext, image_id: str, member_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            row = self._shared(session, ctx, image_id)
            self._authorize(ctx, "get_member", row)
            found = [m for m in row.members if m.member == member_id]
            if not found or (not ctx.is_admin and ctx.project_id not in (row.owner, member_id)):
                raise errors.NotFound(f"Member {member_id} not found for image {image_id}")
            return self.member_view(found[0])

    def update_member(self, ctx: RequestContext, image_id: str, member_id: str, status: Any) -> dict[str, Any]:
        if status not in MEMBER_STATUSES:
            raise errors.BadRequest(f"Invalid status: {status}")
        with self.db.writer() as session:
            row = self._shared(session, ctx, image_id, lock=True)
            found = [m for m in row.members if m.member == member_id]
            if not found:
                raise errors.NotFound(f"Member {member_id} not found for image {image_id}")
            self._authorize(ctx, "modify_member", row)
            if ctx.project_id != member_id:
                raise errors.Forbidden("You are not permitted to modify 'status' on this image member.")
            found[0].status = status
            found[0].updated_at = now()
            session.flush()
            result = self.member_view(found[0])
        self.notify("image.member.update", result)
        return result

    def delete_member(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        with self.db.writer() as session:
            row = self._shared(session, ctx, image_id, lock=True)
            self._authorize(ctx, "delete_member", row)
            if not ctx.is_admin and row.owner != ctx.project_id:
                raise errors.Forbidden("You are not permitted to modify 'members' on this image.")
            found = [m for m in row.members if m.member == member_id]
            if not found:
                raise errors.NotFound(f"Member {member_id} not found for image {image_id}")
            result = self.member_view(found[0])
            row.members.remove(found[0])
        self.notify("image.member.delete", result)

    # -- data: upload, stage, download -----------------------------------------------------
    def begin_upload(self, ctx: RequestContext, image_id: str, *, staging: bool = False,
                     store_id: str | None = None, size: int | None = None) -> Ingest:
        """queued -> saving (upload) or uploading (stage); returns the Ingest that takes the data.
        An upload goes to `store_id` (X-Image-Meta-Store; 400 when unknown, as Glance), else to
        the default store; `size`, when the request says it, helps the store choose how to write."""
        event = "stage" if staging else "upload"
        target = self.store if staging else self._store(store_id or self.default_store, errors.BadRequest)
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._require_owner_or_admin(ctx, row, "stage_image" if staging else "upload_image")
            if not states.MACHINE.allows(row.status, event):
                raise errors.Conflict(f"Image status transition from {row.status} to "
                                      f"{states.UPLOADING if staging else states.SAVING} is not allowed")
            if not staging and (row.disk_format is None or row.container_format is None):
                raise errors.BadRequest("Properties disk_format, container_format must be set prior to "
                                        "image data upload.")
            limit = self._bytes_allowed(session, row.owner)
            row.status = states.MACHINE.next(row.status, event)
            row.updated_at = now()
            image = self.view(row)
        try:
            writer = target.writer(image_id, staging=staging, size=size)
        except Exception:
            self._revert(image_id, states.SAVING if not staging else states.UPLOADING)
            raise
        if not staging:
            self.notify("image.prepare", image)
        return Ingest(self, image, writer, limit=limit, staging=staging, store=target)

    def _store(self, store_id: Any, error: type[errors.APIError] = errors.Conflict) -> Store:
        if not isinstance(store_id, str) or store_id not in self.backends:
            raise error(unknown_store(store_id))
        return self.backends[store_id]

    def create_from_file(self, ctx: RequestContext, body: dict[str, Any], path: str) -> dict[str, Any]:
        """Register an image and upload a local file as its data, blocking (start-up registration of
        images the cloud ships, e.g. with `RequestContext.service()` and `owner` in the body)."""
        image = self.create(ctx, body)
        ingest = self.begin_upload(ctx, image["id"], size=os.path.getsize(path))
        try:
            with open(path, "rb") as source:
                while chunk := source.read(BLOCK):
                    ingest.feed_blocking(chunk)
        except BaseException:
            self.abort_upload(ingest)
            raise
        return self.finish_upload(ctx, ingest)

    def _revert(self, image_id: str, expected: str) -> None:
        event = "stage_failed" if expected == states.UPLOADING else "upload_failed"
        with self.db.writer() as session:
            row = session.get(Image, image_id)
            if row is not None and row.status == expected:
                row.status = states.MACHINE.next(row.status, event)
                row.staged_size = 0
                row.updated_at = now()

    def abort_upload(self, ingest: Ingest) -> None:
        """A failed or truncated transfer: no data is kept, the image goes back to queued."""
        ingest.writer.abort()
        self._revert(ingest.image_id, states.UPLOADING if ingest.staging else states.SAVING)
        if ingest.staging:
            self.store.delete(self.store.staged_location(ingest.image_id))

    def finish_upload(self, ctx: RequestContext, ingest: Ingest) -> dict[str, Any]:
        """The data is all there: make it durable, measure it, activate the image (or keep the
        staged data for an import)."""
        try:
            location = ingest.writer.commit()
        except Exception:
            self.abort_upload(ingest)
            raise
        virtual_size = None
        if not ingest.staging:
            virtual_size = self.measure_location(ingest.store, location, ingest.image.get("disk_format"),
                                                 ingest.size)
        with self.db.writer() as session:
            row = session.get(Image, ingest.image_id)
            expected = states.UPLOADING if ingest.staging else states.SAVING
            if row is None or row.status != expected:
                ingest.store.delete(location)
                if row is None:
                    raise errors.Gone(f"Image {ingest.image_id} could not be found after upload. The image may "
                                      f"have been deleted during the upload.")
                raise errors.Conflict(f"Image {ingest.image_id} changed status to {row.status} during the upload.")
            if ingest.staging:
                row.staged_size = ingest.size
            else:
                row.status = states.MACHINE.next(row.status, "upload_done")
                row.locations = [ImageLocation(store=ingest.store.id, url=location, position=0, created_at=now())]
                row.size = ingest.size
                row.virtual_size = virtual_size
                row.checksum = ingest.md5.hexdigest()
                row.os_hash_algo = HASH_ALGO
                row.os_hash_value = ingest.sha.hexdigest()
            row.updated_at = now()
            image = self.view(row)
        if not ingest.staging:
            self.notify("image.upload", image)
            self.notify("image.activate", image)
        return image

    @staticmethod
    def measure(path: str, disk_format: str | None, size: int) -> int | None:
        """The virtual size: qemu-img for the formats it knows, the data's size for raw and iso."""
        if disk_format in ("raw", "iso"):
            return size
        qemu_format = QEMU_FORMATS.get(disk_format or "")
        if qemu_format is None:
            return None
        try:
            done = subprocess.run(["qemu-img", "info", "--output=json", "-f", qemu_format, path],
                                  capture_output=True, timeout=60, check=False)
            if done.returncode != 0:
                LOG.info("qemu-img info failed for %s: %s", path, done.stderr.decode(errors="replace")[:300])
                return None
            return int(json.loads(done.stdout)["virtual-size"])
        except (OSError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
            LOG.info("could not measure %s: %s", path, exc)
            return None

    def measure_location(self, store: Store, location: str, disk_format: str | None, size: int) -> int | None:
        """`measure` for data in any store: a store without local files lends qemu-img a sparse
        file of the data's size holding its first and last MEASURE_SPAN bytes (where the
        formats keep their headers and footers), so nothing near the image's size is copied."""
        if store.local or disk_format in ("raw", "iso") or disk_format not in QEMU_FORMATS:
            return self.measure(store.path(location) if store.local else "", disk_format, size)
        fd, path = tempfile.mkstemp(dir=self.store.tmp, prefix="measure.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.truncate(size)
                spans = [(0, min(size, MEASURE_SPAN))]
                if size > MEASURE_SPAN:
                    spans.append((max(MEASURE_SPAN, size - MEASURE_SPAN), size))
                for first, end in spans:
                    handle.seek(first)
                    for chunk in store.open(location, first, end - first):
                        handle.write(chunk)
            return self.measure(path, disk_format, size)
        except (OSError, errors.APIError) as exc:
            LOG.info("could not measure %s: %s", location, exc)
            return None
        finally:
            os.unlink(path)

    def _store_of(self, store_id: str, url: str) -> Store | None:
        """The store that reads a location: the one it was written by, else one that owns the URL."""
        store = self.backends.get(store_id)
        if store is not None and store.owns(url):
            return store
        return next((s for s in self.backends.values() if s.owns(url)), None)

    def _delete_data(self, store_id: str, url: str) -> None:
        store = self._store_of(store_id, url)
        if store is None:
            LOG.warning("no enabled store can delete %s (store %s)", url, store_id)
            return
        try:
            store.delete(url)
        except Exception:  # the image is gone either way; the data is logged for the operator
            LOG.exception("could not delete the image data at %s", url)

    def _read_locations(self, locations: list[tuple[str, str]], offset: int = 0, length: int | None = None
                        ) -> Iterator[bytes]:
        """The data from the first location that answers: the default store first, as Glance
        sorts locations by store weight."""
        ordered = sorted(locations, key=lambda item: item[0] != self.default_store)
        failure: Exception | None = None
        for store_id, url in ordered:
            store = self._store_of(store_id, url)
            if store is None:
                continue
            try:
                return store.open(url, offset, length) if (offset or length is not None) else store.open(url)
            except (FileNotFoundError, errors.ServiceUnavailable) as exc:
                LOG.warning("image data missing or unreadable at %s: %s", url, exc)
                failure = exc
        raise FileNotFoundError(str(failure) if failure else "no readable location")

    def open_data(self, ctx: RequestContext, image_id: str, byte_range: tuple[int | None, int | None] | None = None
                  ) -> tuple[dict[str, Any], Iterator[bytes] | None, tuple[int, int] | None]:
        """The image and an iterator over its data (None when it has none); with a range, the
        (first, last) byte served.  A range beyond the data is a 416."""
        with self.db.reader() as session:
            row = self._load(session, ctx, image_id)
            self._authorize(ctx, "download_image", row)
            if row.status == states.DEACTIVATED and not ctx.is_admin:
                raise errors.Forbidden("The requested image has been deactivated. Image data download is "
                                       "forbidden.")
            image = self.view(row)
            locations = [(location.store, location.url) for location in row.locations] \
                if row.status in (states.ACTIVE, states.DEACTIVATED) else []
        if not locations or image["size"] is None:
            return image, None, None
        size = image["size"]
        span: tuple[int, int] | None = None
        if byte_range is not None:
            first, last = byte_range
            if first is None:  # suffix: the last N bytes
                first, last = max(size - (last or 0), 0), size - 1
            elif last is None or last >= size:
                last = size - 1
            if first >= size or first > last:
                raise RangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
            span = (first, last)
        try:
            if span is None:
                data = self._read_locations(locations)
            else:
                data = self._read_locations(locations, span[0], span[1] - span[0] + 1)
        except FileNotFoundError:
            raise errors.ServiceUnavailable(f"The image data of {image_id} is missing from the store.") from None
        self.notify("image.send", {"image_id": image_id, "receiver_tenant_id": ctx.project_id,
                                   "owner_id": image["owner"], "bytes_sent": image["size"]})
        return image, data, span

    # -- interoperable import --------------------------------------------------------------
    def import_methods(self) -> list[str]:
        """The enabled methods that work here (copy-image needs a second store)."""
        working = ["glance-direct", "web-download"] + (["copy-image"] if len(self.backends) > 1 else [])
        return [m for m in self.conf.image.enabled_import_methods if m in working]

    def stores(self) -> list[dict[str, Any]]:
        """GET /v2/info/stores: each enabled store, the default one marked."""
        listed = []
        for store_id, store in self.backends.items():
            entry: dict[str, Any] = {"id": store_id, "description": store.description}
            if store_id == self.default_store:
                entry["default"] = True
            listed.append(entry)
        return listed

    def stores_detail(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """GET /v2/info/stores/detail (admin): each store's type and settings, as Glance."""
        self.policy.authorize(ctx, "stores_info_detail", {"project_id": ctx.project_id})
        detailed = []
        for entry in self.stores():
            store = self.backends[entry["id"]]
            if isinstance(store, FilesystemStore):
                properties: dict[str, Any] = {"data_dir": str(store.root), "chunk_size": BLOCK,
                                              "thin_provisioning": False}
            else:
                properties = {"container": getattr(store, "container", None),
                              "large_object_size": getattr(store, "large_object_size", None),
                              "large_object_chunk_size": getattr(store, "large_object_chunk_size", None)}
            detailed.append({**entry, "type": store.kind, "properties": properties, "weight": 0})
        return detailed

    def url_allowed(self, uri: str) -> bool:
        parsed = urllib.parse.urlsplit(uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            return False
        return any(prefix and uri.startswith(prefix) for prefix in self.conf.image.web_download_allowed_urls)

    def _requested_stores(self, body: dict[str, Any], header_store: str | None) -> list[str]:
        """Glance's get_stores_from_request: every store (`all_stores`), the body's `stores`, the
        X-Image-Meta-Store header, else the default store; an unknown one is a 409."""
        if body.get("all_stores", False):
            if "stores" in body or header_store is not None:
                raise errors.BadRequest("All_stores parameter can't be used with x-image-meta-store header or "
                                        "stores parameter")
            return list(self.backends)
        if "stores" in body:
            if header_store is not None:
                raise errors.BadRequest("Stores parameter and x-image-meta-store header can't be both specified")
            stores = body["stores"]
            if not isinstance(stores, list) or not stores:
                raise errors.BadRequest("'stores' must be a non-empty list of store identifiers")
        else:
            stores = [header_store or self.default_store]
        for store_id in stores:
            self._store(store_id, errors.Conflict)
        return list(dict.fromkeys(stores))

    @staticmethod
    def _set_property(row: Image, name: str, value: str) -> None:
        for prop in row.properties:
            if prop.name == name:
                prop.value = value
                return
        row.properties.append(ImageProperty(name=name, value=value))

    @staticmethod
    def _property(row: Image, name: str) -> str | None:
        return next((p.value for p in row.properties if p.name == name), None)

    def _change_store_lists(self, row: Image, *, done: Iterable[str] = (), failed: Iterable[str] = ()) -> None:
        """Stores leave os_glance_importing_to_stores when done or failed; failed ones join
        os_glance_failed_import (Glance keeps both properties, empty when nothing is left)."""
        done, failed = set(done) | set(failed), list(failed)
        importing = [s for s in _store_list(self._property(row, IMPORTING_KEY)) if s not in done]
        self._set_property(row, IMPORTING_KEY, ",".join(importing))
        if failed:
            already = _store_list(self._property(row, FAILED_KEY))
            self._set_property(row, FAILED_KEY, ",".join(dict.fromkeys(already + failed)))

    def import_image(self, ctx: RequestContext, image_id: str, body: Any,
                     header_store: str | None = None) -> concurrent.futures.Future | None:
        """POST /v2/images/{id}/import: glance-direct, web-download or copy-image into one or
        more stores; runs in the background (the Future), None when there is nothing to do
        (copy-image to all stores of an image already in every one)."""
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise errors.BadRequest("Import request requires a 'method' field.")
        method = body["method"].get("name")
        if method not in self.import_methods():
            raise errors.BadRequest(f"Import method {method!r} is not valid or not enabled.")
        for key in ("all_stores_must_succeed", "all_stores"):
            if key in body and not isinstance(body[key], bool):
                raise errors.BadRequest(f"'{key}' must be boolean value only")
        must_succeed, all_stores = body.get("all_stores_must_succeed", True), body.get("all_stores", False)
        uri = body["method"].get("uri")
        if method == "web-download":
            if not isinstance(uri, str) or not self.url_allowed(uri):
                raise errors.BadRequest("URI for web-download does not pass filtering: " + str(uri))
        copying = method == "copy-image"
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            if copying:
                self._authorize(ctx, "copy_image", row)
            else:
                self._require_owner_or_admin(ctx, row, "import_image")
            if row.status == states.ACTIVE and not copying:
                raise errors.Conflict("Image with status active cannot be target for import")
            if row.status != states.ACTIVE and copying:
                raise errors.Conflict("Only images with status active can be targeted for copying")
            if row.container_format is None:
                raise errors.Conflict("'container_format' needs to be set before import")
            if row.disk_format is None:
                raise errors.Conflict("'disk_format' needs to be set before import")
            if method == "glance-direct" and row.status != states.UPLOADING:
                raise errors.Conflict(f"Image needs to be staged before 'glance-direct' method can be used "
                                      f"(status {row.status}).")
            if method == "web-download" and row.status != states.QUEUED:
                raise errors.Conflict(f"Image needs to be in 'queued' status to use 'web-download' "
                                      f"(status {row.status}).")
            self._check_import_lock(session, row)
            stores = self._requested_stores(body, header_store)
            if copying:
                present = {location.store for location in row.locations}
                if all_stores:
                    stores = [s for s in stores if s not in present]
                    if not stores:  # already everywhere: nothing to do, as Glance
                        return None
                else:
                    for store_id in stores:
                        if store_id in present:
                            raise errors.BadRequest(f"Image is already present at store '{store_id}'")
            limit = None if copying else self._bytes_allowed(session, row.owner)
            if not copying:
                row.status = states.MACHINE.next(row.status, "import_start")
            importing = _store_list(self._property(row, IMPORTING_KEY))
            self._set_property(row, IMPORTING_KEY, ",".join(dict.fromkeys(importing + stores)))
            failed = _store_list(self._property(row, FAILED_KEY))
            self._set_property(row, FAILED_KEY, ",".join(s for s in failed if s not in stores))
            task_id = str(uuid.uuid4())
            self._set_property(row, "os_glance_import_task", task_id)
            row.updated_at = stamp = now()
            session.add(ImageTask(id=task_id, image_id=image_id, type="api_image_import", status="processing",
                                  owner=row.owner, user_id=ctx.user_id, request_id=ctx.request_id,
                                  input=json.dumps({"image_id": image_id, "import_req": body, "backend": stores}),
                                  result=None, message="", created_at=stamp, updated_at=stamp))
            session.flush()
            image = self.view(row)
        self.notify("image.import", image)
        ctx_copy = context_mod.RequestContext.from_dict(ctx.to_dict())
        plan = ImportPlan(image=image, method=method, uri=uri, limit=limit, task_id=task_id, stores=stores,
                          must_succeed=must_succeed)
        future = self._imports.submit(self._run_import, ctx_copy, plan)
        self.import_futures[image_id] = future
        future.add_done_callback(lambda _f: self.import_futures.pop(image_id, None))
        return future

    @staticmethod
    def _check_import_lock(session: orm.Session, row: Image) -> None:
        """One import at a time per image (Glance's os_glance_import_task lock): a task still
        processing holds it; a finished or failed one does not."""
        task_id = next((p.value for p in row.properties if p.name == "os_glance_import_task"), None)
        if task_id:
            task = session.get(ImageTask, task_id)
            if task is not None and task.status == "processing":
                raise errors.Conflict(f"New operation on image '{row.id}' is not permitted as prior operation "
                                      f"is still in progress")

    def _run_import(self, ctx: RequestContext, plan: "ImportPlan") -> None:
        with context_mod.use_context(ctx):
            try:
                self._import_to_stores(plan)
            except Exception as exc:  # a bug or a lost database: the task must not stay processing
                LOG.exception("import of image %s (%s) failed", plan.image["id"], plan.method)
                self._import_failed(plan, plan.stores, str(exc), [])
            finally:
                if plan.method != "copy-image":
                    self.store.delete(self.store.staged_location(plan.image["id"]))

    def _import_to_stores(self, plan: "ImportPlan") -> None:
        """Glance's import flow: the data (staged, downloaded to staging, or the image's own for
        copy-image) is written to each store in turn.  With all_stores_must_succeed (the
        default) the image becomes active after the last store and one failure undoes every
        store of this import; without it, after the first store that succeeds, and failed
        stores are only listed in os_glance_failed_import."""
        image_id = plan.image["id"]
        copying = plan.method == "copy-image"
        if plan.method == "web-download":
            try:
                self._download_to_staging(image_id, plan.uri or "", plan.limit)
            except Exception as exc:
                LOG.warning("import of image %s (web-download) failed: %s", image_id, exc)
                self._import_failed(plan, plan.stores, str(exc), [])
                return
        if copying:
            with self.db.reader() as session:
                row = session.get(Image, image_id)
                sources = [(location.store, location.url) for location in row.locations] if row else []
            size, virtual_size, expected = plan.image["size"], plan.image["virtual_size"], plan.image["checksum"]

            def read() -> Iterator[bytes]:
                return self._read_locations(sources)
        else:
            staged = self.store.staged_location(image_id)
            size = os.path.getsize(self.store.path(staged))
            virtual_size = self.measure(self.store.path(staged), plan.image.get("disk_format"), size)
            expected = None

            def read() -> Iterator[bytes]:
                return self.store.open(staged)
        added: list[tuple[str, str]] = []
        for index, store_id in enumerate(plan.stores, 1):
            store = self.backends[store_id]
            set_active = not copying and (not plan.must_succeed or index == len(plan.stores))
            try:
                location, ingest = self._write_copy(store, plan, read, size, expected)
            except Exception as exc:
                LOG.warning("import of image %s to store %s failed: %s", image_id, store_id, exc)
                if plan.must_succeed:
                    self._import_failed(plan, [store_id], f"store {store_id}: {exc}", added)
                    return
                with self.db.writer() as session:
                    row = session.get(Image, image_id)
                    if row is not None:
                        self._change_store_lists(row, failed=[store_id])
                        row.updated_at = now()
                continue
            activated = None
            with self.db.writer() as session:
                row = session.get(Image, image_id)
                if row is None or (not copying and row.status != states.IMPORTING) or \
                        (copying and row.status not in (states.ACTIVE, states.DEACTIVATED)):
                    store.delete(location)  # deleted (or reset) meanwhile: keep nothing
                    for done_store, url in added:
                        self._delete_data(done_store, url)
                    if row is not None:
                        row.locations = [loc for loc in row.locations if loc.store not in dict(added)]
                    self._finish_task(session, plan.task_id, "failure", "the image changed during the import")
                    return
                row.locations.append(ImageLocation(store=store_id, url=location, position=len(row.locations),
                                                   created_at=now()))
                self._change_store_lists(row, done=[store_id])
                if not copying and row.checksum is None:
                    row.size, row.virtual_size = ingest.size, virtual_size
                    row.checksum, row.os_hash_algo = ingest.md5.hexdigest(), HASH_ALGO
                    row.os_hash_value = ingest.sha.hexdigest()
                    row.staged_size = 0
                if set_active and row.status == states.IMPORTING:
                    row.status = states.MACHINE.next(row.status, "import_done")
                row.updated_at = now()
                session.flush()
                if set_active and row.status == states.ACTIVE:
                    activated = self.view(row)
            added.append((store_id, location))
            if activated is not None:
                self.notify("image.upload", activated)
                self.notify("image.activate", activated)
        with self.db.writer() as session:
            row = session.get(Image, image_id)
            if row is None:
                return
            if not copying and row.status == states.IMPORTING:  # no store took the data
                row.status = states.MACHINE.next(row.status, "import_failed")
                row.staged_size = 0
                self._finish_task(session, plan.task_id, "failure", "None of the uploads finished!")
            else:
                self._finish_task(session, plan.task_id, "success", "")
            row.updated_at = now()

    def _write_copy(self, store: Store, plan: "ImportPlan", read: Any, size: int | None,
                    expected_md5: str | None) -> tuple[str, Ingest]:
        """The data into one store, hashed on the way; a copy whose md5 differs from the
        image's checksum is removed and fails."""
        writer = store.writer(plan.image["id"], size=size)
        ingest = Ingest(self, plan.image, writer, limit=plan.limit, staging=False, store=store)
        try:
            chunks = read()
            try:
                for chunk in chunks:
                    ingest.feed_blocking(chunk)
            finally:
                getattr(chunks, "close", lambda: None)()
            location = writer.commit()
        except BaseException:
            writer.abort()
            raise
        if expected_md5 and ingest.md5.hexdigest() != expected_md5:
            store.delete(location)
            raise errors.Conflict(f"the copy in store {store.id} does not match the image's checksum")
        return location, ingest

    def _download_to_staging(self, image_id: str, uri: str, limit: int | None) -> None:
        writer = self.store.writer(image_id, staging=True)
        received = 0
        try:
            with urllib.request.urlopen(uri, timeout=60) as response:  # noqa: S310 (filtered in import_image)
                while chunk := response.read(1 << 20):
                    received += len(chunk)
                    if limit is not None and received > limit:
                        raise OverQuota("Image exceeds the storage quota or the image size limit.")
                    writer.write(chunk)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    @staticmethod
    def _finish_task(session: orm.Session, task_id: str, status: str, message: str) -> None:
        task = session.get(ImageTask, task_id)
        if task is not None:
            task.status, task.message, task.updated_at = status, message, now()
            task.result = json.dumps({"image_id": task.image_id})

    def _import_failed(self, plan: "ImportPlan", failed: list[str], message: str,
                       added: list[tuple[str, str]]) -> None:
        """The import fails as a whole: the stores written by it lose their copy, its stores leave
        the importing list (the failed ones go to os_glance_failed_import), and an image being
        imported goes back to queued (a copied image stays active)."""
        for store_id, url in added:
            self._delete_data(store_id, url)
        with self.db.writer() as session:
            self._finish_task(session, plan.task_id, "failure", message)
            row = session.get(Image, plan.image["id"])
            if row is None:
                return
            undone = {store_id for store_id, _ in added}
            row.locations = [location for location in row.locations if location.store not in undone]
            self._change_store_lists(row, done=plan.stores, failed=failed)
            if row.status == states.IMPORTING:
                row.status = states.MACHINE.next(row.status, "import_failed")
                row.staged_size = 0
                row.size = row.virtual_size = row.checksum = row.os_hash_algo = row.os_hash_value = None
            row.updated_at = now()

    def delete_from_store(self, ctx: RequestContext, store_id: str, image_id: str) -> None:
        """DELETE /v2/stores/{store_id}/{image_id}: drop one store's copy of an active image
        (never its last one), as Glance."""
        if store_id not in self.backends:
            raise errors.Conflict(f"The selected store {store_id} is not available on this node.")
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._authorize(ctx, "get_image_location", row)
            self._authorize(ctx, "delete_image_location", row)
            if row.status != states.ACTIVE:
                raise errors.Conflict("It's not allowed to remove image data from store if image status is not "
                                      "'active'")
            if len(row.locations) == 1:
                raise errors.Forbidden("Cannot delete image data from the only store containing it. Consider "
                                       "deleting the image instead.")
            found = [location for location in row.locations if location.store == store_id]
            if not found:
                raise errors.NotFound(f"Image {image_id} is not stored in store {store_id}.")
            url = found[0].url
            row.locations.remove(found[0])
            row.updated_at = now()
            session.flush()
            image = self.view(row)
        self._delete_data(store_id, url)
        self.notify("image.update", image)

    def tasks(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        """The imports of an image (GET /v2/images/{id}/tasks)."""
        with self.db.reader() as session:
            row = self._load(session, ctx, image_id)
            self._authorize(ctx, "get_image", row)
            tasks = session.scalars(sa.select(ImageTask).where(ImageTask.image_id == image_id)
                                    .order_by(ImageTask.created_at)).all()
            return [{"id": t.id, "type": t.type, "status": t.status, "owner": t.owner, "user_id": t.user_id,
                     "request_id": t.request_id, "image_id": t.image_id, "input": json.loads(t.input),
                     "result": json.loads(t.result) if t.result else None, "message": t.message,
                     "created_at": isotime(t.created_at), "updated_at": isotime(t.updated_at),
                     "expires_at": None} for t in tasks]

    # -- start-up --------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Images a crash left in saving or importing go back to queued, imports left processing
        fail (a copy-image's image stays active, its stores are listed as failed); leftovers of
        interrupted writes in local stores are removed (remote stores: `recover_remote`, once
        the cloud answers).  Returns the ids put back to queued."""
        repaired: list[str] = []
        with self.db.writer() as session:
            for task in session.scalars(sa.select(ImageTask).where(ImageTask.status == "processing")):
                self._finish_task(session, task.id, "failure", "interrupted by a restart")
                row = session.get(Image, task.image_id)
                if row is not None:
                    pending = _store_list(self._property(row, IMPORTING_KEY))
                    self._change_store_lists(row, failed=pending)
            for row in session.scalars(sa.select(Image).where(Image.status.in_(states.STUCK))):
                row.status = states.MACHINE.next(row.status, "recover")
                row.staged_size = 0
                row.updated_at = now()
                repaired.append(row.id)
        for image_id in repaired:
            self.store.delete(self.store.staged_location(image_id))
            LOG.warning("image %s was interrupted by a restart: back to queued", image_id)
        for store in {id(s): s for s in [self.store, *self.backends.values()] if s.local}.values():
            store.cleanup_temporary()
        return repaired

    def recover_remote(self) -> int:
        """Leftovers of interrupted writes in the stores that are services (Object Storage):
        run once they answer.  Returns how many were removed."""
        removed = 0
        for store in self.backends.values():
            if not store.local:
                removed += store.cleanup_temporary()
        return removed

    def close(self) -> None:
        self._imports.shutdown(wait=False, cancel_futures=True)


def _sort(rows: list[Image], order: Iterable[tuple[str, str]]) -> list[Image]:
    """Stable multi-key sort; None sorts first ascending, as in SQL databases that put NULLs low."""
    result = list(rows)
    for key, direction in reversed(list(order)):
        def sort_key(row: Image, key: str = key) -> tuple[int, Any]:
            value = getattr(row, key)
            return (0, "") if value is None else (1, value)
        result.sort(key=sort_key, reverse=(direction == "desc"))
    return result

