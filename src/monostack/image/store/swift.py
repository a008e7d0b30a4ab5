"""The Swift store: image data as objects in the Object Storage service.

Behaviour follows glance_store's single-tenant swift driver:

- Images live in the account of the service project (`[image] swift_store_project`, "service"):
  container `swift_store_container` ("glance"), or with `swift_store_multiple_containers_seed`
  = N one container per image-id prefix (`glance_3a1` for an id starting "3a1").  A missing
  container is created on the first write (`swift_store_create_container_on_put`).
- The data is streamed with chunked transfer encoding, a block at a time: nothing holds the
  whole image.  An image whose size is unknown beforehand, or at least
  `swift_store_large_object_size` MiB (5 GiB, as glance_store), is written as segments of
  `swift_store_large_object_chunk_size` MiB (`<id>-00001`, `<id>-00002`, ... beside it) and
  joined by a static large object manifest at `<id>` (glance_store writes a DLO manifest;
  an SLO names its segments and their ETags, so a read never depends on a container listing;
  beyond SLO_MAX_SEGMENTS segments, a DLO manifest it is).
- An interrupted write leaves nothing visible: a chunked PUT that never sends its last chunk
  is discarded by Swift, and segments already written are deleted; segments a crash left
  without a manifest are removed by `cleanup_temporary` (run once the cloud answers).
- Reads are streamed GETs, with a Range header for partial downloads.  Delete removes the
  manifest and its segments (`?multipart-manifest=delete`; a DLO's prefix for objects written
  by glance_store).

Locations are Glance's `swift+config://<ref>/<container>/<object>` form, the store's id as
the reference: the account and endpoint are resolved through Identity when the data is used,
so no credential is kept in a location and a move of the endpoint (another bind address)
leaves stored images readable.

The store is used from worker threads (sync): a sync httpx client for requests with small
bodies and streamed reads, and a raw http.client connection per object write so that the
writer can push blocks as the upload delivers them.
"""

from __future__ import annotations

import datetime
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from typing import Any, Iterator

import httpx

from monostack.common import errors

LOG = logging.getLogger(__name__)
MiB = 1 << 20
# Segments a static large object manifest may list (Swift's max_manifest_segments default); an
# image with more (over 195 GiB with the default 200 MiB segments) gets a DLO manifest instead,
# which names its segments by their common prefix, as glance_store's always does.
SLO_MAX_SEGMENTS = 1000
SEGMENT_NAME = re.compile(r"^(?P<image>[0-9a-f-]{36})-(?P<index>\d{5})$")


class SwiftError(errors.ServiceUnavailable):
    """Object Storage failed or refused a request of the store (503 at the Image API)."""


class SwiftSession:
    """The store's own Keystone session (sync): a project-scoped token for the service
    credentials, renewed before it expires, and the object-store endpoint of its catalog."""

    def __init__(self, identity_url: str, *, username: str, password: str, project_name: str,
                 user_domain_id: str = "default", project_domain_id: str = "default", region: str | None = None,
                 endpoint_override: str = "", interface: str = "public"):
        self.identity_url = identity_url.rstrip("/")
        self.region = region or None
        self.interface = interface
        self.endpoint_override = endpoint_override.rstrip("/")
        self._auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": username, "domain": {"id": user_domain_id}, "password": password}}},
            "scope": {"project": {"name": project_name, "domain": {"id": project_domain_id}}}}
        self.client = httpx.Client(timeout=httpx.Timeout(60, connect=10))
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self._endpoint = ""

    def close(self) -> None:
        self.client.close()

    def _authenticate(self) -> None:
        try:
            response = self.client.post(f"{self.identity_url}/v3/auth/tokens", json={"auth": self._auth})
        except httpx.HTTPError as exc:
            raise SwiftError(f"The Swift store cannot reach Identity: {exc}") from None
        if response.status_code != 201:
            raise SwiftError(f"The Swift store cannot authenticate to Identity ({response.status_code}).")
        body = response.json()["token"]
        self._token = response.headers["x-subject-token"]
        expires = datetime.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        self._expires = expires.timestamp()
        self._endpoint = self.endpoint_override or self._find_endpoint(body.get("catalog", []))

    def _find_endpoint(self, catalog: list[dict[str, Any]]) -> str:
        for service in catalog:
            if service.get("type") != "object-store":
                continue
            for endpoint in service.get("endpoints", []):
                if endpoint.get("interface") == self.interface and (
                        self.region is None or endpoint.get("region_id") == self.region):
                    return endpoint["url"].rstrip("/")
        raise SwiftError("No object-store service in the catalog of the Swift store's credentials.")

    def credentials(self, refresh: bool = False) -> tuple[str, str]:
        """(token, storage URL of the account)."""
        with self._lock:
            if refresh or self._token is None or time.time() > self._expires - 120:
                self._authenticate()
            assert self._token is not None
            return self._token, self._endpoint


