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
import datetime
import hashlib
import json
import logging
import mmap
import subprocess
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
from monostack.image.models import Image, ImageMember, ImageProperty, ImageTag, ImageTask
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


class RangeNotSatisfiable(errors.APIError):
    code, title = 416, "Requested Range Not Satisfiable"
    default_message = "Requested range not satisfiable"


class Ingest:
    """Receives an image's data: hashes it (md5 and sha512) and writes it to the store as it
    arrives, in blocks handed to worker threads while the next blocks are received.  Never holds
    more than IN_FLIGHT + 1 blocks (see consume)."""

    def __init__(self, svc: "ImageService", image: dict[str, Any], writer: Any, *, limit: int | None,
                 staging: bool):
        self.svc = svc
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


class ImageService:
    def __init__(self, conf: Config, db: Database, *, store: FilesystemStore | None = None,
                 bus: "Bus | None" = None, loop: asyncio.AbstractEventLoop | None = None,
                 policy: Policy | None = None):
        from monostack.image import policies
        self.conf = conf
        self.db = db
        self.bus = bus
        self.loop = loop
        self.store = store or FilesystemStore(conf.image.store_dir, fsync=conf.image.fsync)
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
        if row.status == states.ACTIVE and row.location:
            image["stores"] = "file"
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
            location = row.location
            session.delete(row)
        if location:
            self.store.delete(location)
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
    def begin_upload(self, ctx: RequestContext, image_id: str, *, staging: bool = False) -> Ingest:
        """queued -> saving (upload) or uploading (stage); returns the Ingest that takes the data."""
        event = "stage" if staging else "upload"
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
            writer = self.store.writer(image_id, staging=staging)
        except Exception:
            self._revert(image_id, states.SAVING if not staging else states.UPLOADING)
            raise
        if not staging:
            self.notify("image.prepare", image)
        return Ingest(self, image, writer, limit=limit, staging=staging)

    def create_from_file(self, ctx: RequestContext, body: dict[str, Any], path: str) -> dict[str, Any]:
        """Register an image and upload a local file as its data, blocking (start-up registration of
        images the cloud ships, e.g. with `RequestContext.service()` and `owner` in the body)."""
        image = self.create(ctx, body)
        ingest = self.begin_upload(ctx, image["id"])
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
            virtual_size = self.measure(self.store.path(location), ingest.image.get("disk_format"), ingest.size)
        with self.db.writer() as session:
            row = session.get(Image, ingest.image_id)
            expected = states.UPLOADING if ingest.staging else states.SAVING
            if row is None or row.status != expected:
                self.store.delete(location)
                if row is None:
                    raise errors.Gone(f"Image {ingest.image_id} could not be found after upload. The image may "
                                      f"have been deleted during the upload.")
                raise errors.Conflict(f"Image {ingest.image_id} changed status to {row.status} during the upload.")
            if ingest.staging:
                row.staged_size = ingest.size
            else:
                row.status = states.MACHINE.next(row.status, "upload_done")
                row.location = location
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
            location = row.location if row.status in (states.ACTIVE, states.DEACTIVATED) else None
        if location is None or image["size"] is None:
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
                data = self.store.open(location)
            else:
                data = self.store.open(location, span[0], span[1] - span[0] + 1)
        except FileNotFoundError:
            raise errors.ServiceUnavailable(f"The image data of {image_id} is missing from the store.") from None
        self.notify("image.send", {"image_id": image_id, "receiver_tenant_id": ctx.project_id,
                                   "owner_id": image["owner"], "bytes_sent": image["size"]})
        return image, data, span

    # -- interoperable import --------------------------------------------------------------
    def import_methods(self) -> list[str]:
        return [m for m in self.conf.image.enabled_import_methods if m in ("glance-direct", "web-download")]

    def stores(self) -> list[dict[str, Any]]:
        return [{"id": self.store.id, "description": self.store.description, "default": True}]

    def url_allowed(self, uri: str) -> bool:
        parsed = urllib.parse.urlsplit(uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            return False
        return any(prefix and uri.startswith(prefix) for prefix in self.conf.image.web_download_allowed_urls)

    def import_image(self, ctx: RequestContext, image_id: str, body: Any) -> concurrent.futures.Future:
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise errors.BadRequest("Import request requires a 'method' field.")
        method = body["method"].get("name")
        if method not in self.import_methods():
            raise errors.BadRequest(f"Import method {method!r} is not valid or not enabled.")
        stores = body.get("stores")
        if stores is not None and (not isinstance(stores, list) or any(s != self.store.id for s in stores)):
            raise errors.Conflict(f"Unknown store(s) in {stores!r}: this cloud has '{self.store.id}'.")
        uri = body["method"].get("uri")
        if method == "web-download":
            if not isinstance(uri, str) or not self.url_allowed(uri):
                raise errors.BadRequest("URI for web-download does not pass filtering: " + str(uri))
        with self.db.writer() as session:
            row = self._load(session, ctx, image_id, lock=True)
            self._require_owner_or_admin(ctx, row, "import_image")
            if row.disk_format is None or row.container_format is None:
                raise errors.Conflict("'disk_format' needs to be set before import")
            if method == "glance-direct" and row.status != states.UPLOADING:
                raise errors.Conflict(f"Image needs to be staged before 'glance-direct' method can be used "
                                      f"(status {row.status}).")
            if method == "web-download" and row.status != states.QUEUED:
                raise errors.Conflict(f"Image needs to be in 'queued' status to use 'web-download' "
                                      f"(status {row.status}).")
            limit = self._bytes_allowed(session, row.owner)
            row.status = states.MACHINE.next(row.status, "import_start")
            for prop in list(row.properties):
                if prop.name in ("os_glance_failed_import", "os_glance_importing_to_stores"):
                    row.properties.remove(prop)
            session.flush()
            row.properties.append(ImageProperty(name="os_glance_importing_to_stores", value=self.store.id))
            task_id = str(uuid.uuid4())
            for prop in list(row.properties):
                if prop.name == "os_glance_import_task":
                    row.properties.remove(prop)
            session.flush()
            row.properties.append(ImageProperty(name="os_glance_import_task", value=task_id))
            row.updated_at = stamp = now()
            session.add(ImageTask(id=task_id, image_id=image_id, type="api_image_import", status="processing",
                                  owner=row.owner, user_id=ctx.user_id, request_id=ctx.request_id,
                                  input=json.dumps({"image_id": image_id, "import_req": body,
                                                    "backend": [self.store.id]}),
                                  result=None, message="", created_at=stamp, updated_at=stamp))
            image = self.view(row)
        self.notify("image.import", image)
        ctx_copy = context_mod.RequestContext.from_dict(ctx.to_dict())
        future = self._imports.submit(self._run_import, ctx_copy, image, method, uri, limit, task_id)
        self.import_futures[image_id] = future
        future.add_done_callback(lambda _f: self.import_futures.pop(image_id, None))
        return future

    def _run_import(self, ctx: RequestContext, image: dict[str, Any], method: str, uri: str | None,
                    limit: int | None, task_id: str) -> None:
        image_id = image["id"]
        with context_mod.use_context(ctx):
            writer = self.store.writer(image_id)
            ingest = Ingest(self, image, writer, limit=limit, staging=False)
            staged = self.store.staged_location(image_id)
            try:
                if method == "glance-direct":
                    for chunk in self.store.open(staged):
                        ingest.feed_blocking(chunk)
                else:
                    assert uri is not None
                    with urllib.request.urlopen(uri, timeout=60) as response:  # noqa: S310 (filtered above)
                        while chunk := response.read(1 << 20):
                            ingest.feed_blocking(chunk)
                location = writer.commit()
            except Exception as exc:
                LOG.warning("import of image %s (%s) failed: %s", image_id, method, exc)
                writer.abort()
                self._import_failed(image_id, task_id, str(exc))
                return
            virtual_size = self.measure(self.store.path(location), image.get("disk_format"), ingest.size)
            with self.db.writer() as session:
                row = session.get(Image, image_id)
                if row is None or row.status != states.IMPORTING:
                    self.store.delete(location)
                    return
                row.status = states.MACHINE.next(row.status, "import_done")
                self._finish_task(session, task_id, "success", "")
                row.location, row.size, row.virtual_size = location, ingest.size, virtual_size
                row.checksum, row.os_hash_algo = ingest.md5.hexdigest(), HASH_ALGO
                row.os_hash_value = ingest.sha.hexdigest()
                row.staged_size = 0
                for prop in list(row.properties):
                    if prop.name == "os_glance_importing_to_stores":
                        prop.value = ""
                row.updated_at = now()
                session.flush()
                done = self.view(row)
            self.store.delete(staged)
            self.notify("image.upload", done)
            self.notify("image.activate", done)

    @staticmethod
    def _finish_task(session: orm.Session, task_id: str, status: str, message: str) -> None:
        task = session.get(ImageTask, task_id)
        if task is not None:
            task.status, task.message, task.updated_at = status, message, now()
            task.result = json.dumps({"image_id": task.image_id})

    def _import_failed(self, image_id: str, task_id: str, message: str) -> None:
        with self.db.writer() as session:
            self._finish_task(session, task_id, "failure", message)
            row = session.get(Image, image_id)
            if row is None or row.status != states.IMPORTING:
                return
            row.status = states.MACHINE.next(row.status, "import_failed")
            row.staged_size = 0
            for prop in list(row.properties):
                if prop.name in ("os_glance_importing_to_stores", "os_glance_failed_import"):
                    row.properties.remove(prop)
            session.flush()
            row.properties.append(ImageProperty(name="os_glance_failed_import", value=self.store.id))
            row.updated_at = now()
        self.store.delete(self.store.staged_location(image_id))

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
        """Images a crash left in saving or importing go back to queued; leftovers of interrupted
        writes are removed.  Returns the ids repaired."""
        repaired: list[str] = []
        with self.db.writer() as session:
            for row in session.scalars(sa.select(Image).where(Image.status.in_(states.STUCK))):
                row.status = states.MACHINE.next(row.status, "recover")
                for task in session.scalars(sa.select(ImageTask).where(ImageTask.image_id == row.id,
                                                                       ImageTask.status == "processing")):
                    self._finish_task(session, task.id, "failure", "interrupted by a restart")
                row.staged_size = 0
                row.updated_at = now()
                repaired.append(row.id)
        for image_id in repaired:
            self.store.delete(self.store.staged_location(image_id))
            LOG.warning("image %s was interrupted by a restart: back to queued", image_id)
        self.store.cleanup_temporary()
        return repaired

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

