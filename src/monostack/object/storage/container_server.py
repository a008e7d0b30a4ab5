"""The container server: Swift's backend protocol for containers and their object rows.

    PUT/HEAD/GET/POST/DELETE /<device>/<partition>/<account>/<container>
    PUT/DELETE /<device>/<partition>/<account>/<container>/<object>    object rows (from object servers)
    REPLICATE /<device>/<partition>/<hash>                              database replication

A container PUT or DELETE tells the account servers (X-Account-Host/-Device/-Partition) at
once; changes of the object count and bytes are told a moment later, together (`AccountReporter`);
what does not get through is sent again by the container updater.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from monostack.object.proxy.http import last_modified_from_timestamp
from monostack.object.ring.hashing import HashPath
from monostack.object.storage import constraints, listing
from monostack.object.storage.base import (HTTPError, Request, Response, StorageServer, check_names, title,
                                           error_response, validate_partition)
from monostack.object.storage.container_db import ContainerBroker
from monostack.object.storage.db import DatabaseAlreadyExists, DatabaseNotFound, MetadataError, storage_path
from monostack.object.storage.db_rpc import ReplicatorRpc
from monostack.object.storage.reporting import AccountReporter, account_update_headers, send_account_update
from monostack.object.storage.row_batches import RowBatches
from monostack.object.storage.timestamp import Timestamp

LOG = logging.getLogger(__name__)

DATADIR = "containers"
SAVE_HEADERS = ("x-container-read", "x-container-write", "x-container-sync-key", "x-container-sync-to")


def gen_headers(info: dict[str, Any], deleted: bool) -> dict[str, str]:
    headers = {
        "X-Backend-Timestamp": Timestamp(info["created_at"]).internal,
        "X-Backend-PUT-Timestamp": Timestamp(info["put_timestamp"]).internal,
        "X-Backend-DELETE-Timestamp": Timestamp(info["delete_timestamp"]).internal,
        "X-Backend-Status-Changed-At": Timestamp(info["status_changed_at"]).internal,
        "X-Backend-Storage-Policy-Index": str(info["storage_policy_index"]),
    }
    if not deleted:
        headers.update({
            "X-Container-Object-Count": str(info["object_count"]),
            "X-Container-Bytes-Used": str(info["bytes_used"]),
            "X-Timestamp": Timestamp(info["created_at"]).normal,
            "X-PUT-Timestamp": Timestamp(info["put_timestamp"]).normal,
            "X-Backend-Sharding-State": "unsharded",
        })
    return headers


def metadata_headers(metadata: dict[str, list[str]], prefixes: tuple[str, ...],
                     save_headers: tuple[str, ...] = ()) -> dict[str, str]:
    return {key: value for key, (value, _ts) in metadata.items()
            if value != "" and (key.lower() in save_headers or key.lower().startswith(prefixes))}


class ContainerServer(StorageServer):
    server_type = "container-server"
    methods = frozenset(("PUT", "GET", "HEAD", "POST", "DELETE", "REPLICATE"))

    def __init__(self, devices_dir: str, hash_path: HashPath, pool: Any, reporter: AccountReporter | None = None,
                 *, policies: frozenset[int] = frozenset({0}), pending_max: int = 131072,
                 report_delay: float = 1.0, client_timeout: float = 60.0, workers: Any = None):
        super().__init__(devices_dir, workers=workers, client_timeout=client_timeout)
        self.hash_path = hash_path
        self.pool = pool
        self.reporter = reporter
        self.policies = policies
        self.pending_max = pending_max
        self.report_delay = report_delay
        self.rpc = ReplicatorRpc(devices_dir, DATADIR, ContainerBroker, pending_max)
        self._reports_due: set[str] = set()
        self.rows = RowBatches(self._write_rows, self.spawn)

    def broker(self, device: str, partition: str, account: str, container: str) -> ContainerBroker:
        name_hash = self.hash_path.hexdigest(account, container)
        return ContainerBroker(storage_path(self.devices_dir, device, DATADIR, partition, name_hash), account,
                               container, pending_max=self.pending_max)

    def _parse(self, request: Request, min_segments: int = 4) -> tuple[str, str, str, str, str | None]:
        device, partition, account, container, obj = request.split(min_segments, 5, True)
        validate_partition(partition)
        check_names(account, container, obj)
        return device, partition, account, container, obj  # type: ignore[return-value]

    def _policy(self, request: Request) -> int | None:
        value = request.headers.get("x-backend-storage-policy-index")
        if value is None:
            return None
        try:
            policy = int(value)
        except ValueError:
            policy = -1
        if policy not in self.policies:
            raise HTTPError(400, f"Invalid X-Backend-Storage-Policy-Index {value!r}", content_type="text/plain")
        return policy

    # -- PUT -------------------------------------------------------------------------------------------
    async def PUT(self, request: Request) -> Response:
        device, partition, account, container, obj = self._parse(request)
        timestamp = request.timestamp()
        broker = self.broker(device, partition, account, container)
        if obj:
            return await self._put_object(request, broker, device, partition, account, obj, timestamp)
        problem = constraints.check_metadata(request.headers, "container")
        if problem:
            raise HTTPError(400, problem, content_type="text/plain")
        requested = self._policy(request)
        policy = requested
        if policy is None:
            default = request.headers.get("x-backend-storage-policy-default", "0") or "0"
            policy = int(default) if default.isdigit() and int(default) in self.policies else 0
        def work() -> tuple[bool, dict[str, Any]]:
            created = self._update_or_create(broker, timestamp, policy, requested)
            self._update_metadata(request, broker, timestamp)
            return created, broker.get_info()

        created, info = await self.run_on(device, work)
        failed = await self.account_update(request, account, container, broker, info)
        if failed is not None:
            return failed
        return Response(201 if created else 202,
                        {"X-Backend-Storage-Policy-Index": str(info["storage_policy_index"]),
                         "Content-Type": "text/html; charset=UTF-8"})

    def _update_or_create(self, broker: ContainerBroker, timestamp: Timestamp, policy: int,
                          requested: int | None) -> bool:
        if not broker.exists():
            try:
                broker.initialize(timestamp.internal, storage_policy_index=policy)
                return True
            except DatabaseAlreadyExists:
                pass
        info = broker.get_info()
        recreated = broker.is_deleted(info)
        if recreated:
            broker.set_storage_policy_index(policy)
        elif requested is not None and requested != info["storage_policy_index"]:
            raise HTTPError(409, headers={"X-Backend-Storage-Policy-Index": str(info["storage_policy_index"])})
        broker.update_put_timestamp(timestamp.internal)
        if broker.is_deleted():
            raise HTTPError(409)
        if recreated:
            broker.update_status_changed_at(timestamp.internal)
        return recreated

    def _update_metadata(self, request: Request, broker: ContainerBroker, timestamp: Timestamp) -> None:
        updates = {title(key): (value, timestamp.internal) for key, value in request.headers.items()
                   if key in SAVE_HEADERS or key.startswith(("x-container-meta-", "x-container-sysmeta-"))}
        if updates:
            try:
                broker.update_metadata(updates, validate=True)
            except MetadataError as exc:
                raise HTTPError(400, str(exc), content_type="text/plain") from None

    async def _put_object(self, request: Request, broker: ContainerBroker, device: str, partition: str,
                          account: str, obj: str, timestamp: Timestamp) -> Response:
        headers = request.headers
        try:
            size = int(headers["x-size"])
            content_type = _real(headers["x-content-type"])
            etag = _real(headers["x-etag"])
        except (KeyError, ValueError, UnicodeError):
            raise HTTPError(400, "X-Size, X-Content-Type and X-Etag are required", content_type="text/plain") \
                from None
        ctype_timestamp = _timestamp_header(headers, "x-content-type-timestamp")
        meta_timestamp = _timestamp_header(headers, "x-meta-timestamp")
        policy = self._policy(request) or 0
        await self._row_update(request, broker, device, account, timestamp, policy,
                               ContainerBroker.object_record(obj, timestamp.internal, size, content_type, etag, 0,
                                                             policy, ctype_timestamp, meta_timestamp))
        self._report_soon(broker, device, partition)
        return Response(201, {"Content-Type": "text/html; charset=UTF-8"})

    async def _row_update(self, request: Request, broker: ContainerBroker, device: str, account: str,
                          timestamp: Timestamp, policy: int, record: dict[str, Any]) -> None:
        """The object row into the database's pending file, with the other rows for it that arrive
        meanwhile (row_batches.py)."""
        header = request.headers.get("x-backend-auto-create")
        auto = header.lower() in ("1", "true", "yes", "on", "t", "y") if header else \
            account.startswith(constraints.AUTO_CREATE_ACCOUNT_PREFIX)
        await self.rows.put(broker.db_file, _Row(broker, device, record, timestamp, policy) if auto else
                            _Row(broker, device, record))

    async def _write_rows(self, db_file: str, rows: list["_Row"]) -> None:
        await self.run_on(rows[0].device, self._write_rows_now, rows)

    @staticmethod
    def _write_rows_now(rows: list["_Row"]) -> None:
        broker = rows[0].broker
        create = next((row for row in rows if row.create_at is not None), None)
        if create is not None and not broker.exists():
            try:
                broker.initialize(Timestamp(create.create_at.normal).internal, storage_policy_index=create.policy)
            except DatabaseAlreadyExists:
                pass
        try:
            broker.put_records([row.record for row in rows])
        except DatabaseNotFound:
            raise HTTPError(404) from None

    # -- DELETE ------------------------------------------------------------------------------------------
    async def DELETE(self, request: Request) -> Response:
        device, partition, account, container, obj = self._parse(request)
        timestamp = request.timestamp()
        broker = self.broker(device, partition, account, container)
        if obj:
            policy = self._policy(request) or 0
            await self._row_update(request, broker, device, account, timestamp, policy,
                                   ContainerBroker.object_record(obj, timestamp.internal, 0, "application/deleted",
                                                                 "noetag", 1, policy))
            self._report_soon(broker, device, partition)
            return Response(204)
        existed, info = await self.run_on(device, self._delete_container, broker, timestamp)
        failed = await self.account_update(request, account, container, broker, info)
        if failed is not None:
            return failed
        return Response(204) if existed else error_response(404)

    def _delete_container(self, broker: ContainerBroker, timestamp: Timestamp) -> tuple[bool, dict[str, Any]]:
        if not broker.exists():
            raise HTTPError(404)
        info = broker.get_info()
        if info["object_count"]:
            raise HTTPError(409)
        existed = bool(Timestamp(info["put_timestamp"])) and not broker.is_deleted(info)
        broker.delete_db(timestamp.internal)
        info = broker.get_info()
        if not broker.is_deleted(info):
            raise HTTPError(409)
        return existed, info

    # -- HEAD / GET ---------------------------------------------------------------------------------------
    def _info(self, broker: ContainerBroker) -> tuple[dict[str, Any], bool]:
        try:
            info = broker.get_info()
        except DatabaseNotFound:
            raise HTTPError(404) from None
        return info, broker.is_deleted(info)

    async def HEAD(self, request: Request) -> Response:
        device, partition, account, container, obj = self._parse(request)
        if obj:
            raise HTTPError(400, "Invalid path", content_type="text/plain")
        out_type = listing.content_type(request)
        broker = self.broker(device, partition, account, container)
        info, deleted = await self.run_on(device, self._info, broker)
        headers = gen_headers(info, deleted)
        if deleted:
            return error_response(404, headers=headers)
        headers.update(metadata_headers(info["metadata"], ("x-container-meta-", "x-container-sysmeta-"), SAVE_HEADERS))
        headers["Content-Type"] = f"{out_type}; charset=utf-8"
        headers["Content-Length"] = "0"
        headers["Last-Modified"] = last_modified_from_timestamp(Timestamp(info["put_timestamp"]).normal)
        return Response(204, headers)

    async def GET(self, request: Request) -> Response:
        device, partition, account, container, obj = self._parse(request)
        if obj:
            raise HTTPError(400, "Invalid path", content_type="text/plain")
        params = listing.listing_params(request, constraints.CONTAINER_LISTING_LIMIT)
        out_type = listing.content_type(request)
        policy = self._policy(request)
        allow_reserved = request.true("x-backend-allow-reserved-names")
        broker = self.broker(device, partition, account, container)

        def work() -> tuple[dict[str, Any], bool, list[dict[str, Any]]]:
            info, deleted = self._info(broker)
            if deleted:
                return info, deleted, []
            records = broker.list_objects(
                params["limit"], params["marker"], params["end_marker"], params["prefix"], params["delimiter"],
                params["path"], params["reverse"], info["storage_policy_index"] if policy is None else policy,
                allow_reserved)
            return info, deleted, records

        info, deleted, records = await self.run_on(device, work)
        headers = gen_headers(info, deleted)
        if deleted:
            return error_response(404, headers=headers)
        headers["X-Backend-Record-Type"] = "object"
        headers["X-Backend-Record-Storage-Policy-Index"] = str(
            info["storage_policy_index"] if policy is None else policy)
        headers.update(metadata_headers(info["metadata"], ("x-container-meta-", "x-container-sysmeta-"), SAVE_HEADERS))
        body = listing.container_body(records, container, out_type)
        headers["Content-Type"] = f"{out_type}; charset=utf-8"
        headers["Last-Modified"] = last_modified_from_timestamp(Timestamp(info["put_timestamp"]).normal)
        return Response(200 if body else 204, headers, body)

    # -- POST -------------------------------------------------------------------------------------------------
    async def POST(self, request: Request) -> Response:
        device, partition, account, container, obj = self._parse(request)
        if obj:
            raise HTTPError(400, "Invalid path", content_type="text/plain")
        timestamp = request.timestamp()
        problem = constraints.check_metadata(request.headers, "container")
        if problem:
            raise HTTPError(400, problem, content_type="text/plain")
        broker = self.broker(device, partition, account, container)

        def work() -> None:
            _info, deleted = self._info(broker)
            if deleted:
                raise HTTPError(404)
            if not request.true("x-backend-no-timestamp-update"):
                broker.update_put_timestamp(timestamp.internal)
            self._update_metadata(request, broker, timestamp)

        await self.run_on(device, work)
        return Response(204)

    # -- REPLICATE ---------------------------------------------------------------------------------------------
    async def REPLICATE(self, request: Request) -> Response:
        device, partition, name_hash = request.split(3, 3)
        validate_partition(partition)
        self.check_device(device)  # type: ignore[arg-type]
        try:
            args = json.loads(await request.read(self.client_timeout, limit=256 << 20))
        except ValueError as exc:
            raise HTTPError(400, str(exc), content_type="text/plain") from None
        status, body = await self.run(self.rpc.dispatch, device, partition, name_hash, args)
        return Response(status, {"Content-Type": "application/json"}, json.dumps(body).encode())

    # -- account updates -----------------------------------------------------------------------------------------
    async def account_update(self, request: Request, account: str, container: str, broker: ContainerBroker,
                             info: dict[str, Any]) -> Response | None:
        """Tell the account servers the proxy named; 404 when every one of them lacks the account."""
        headers = request.headers
        hosts = [h.strip() for h in headers.get("x-account-host", "").split(",")]
        devices = [d.strip() for d in headers.get("x-account-device", "").split(",")]
        partition = headers.get("x-account-partition", "")
        if len(hosts) != len(devices):
            LOG.error("account update failed: %d hosts but %d devices in the request", len(hosts), len(devices))
            return error_response(400)
        targets = [(h, d) for h, d in zip(hosts, devices) if h and d] if partition else []
        if not targets:
            return None
        out = account_update_headers(info, headers.get("x-trans-id", "-"))
        out["User-Agent"] = "container-server"
        if headers.get("x-account-override-deleted", "no").lower() == "yes":
            out["X-Account-Override-Deleted"] = "yes"
        nodes = []
        for host, device in targets:
            ip, _, port = host.rpartition(":")
            nodes.append({"ip": ip.strip("[]"), "port": int(port) if port.isdigit() else 0, "device": device})
        statuses = await send_account_update(self.pool, nodes, partition, account, container, out)
        if all(status == 404 for status in statuses):
            return error_response(404)
        if all(status is not None and 200 <= status < 300 for status in statuses):
            await self.run(broker.reported, info["put_timestamp"], info["delete_timestamp"], info["object_count"],
                           info["bytes_used"])
        return None

    def _report_soon(self, broker: ContainerBroker, device: str, partition: str) -> None:
        """The account servers learn the new object count and bytes shortly (one report for all the
        changes in between); the container updater retries what fails."""
        if self.reporter is None or self.report_delay <= 0 or broker.db_file in self._reports_due:
            return
        self._reports_due.add(broker.db_file)

        async def later() -> None:
            try:
                await asyncio.sleep(self.report_delay)
                self._reports_due.discard(broker.db_file)
                await self.reporter.report(broker)  # type: ignore[union-attr]
            except DatabaseNotFound:
                pass
            except Exception:
                LOG.exception("reporting %s to its account failed", broker.db_file)
            finally:
                self._reports_due.discard(broker.db_file)

        self.spawn(later())


class _Row:
    """One object row update for a batch; `create_at`: the request may create the database (Swift's
    auto-create accounts), with this timestamp and policy."""
    __slots__ = ("broker", "device", "record", "create_at", "policy")

    def __init__(self, broker: ContainerBroker, device: str, record: dict[str, Any],
                 create_at: Timestamp | None = None, policy: int = 0):
        self.broker = broker
        self.device = device
        self.record = record
        self.create_at = create_at
        self.policy = policy


def _real(value: str) -> str:
    """A header value as the text it encodes (UTF-8)."""
    return value.encode("latin-1").decode("utf-8")


def _timestamp_header(headers: dict[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return Timestamp(value).internal
    except ValueError:
        raise HTTPError(400, f"Invalid {name} header", content_type="text/plain") from None