class SwiftWriter:
    """Pushes the data it is fed into Swift: one object, or segments and a manifest.

    Each object is one chunked PUT on a connection of its own; `write` sends blocks as they
    come, `commit` ends the last PUT (and writes the manifest), `abort` drops the connection
    mid-body (Swift keeps nothing of it) and deletes the segments already written."""

    def __init__(self, store: "SwiftStore", container: str, obj: str, *, segmented: bool):
        self.store = store
        self.container = container
        self.obj = obj
        self.segmented = segmented
        self.segment_size = store.large_object_chunk_size
        self.segments: list[dict[str, Any]] = []  # written: path, etag, size_bytes
        self._conn: http.client.HTTPConnection | None = None
        self._name = ""
        self._written = 0  # bytes of the object being written
        self.total = 0
        self._done = False
        store.ensure_container(container)

    # -- one object's PUT --------------------------------------------------------------
    def _begin(self, name: str) -> None:
        token, endpoint = self.store.session.credentials()
        url = urllib.parse.urlsplit(f"{endpoint}/{_quote(self.container)}/{_quote(name)}")
        factory = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = factory(url.hostname or "127.0.0.1", url.port, timeout=self.store.timeout)
        try:
            conn.putrequest("PUT", url.path, skip_accept_encoding=True)
            conn.putheader("X-Auth-Token", token)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Content-Type", "application/octet-stream")
            conn.endheaders()
        except OSError as exc:
            conn.close()
            raise SwiftError(f"Object Storage could not be reached: {exc}") from None
        self._conn, self._name, self._written = conn, name, 0

    def _send(self, data: memoryview) -> None:
        assert self._conn is not None
        try:
            self._conn.send(b"%x\r\n" % len(data))
            self._conn.send(data)
            self._conn.send(b"\r\n")
        except OSError as exc:
            self._drop()
            raise SwiftError(f"Writing image data to Object Storage failed: {exc}") from None
        self._written += len(data)
        self.total += len(data)

    def _finish(self) -> dict[str, Any]:
        """End the current PUT; returns what a manifest says of it."""
        conn, self._conn = self._conn, None
        assert conn is not None
        try:
            conn.send(b"0\r\n\r\n")
            response = conn.getresponse()
            response.read()
        except OSError as exc:
            raise SwiftError(f"Writing image data to Object Storage failed: {exc}") from None
        finally:
            conn.close()
        if response.status != 201:
            raise SwiftError(f"Object Storage refused the image data ({response.status} {response.reason}).")
        return {"path": f"/{self.container}/{self._name}", "etag": (response.getheader("etag") or "").strip('"'),
                "size_bytes": self._written}

    def _drop(self) -> None:
        """Close the connection without the last chunk: Swift discards the object."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        conn.close()

    def _segment_name(self) -> str:
        return f"{self.obj}-{len(self.segments) + 1:05d}"

    # -- the Writer interface ------------------------------------------------------------
    def write(self, data: bytes) -> None:
        view = memoryview(data).cast("B")
        while view:
            if self._conn is None:
                self._begin(self._segment_name() if self.segmented else self.obj)
            room = len(view) if not self.segmented else self.segment_size - self._written
            part, view = view[:room], view[room:]
            self._send(part)
            if self.segmented and self._written >= self.segment_size:
                self.segments.append(self._finish())

    def commit(self) -> str:
        try:
            if not self.segmented:
                if self._conn is None:  # no data at all: an empty object
                    self._begin(self.obj)
                self._finish()
            else:
                if self._conn is not None:
                    self.segments.append(self._finish())
                if not self.segments:  # an empty image: one empty object, no manifest
                    self._begin(self.obj)
                    self._finish()
                elif len(self.segments) <= SLO_MAX_SEGMENTS:
                    self.store.put_manifest(self.container, self.obj, self.segments)
                else:
                    self.store.put_dlo_manifest(self.container, self.obj, f"{self.obj}-")
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self.store.location(self.container, self.obj)

    def abort(self) -> None:
        self._drop()
        if not self._done:
            for segment in self.segments:
                self.store.delete_object(self.container, segment["path"].split("/", 2)[2])
            self.segments = []
            self._done = True


class SwiftStore:
    """glance_store's swift driver over this cloud's Object Storage (see the module doc)."""

    kind = "swift"
    local = False  # the data is not a local file: no `path`

    def __init__(self, store_id: str, session: SwiftSession, *, container: str = "glance",
                 multiple_containers_seed: int = 0, large_object_size: int = 5120 * MiB,
                 large_object_chunk_size: int = 200 * MiB, create_container_on_put: bool = True,
                 description: str = "", timeout: float = 600):
        if not 0 <= multiple_containers_seed <= 32:
            raise ValueError("swift_store_multiple_containers_seed must be between 0 and 32")
        if large_object_chunk_size <= 0 or large_object_size <= 0:
            raise ValueError("the swift store's large object sizes must be positive")
        self.id = store_id
        self.description = description or "Object Storage (Swift) store"
        self.session = session
        self.container = container
        self.seed = multiple_containers_seed
        self.large_object_size = large_object_size
        self.large_object_chunk_size = large_object_chunk_size
        self.create_container_on_put = create_container_on_put
        self.timeout = timeout
        self._containers: set[str] = set()
        self._started = time.time()

    # -- names -----------------------------------------------------------------------------
    def container_for(self, image_id: str) -> str:
        """glance_store's get_container_name: the seed's first characters of the id (and the
        dashes among them) name the container in multiple-container mode."""
        if not self.seed:
            return self.container
        lowered = image_id.lower()
        chars = self.seed + lowered[:self.seed].count("-")
        return f"{self.container}_{lowered[:chars]}"

    def location(self, container: str, obj: str) -> str:
        return f"swift+config://{self.id}/{_quote(container)}/{_quote(obj)}"

    def parse(self, location: str) -> tuple[str, str]:
        parsed = urllib.parse.urlsplit(location)
        parts = parsed.path.lstrip("/").split("/", 1)
        if parsed.scheme != "swift+config" or parsed.netloc != self.id or len(parts) != 2 or not all(parts):
            raise errors.BadRequest(f"The store {self.id} cannot read {location}")
        return urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[1])

    def owns(self, location: str) -> bool:
        return location.startswith(f"swift+config://{self.id}/")

    # -- HTTP --------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, content: bytes | None = None,
                 stream: bool = False) -> httpx.Response:
        """One request to the account (path relative to it); renews the token once on 401."""
        for attempt in (0, 1):
            token, endpoint = self.session.credentials(refresh=attempt == 1)
            request = self.session.client.build_request(
                method, f"{endpoint}/{path}" if path else endpoint, params=params, content=content,
                headers={"X-Auth-Token": token, **(headers or {})},
                timeout=httpx.Timeout(self.timeout, connect=10))
            try:
                response = self.session.client.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise SwiftError(f"Object Storage could not be reached: {exc}") from None
            if response.status_code != 401 or attempt == 1:
                return response
            response.close()
        raise AssertionError("unreachable")

    def ensure_container(self, container: str) -> None:
        if container in self._containers:
            return
        response = self._request("HEAD", _quote(container))
        if response.status_code == 404:
            if not self.create_container_on_put:
                raise SwiftError(f"The container {container} does not exist in Swift and "
                                 f"swift_store_create_container_on_put is off.")
            response = self._request("PUT", _quote(container))
            if response.status_code not in (201, 202):
                raise SwiftError(f"Object Storage refused to create container {container} "
                                 f"({response.status_code}).")
        elif response.status_code >= 300:
            raise SwiftError(f"Object Storage answered {response.status_code} for container {container}.")
        self._containers.add(container)

    def put_manifest(self, container: str, obj: str, segments: list[dict[str, Any]]) -> None:
        response = self._request("PUT", f"{_quote(container)}/{_quote(obj)}",
                                 params={"multipart-manifest": "put"}, content=json.dumps(segments).encode(),
                                 headers={"Content-Type": "application/octet-stream"})
        if response.status_code != 201:
            raise SwiftError(f"Object Storage refused the large object manifest ({response.status_code}: "
                             f"{response.text[:200]}).")

    def put_dlo_manifest(self, container: str, obj: str, prefix: str) -> None:
        response = self._request("PUT", f"{_quote(container)}/{_quote(obj)}", content=b"",
                                 headers={"X-Object-Manifest": f"{_quote(container)}/{_quote(prefix)}"})
        if response.status_code != 201:
            raise SwiftError(f"Object Storage refused the large object manifest ({response.status_code}).")

    def delete_object(self, container: str, obj: str, params: dict[str, str] | None = None) -> None:
        response = self._request("DELETE", f"{_quote(container)}/{_quote(obj)}", params=params)
        if response.status_code not in (200, 204, 404):
            LOG.warning("could not delete %s/%s from Object Storage: %s", container, obj, response.status_code)

    def list_objects(self, container: str, prefix: str = "") -> Iterator[dict[str, Any]]:
        marker = ""
        while True:
            params = {"format": "json", "marker": marker}
            if prefix:
                params["prefix"] = prefix
            response = self._request("GET", _quote(container), params=params)
            if response.status_code == 404:
                return
            if response.status_code >= 300:
                raise SwiftError(f"Object Storage answered {response.status_code} listing {container}.")
            page = response.json()
            if not page:
                return
            yield from page
            marker = page[-1]["name"]

    # -- the Store interface -----------------------------------------------------------------
    def writer(self, key: str, *, staging: bool = False, size: int | None = None) -> SwiftWriter:
        if staging:
            raise ValueError("the swift store does not stage data")
        if "/" in key or not key or key.startswith("."):
            raise ValueError(f"bad key {key!r}")
        segmented = size is None or size >= self.large_object_size
        return SwiftWriter(self, self.container_for(key), key, segmented=segmented)

    def open(self, location: str, offset: int = 0, length: int | None = None,
             chunk_size: int = 4 << 20) -> Iterator[bytes]:
        """The data in chunks; the GET is sent at once, so a missing object fails here
        (FileNotFoundError, as the filesystem store)."""
        container, obj = self.parse(location)
        headers = {}
        if offset or length is not None:
            last = "" if length is None else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{last}"
        response = self._request("GET", f"{_quote(container)}/{_quote(obj)}", headers=headers, stream=True)
        if response.status_code == 404:
            response.close()
            raise FileNotFoundError(location)
        if response.status_code == 416:
            response.close()
            return iter(())
        if response.status_code not in (200, 206):
            response.close()
            raise SwiftError(f"Object Storage answered {response.status_code} reading {location}.")

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_bytes(chunk_size)
            except httpx.HTTPError as exc:
                raise SwiftError(f"Reading image data from Object Storage failed: {exc}") from None
            finally:
                response.close()

        return chunks()

    def size(self, location: str) -> int:
        container, obj = self.parse(location)
        response = self._request("HEAD", f"{_quote(container)}/{_quote(obj)}")
        if response.status_code == 404:
            raise FileNotFoundError(location)
        return int(response.headers.get("content-length", 0))

    def delete(self, location: str) -> None:
        """The object and, for a large object, its segments; a missing object is no error."""
        try:
            container, obj = self.parse(location)
        except errors.APIError:
            return
        path = f"{_quote(container)}/{_quote(obj)}"
        head = self._request("HEAD", path)
        if head.status_code == 404:
            return
        if head.headers.get("x-static-large-object", "").lower() in ("true", "1", "yes"):
            self.delete_object(container, obj, params={"multipart-manifest": "delete"})
            return
        dlo = head.headers.get("x-object-manifest")
        if dlo and "/" in dlo:  # a DLO, as glance_store writes them: its segments share a prefix
            seg_container, prefix = urllib.parse.unquote(dlo).split("/", 1)
            for entry in list(self.list_objects(seg_container, prefix)):
                self.delete_object(seg_container, entry["name"])
        self.delete_object(container, obj)

    def path(self, location: str) -> str:
        raise NotImplementedError("the swift store keeps no local file")

    def containers(self) -> list[str]:
        """The containers this store writes to (the seed's prefix ones in multiple-container mode)."""
        if not self.seed:
            return [self.container]
        response = self._request("GET", "", params={"format": "json", "prefix": f"{self.container}_"})
        if response.status_code >= 300:
            raise SwiftError(f"Object Storage answered {response.status_code} listing the account.")
        return [entry["name"] for entry in response.json()]

    def cleanup_temporary(self) -> int:
        """Delete segments an interrupted write left without a manifest (written before this
        store was made: a write in progress now is not touched)."""
        removed = 0
        cutoff = datetime.datetime.fromtimestamp(self._started - 60, datetime.timezone.utc).replace(tzinfo=None)
        for container in self.containers():
            names: set[str] = set()
            orphans: list[tuple[str, str]] = []
            for entry in self.list_objects(container):
                names.add(entry["name"])
                match = SEGMENT_NAME.match(entry["name"])
                if match and _listing_time(entry) < cutoff:
                    orphans.append((entry["name"], match.group("image")))
            for name, image_id in orphans:
                if image_id not in names:
                    self.delete_object(container, name)
                    removed += 1
        return removed


def _listing_time(entry: dict[str, Any]) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(entry.get("last_modified", "")).replace(tzinfo=None)
    except ValueError:
        return datetime.datetime.max


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")
