"""The account server: Swift's backend protocol for accounts and their container rows.

    PUT/HEAD/GET/POST/DELETE /<device>/<partition>/<account>
    PUT /<device>/<partition>/<account>/<container>     a container row (from container servers)
    REPLICATE /<device>/<partition>/<hash>               database replication
"""

from __future__ import annotations

import json
from typing import Any

from monostack.object.ring.hashing import HashPath
from monostack.object.storage import constraints, listing
from monostack.object.storage.account_db import AccountBroker
from monostack.object.storage.base import (HTTPError, Request, Response, StorageServer, check_names,
                                           error_response, title, validate_partition)
from monostack.object.storage.container_server import metadata_headers
from monostack.object.storage.db import DatabaseAlreadyExists, DatabaseNotFound, MetadataError, storage_path
from monostack.object.storage.db_rpc import ReplicatorRpc
from monostack.object.storage.timestamp import Timestamp

DATADIR = "accounts"
META_PREFIXES = ("x-account-meta-", "x-account-sysmeta-")


class AccountServer(StorageServer):
    server_type = "account-server"
    methods = frozenset(("PUT", "GET", "HEAD", "POST", "DELETE", "REPLICATE"))

    def __init__(self, devices_dir: str, hash_path: HashPath, *, policy_names: dict[int, str] | None = None,
                 pending_max: int = 131072, client_timeout: float = 60.0, workers: Any = None):
        super().__init__(devices_dir, workers=workers, client_timeout=client_timeout)
        self.hash_path = hash_path
        self.policy_names = policy_names if policy_names is not None else {0: "Policy-0"}
        self.pending_max = pending_max
        self.rpc = ReplicatorRpc(devices_dir, DATADIR, AccountBroker, pending_max)

    def broker(self, device: str, partition: str, account: str) -> AccountBroker:
        name_hash = self.hash_path.hexdigest(account)
        return AccountBroker(storage_path(self.devices_dir, device, DATADIR, partition, name_hash), account,
                             pending_max=self.pending_max)

    def _parse(self, request: Request, max_segments: int = 3) -> tuple[str, str, str, str | None]:
        segments = request.split(3, max_segments)
        device, partition, account = segments[:3]
        container = segments[3] if len(segments) > 3 else None
        validate_partition(partition)
        check_names(account, container)
        return device, partition, account, container  # type: ignore[return-value]

    def _deleted(self, broker: AccountBroker, info: dict[str, Any] | None, status: int, body: str | None = None) \
            -> Response:
        headers = {}
        if info is not None and broker.is_status_deleted(info):
            headers["X-Account-Status"] = "Deleted"
        return error_response(status, body, headers=headers, content_type="text/plain" if body else None)

    def _info(self, broker: AccountBroker) -> dict[str, Any] | None:
        try:
            return broker.get_info()
        except DatabaseNotFound:
            return None

    # -- PUT ---------------------------------------------------------------------------------------------
    async def PUT(self, request: Request) -> Response:
        device, partition, account, container = self._parse(request, 4)
        broker = self.broker(device, partition, account)
        if container:
            return await self._put_container(request, broker, device, account, container)
        timestamp = request.timestamp()
        problem = constraints.check_metadata(request.headers, "account")
        if problem:
            raise HTTPError(400, problem, content_type="text/plain")

        def work() -> Response:
            created = False
            if not broker.exists():
                try:
                    broker.initialize(timestamp.internal)
                    created = True
                except DatabaseAlreadyExists:
                    pass
            if not created:
                info = broker.get_info()
                if broker.is_status_deleted(info):
                    return self._deleted(broker, info, 403, "Recently deleted")
                created = broker.is_deleted(info)
                broker.update_put_timestamp(timestamp.internal)
                if broker.is_deleted():
                    return error_response(409)
            self._update_metadata(request, broker, timestamp)
            return Response(201 if created else 202, {"Content-Type": "text/html; charset=UTF-8"})

        return await self.run_on(device, work)

    async def _put_container(self, request: Request, broker: AccountBroker, device: str, account: str,
                             container: str) -> Response:
        headers = request.headers
        timestamp = request.timestamp_or_now()
        try:
            put_timestamp = Timestamp(headers["x-put-timestamp"]).internal
            delete_timestamp = Timestamp(headers["x-delete-timestamp"]).internal
            object_count = int(headers["x-object-count"])
            bytes_used = int(headers["x-bytes-used"])
            policy = int(headers.get("x-backend-storage-policy-index", "0"))
        except (KeyError, ValueError):
            raise HTTPError(400, "X-Put-Timestamp, X-Delete-Timestamp, X-Object-Count and X-Bytes-Used are required",
                            content_type="text/plain") from None

        def work() -> Response:
            if account.startswith(constraints.AUTO_CREATE_ACCOUNT_PREFIX) and not broker.exists():
                try:
                    broker.initialize(timestamp.internal)
                except DatabaseAlreadyExists:
                    pass
            info = self._info(broker)
            override = headers.get("x-account-override-deleted", "no").lower() == "yes"
            if info is None or (not override and broker.is_deleted(info)):
                return error_response(404)
            broker.put_container(container, put_timestamp, delete_timestamp, object_count, bytes_used, policy)
            if Timestamp(delete_timestamp) > Timestamp(put_timestamp):
                return Response(204)
            return Response(201, {"Content-Type": "text/html; charset=UTF-8"})

        return await self.run_on(device, work)

    def _update_metadata(self, request: Request, broker: AccountBroker, timestamp: Timestamp) -> None:
        updates = {title(key): (value, timestamp.internal) for key, value in request.headers.items()
                   if key.startswith(META_PREFIXES)}
        if updates:
            try:
                broker.update_metadata(updates, validate=True)
            except MetadataError as exc:
                raise HTTPError(400, str(exc), content_type="text/plain") from None

    # -- DELETE ---------------------------------------------------------------------------------------------
    async def DELETE(self, request: Request) -> Response:
        device, partition, account, _ = self._parse(request)
        timestamp = request.timestamp()
        broker = self.broker(device, partition, account)

        def work() -> Response:
            info = self._info(broker)
            if info is None:
                return error_response(404)
            if broker.is_deleted(info):
                return self._deleted(broker, info, 404)
            broker.delete_db(timestamp.internal)
            return self._deleted(broker, broker.get_info(), 204, "")

        return await self.run_on(device, work)

    # -- HEAD / GET -------------------------------------------------------------------------------------------
    def _headers(self, broker: AccountBroker, info: dict[str, Any]) -> dict[str, str]:
        headers = {"X-Account-Container-Count": str(info["container_count"]),
                   "X-Account-Object-Count": str(info["object_count"]),
                   "X-Account-Bytes-Used": str(info["bytes_used"]),
                   "X-Timestamp": Timestamp(info["created_at"]).normal,
                   "X-PUT-Timestamp": Timestamp(info["put_timestamp"]).normal}
        for index, stats in broker.policy_stats().items():
            name = self.policy_names.get(index)
            if name is None:
                continue
            for key, value in stats.items():
                headers[f"X-Account-Storage-Policy-{name}-{key.replace('_', '-').title()}"] = str(value)
        headers.update(metadata_headers(info["metadata"], META_PREFIXES))
        return headers

    async def HEAD(self, request: Request) -> Response:
        device, partition, account, _ = self._parse(request)
        out_type = listing.content_type(request)
        broker = self.broker(device, partition, account)

        def work() -> Response:
            info = self._info(broker)
            if info is None:
                return error_response(404)
            if broker.is_deleted(info):
                return self._deleted(broker, info, 404)
            headers = self._headers(broker, info)
            headers["Content-Type"] = f"{out_type}; charset=utf-8"
            headers["Content-Length"] = "0"
            return Response(204, headers)

        return await self.run_on(device, work)

    async def GET(self, request: Request) -> Response:
        device, partition, account, _ = self._parse(request)
        params = listing.listing_params(request, constraints.ACCOUNT_LISTING_LIMIT)
        if params["path"] is not None:
            params["path"] = None  # accounts have no path listing
        out_type = listing.content_type(request)
        allow_reserved = request.true("x-backend-allow-reserved-names")
        broker = self.broker(device, partition, account)

        def work() -> Response:
            info = self._info(broker)
            if info is None:
                return error_response(404)
            if broker.is_deleted(info):
                return self._deleted(broker, info, 404)
            headers = self._headers(broker, info)
            rows = broker.list_containers(params["limit"], params["marker"], params["end_marker"], params["prefix"],
                                          params["delimiter"], params["reverse"], allow_reserved)
            records = []
            for row in rows:
                if len(row) == 1:
                    records.append({"subdir": row[0]})
                    continue
                name, object_count, bytes_used, put_timestamp, policy = row
                record = {"name": name, "count": object_count, "bytes": bytes_used,
                          "last_modified": Timestamp(put_timestamp).isoformat}
                if policy in self.policy_names:
                    record["storage_policy"] = self.policy_names[policy]
                records.append(record)
            headers["Content-Type"] = f"{out_type}; charset=utf-8"
            if not records and out_type == "text/plain":
                return Response(204, headers)
            return Response(200, headers, listing.account_body(records, account, out_type))

        return await self.run_on(device, work)

    # -- POST ---------------------------------------------------------------------------------------------------
    async def POST(self, request: Request) -> Response:
        device, partition, account, _ = self._parse(request)
        timestamp = request.timestamp()
        problem = constraints.check_metadata(request.headers, "account")
        if problem:
            raise HTTPError(400, problem, content_type="text/plain")
        broker = self.broker(device, partition, account)

        def work() -> Response:
            info = self._info(broker)
            if info is None:
                return error_response(404)
            if broker.is_deleted(info):
                return self._deleted(broker, info, 404)
            self._update_metadata(request, broker, timestamp)
            return Response(204)

        return await self.run_on(device, work)

    # -- REPLICATE -------------------------------------------------------------------------------------------------
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
