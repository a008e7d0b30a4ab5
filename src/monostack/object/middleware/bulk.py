"""Bulk operations: bulk delete (POST or DELETE ?bulk-delete, a newline separated list
of /container/object and /container paths) and archive extraction (PUT
?extract-archive=tar|tar.gz|tar.bz2: each file of the archive becomes an object,
its first directory the container).

As in Swift the answer is always 200: the real status is in the body (plain
text, JSON or XML after Accept), and whitespace is sent every `yield_frequency`
seconds while the work goes on so that clients and proxies do not time out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tarfile
import urllib.parse
import zlib
from typing import Any, AsyncIterator, Awaitable, Callable
from xml.sax import saxutils

from monostack.object.proxy import constraints
from monostack.object.proxy.http import REASONS, Body, HTTPError, Request, Response, error
from monostack.object.proxy.listing import _accept_match

LOG = logging.getLogger(__name__)
ACCEPTABLE = ["text/plain", "application/json", "application/xml", "text/xml"]
YIELD_FREQUENCY = 10.0


def status_text(status: int) -> str:
    return f"{status} {REASONS.get(status, ('Unknown', ''))[0]}"


def out_content_type(req: Request) -> str | None:
    accept = req.headers.get("accept")
    if not accept:
        return "text/plain"
    try:
        chosen = _accept_match(accept)
    except ValueError:
        return "text/plain"
    return chosen


def response_body(data_format: str | None, data: dict[str, Any], errors: list[list[str]], root: str) -> bytes:
    """Swift's body of a bulk (or SLO) answer."""
    if data_format == "application/json":
        return json.dumps({**data, "Errors": errors}).encode("ascii")
    if data_format and data_format.endswith("/xml"):
        out = [f"<{root}>\n"]
        for key in sorted(data):
            tag = key.replace(" ", "_").lower()
            out.append(f"<{tag}>{saxutils.escape(str(data[key]))}</{tag}>\n")
        out.append("<errors>\n")
        for name, status in errors:
            out.append(f"<object><name>{saxutils.escape(name)}</name><status>{saxutils.escape(status)}</status>"
                       "</object>\n")
        out.append(f"</errors>\n</{root}>\n")
        return "".join(out).encode("utf-8")
    lines = [f"{key}: {data[key]}\n" for key in sorted(data)]
    lines.append("Errors:\n")
    lines.extend(f"{name}, {status}\n" for name, status in errors)
    return "".join(lines).encode("utf-8")


def heartbeat_response(fmt: str | None, job: Callable[[], Awaitable[bytes]]) -> Response:
    """A 200 whose body is whitespace while `job` runs, then its result."""
    first = b'<?xml version="1.0" encoding="UTF-8"?>\n' if fmt and fmt.endswith("/xml") else b" "

    async def body() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(job())
        sent = False
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=YIELD_FREQUENCY)
                if done:
                    break
                yield first if not sent else b" "
                sent = True
            result = task.result()
            yield (b"\r\n\r\n" if sent else b"") + result
        finally:
            if not task.done():
                task.cancel()

    headers = {"content-type": fmt or "text/plain"}
    return Response(200, headers, body())


class _SyncReader:
    """The request body as a blocking file for tarfile, read in a worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop):
        self.chunks = chunks
        self.loop = loop
        self.buffer = b""
        self.eof = False

    def _next(self) -> bytes:
        async def step() -> bytes:
            try:
                return await self.chunks.__anext__()
            except StopAsyncIteration:
                return b""
        return asyncio.run_coroutine_threadsafe(step(), self.loop).result()

    def read(self, size: int = -1) -> bytes:
        while not self.eof and (size < 0 or len(self.buffer) < size):
            data = self._next()
            if not data:
                self.eof = True
                break
            self.buffer += data
        if size < 0:
            out, self.buffer = self.buffer, b""
        else:
            out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


def pax_header(key: str) -> str | None:
    for prefix in ("SCHILY.xattr.user.", "LIBARCHIVE.xattr.user."):
        if key == prefix + "mime_type":
            return "content-type"
        if key.startswith(prefix + "meta."):
            return "x-object-meta-" + key[len(prefix + "meta."):].lower()
    return None


class Bulk:
    def __init__(self, app: Any, proxy: Any, conf: Any):
        self.app = app
        section = conf.object
        self.max_containers = section.bulk_max_containers_per_extraction
        self.max_failed_extractions = section.bulk_max_failed_extractions
        self.max_deletes = section.bulk_max_deletes_per_request
        self.max_failed_deletes = section.bulk_max_failed_deletes
        self.delete_concurrency = 2
        self.max_path_length = constraints.MAX_OBJECT_NAME_LENGTH + constraints.MAX_CONTAINER_NAME_LENGTH + 2
        proxy.register_capability("bulk_upload", max_containers_per_extraction=self.max_containers,
                                  max_failed_extractions=self.max_failed_extractions)
        proxy.register_capability("bulk_delete", max_deletes_per_request=self.max_deletes,
                                  max_failed_deletes=self.max_failed_deletes)

    async def __call__(self, req: Request) -> Response:
        params = req.params
        extract = params.get("extract-archive")
        if extract is not None and req.method == "PUT":
            kind = {"tar": "", "tar.gz": "gz", "tar.bz2": "bz2"}.get(extract.lower().strip("."))
            if kind is None:
                return error(400, "Unsupported archive format")
            fmt = out_content_type(req)
            return heartbeat_response(fmt, lambda: self.extract(req, kind, fmt))
        if "bulk-delete" in params and req.method in ("POST", "DELETE"):
            fmt = out_content_type(req)
            return heartbeat_response(fmt, lambda: self.delete(req, None, fmt))
        return await self.app(req)

    # -- delete --------------------------------------------------------------------------------
    async def _names(self, req: Request) -> list[dict[str, Any]]:
        if req.content_length is None and not req.chunked:
            raise HTTPError(error(411))
        names: list[dict[str, Any]] = []
        pending = b""
        async for chunk in req.body:
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                name = urllib.parse.unquote_to_bytes(line.strip()).decode("utf-8", "surrogateescape")
                names.append({"name": name})
                if len(names) > self.max_deletes:
                    raise HTTPError(error(413, f"Maximum Bulk Deletes: {self.max_deletes} per request"))
            if len(pending) > self.max_path_length * 2:
                raise HTTPError(error(400, "Invalid File Name"))
        name = urllib.parse.unquote_to_bytes(pending.strip()).decode("utf-8", "surrogateescape")
        if name:
            names.append({"name": name})
        if len(names) > self.max_deletes:
            raise HTTPError(error(413, f"Maximum Bulk Deletes: {self.max_deletes} per request"))
        return names

    async def delete(self, req: Request, items: list[dict[str, Any]] | AsyncIterator[dict[str, Any]] | None,
                     fmt: str | None, source: str = "BD") -> bytes:
        """Delete the named objects (then containers); the body of the answer."""
        result: dict[str, Any] = {"Response Status": status_text(200), "Response Body": "",
                                  "Number Deleted": 0, "Number Not Found": 0}
        failed: list[list[str]] = []
        failure_status = 400
        try:
            if not fmt:
                raise HTTPError(error(406))
            try:
                version, account, _rest = req.split_path(2, 3, True)
            except ValueError:
                raise HTTPError(error(404)) from None
            incoming = req.headers.get("content-type")
            if items is None and incoming and not incoming.startswith("text/plain"):
                raise HTTPError(error(406))
            if items is None:
                items = await self._names(req)
            collected = [i async for i in items] if not isinstance(items, list) else items
            objects = [i for i in collected if i["name"] and "/" in i["name"].strip("/")]
            containers = [i for i in collected if i["name"] and "/" not in i["name"].strip("/")]
            limit = asyncio.Semaphore(self.delete_concurrency)

            async def one(item: dict[str, Any]) -> None:
                nonlocal failure_status
                name = item["name"]
                if item.get("error"):
                    if item["error"]["code"] == 404:
                        result["Number Not Found"] += 1
                    else:
                        failed.append([urllib.parse.quote(name), item["error"]["message"]])
                    return
                path = f"/{version}/{account}/{name.lstrip('/')}"
                if not constraints.valid_utf8(path) or "\udcff" in path:
                    failed.append([urllib.parse.quote(name, errors="surrogateescape"), status_text(412)])
                    return
                if len(failed) >= self.max_failed_deletes:
                    return
                async with limit:
                    resp = await self.app(req.sub("DELETE", path, {}, b"", source=source))
                    await resp.read()
                if resp.is_success:
                    result["Number Deleted"] += 1
                elif resp.status == 404:
                    result["Number Not Found"] += 1
                elif resp.status == 401:
                    failed.append([urllib.parse.quote(name), status_text(401)])
                else:
                    if resp.status >= 500:
                        failure_status = 502
                    failed.append([urllib.parse.quote(name), status_text(resp.status)])

            for group in (objects, containers):
                await asyncio.gather(*(one(item) for item in group))
                if len(failed) >= self.max_failed_deletes:
                    raise HTTPError(error(400, "Max delete failures exceeded"))
            if failed:
                result["Response Status"] = status_text(failure_status)
            elif not (result["Number Deleted"] or result["Number Not Found"]):
                result["Response Status"] = status_text(400)
                result["Response Body"] = "Invalid bulk delete."
        except HTTPError as exc:
            result["Response Status"] = status_text(exc.response.status)
            result["Response Body"] = (exc.response.body or b"").decode("utf-8", "replace") \
                if isinstance(exc.response.body, bytes) else ""
        except Exception:
            LOG.exception("error in bulk delete")
            result["Response Status"] = status_text(500)
        return response_body(fmt, result, failed, "delete")

    # -- extract ----------------------------------------------------------------------------------
    async def _create_container(self, req: Request, path: str) -> bool:
        head = await self.app(req.sub("HEAD", path, {}, source="EA"))
        await head.close()
        if head.is_success:
            return False
        if head.status == 404:
            put = await self.app(req.sub("PUT", path, {"content-length": "0"}, b"", source="EA"))
            await put.read()
            if put.is_success:
                return True
            head = put
        raise _ContainerError(head.status)

    async def extract(self, req: Request, compress: str, fmt: str | None) -> bytes:
        result: dict[str, Any] = {"Response Status": status_text(201), "Response Body": "",
                                  "Number Files Created": 0}
        failed: list[list[str]] = []
        failure_status = 400
        loop = asyncio.get_running_loop()
        members: asyncio.Queue = asyncio.Queue(maxsize=1)
        stop = False

        def read_archive() -> None:
            """In a worker thread: walk the archive, hand each file over as a stream of chunks."""
            reader = _SyncReader(req.body.chunks(), loop)
            current: asyncio.Queue | None = None
            try:
                with tarfile.open(mode="r|" + compress, fileobj=reader) as tar:  # type: ignore[call-overload]
                    for info in tar:
                        if stop:
                            break
                        if not info.isfile():
                            continue
                        current = asyncio.Queue(maxsize=4)
                        asyncio.run_coroutine_threadsafe(members.put((info, current)), loop).result()
                        handle = tar.extractfile(info)
                        while handle is not None:
                            chunk = handle.read(1 << 20)
                            asyncio.run_coroutine_threadsafe(current.put(chunk), loop).result()
                            if not chunk:
                                break
                        current = None
            finally:
                if current is not None:  # the archive broke inside a file: end its stream
                    asyncio.run_coroutine_threadsafe(current.put(b""), loop).result()
                asyncio.run_coroutine_threadsafe(members.put(None), loop).result()

        try:
            if not fmt:
                raise HTTPError(error(406))
            if req.content_length is None and not req.chunked:
                raise HTTPError(error(411))
            try:
                version, account, base = req.split_path(2, 3, True)
            except ValueError:
                raise HTTPError(error(404)) from None
            base = (base or "").rstrip("/")
            worker = loop.run_in_executor(None, read_archive)
            accessed: set[str] = set()
            created = 0
            try:
                while True:
                    item = await members.get()
                    if item is None:
                        break
                    info, data = item

                    async def chunks(queue: asyncio.Queue = data) -> AsyncIterator[bytes]:
                        while True:
                            chunk = await queue.get()
                            if not chunk:
                                return
                            yield chunk

                    stream = chunks()
                    try:
                        if len(failed) >= self.max_failed_extractions:
                            continue
                        name = info.name
                        if name.startswith("./"):
                            name = name[2:]
                        name = name.lstrip("/")
                        if base:
                            name = f"{base}/{name}"
                        if "/" not in name:
                            continue  # files at the top level have no container
                        destination = f"/{version}/{account}/{name}"
                        container = name.split("/", 1)[0]
                        quoted = urllib.parse.quote(name[:self.max_path_length], errors="surrogateescape")
                        if not constraints.valid_utf8(destination) or any(
                                0xD800 <= ord(c) <= 0xDFFF for c in destination):
                            failed.append([quoted, status_text(412)])
                            continue
                        if info.size > constraints.MAX_FILE_SIZE:
                            failed.append([quoted, status_text(413)])
                            continue
                        container_failure = None
                        if container not in accessed:
                            try:
                                if await self._create_container(req, f"/{version}/{account}/{container}"):
                                    created += 1
                                    if created > self.max_containers:
                                        raise HTTPError(error(400, f"More than {self.max_containers} containers "
                                                                   "to create from tar."))
                            except _ContainerError as exc:
                                container_failure = [urllib.parse.quote(f"/{version}/{account}/{container}"),
                                                     status_text(exc.status)]
                                if exc.status == 401:
                                    raise HTTPError(error(401)) from None
                        headers = {"content-length": str(info.size)}
                        for key, value in req.headers.items():
                            if key in ("x-delete-at", "x-delete-after") or key.startswith("x-object-meta-"):
                                headers[key] = value
                        for key, value in (info.pax_headers or {}).items():
                            header = pax_header(key)
                            if header:
                                headers[header] = value.encode("utf-8").decode("latin-1")
                        resp = await self.app(req.sub("PUT", destination, headers, Body(source=stream),
                                                      source="EA"))
                        await resp.read()
                        accessed.add(container)
                        if resp.is_success:
                            result["Number Files Created"] += 1
                        else:
                            if container_failure:
                                failed.append(container_failure)
                            if resp.status == 401:
                                failed.append([quoted, status_text(401)])
                                raise HTTPError(error(401))
                            if resp.status >= 500:
                                failure_status = 502
                            failed.append([quoted, status_text(resp.status)])
                    finally:
                        async for _ in stream:  # whatever the PUT did not read
                            pass
            finally:
                stop = True
                while True:  # let the reader thread finish
                    try:
                        leftover = members.get_nowait()
                    except asyncio.QueueEmpty:
                        if worker.done():
                            break
                        await asyncio.sleep(0.01)
                        continue
                    if leftover is not None:
                        _info, data = leftover
                        while (await data.get()):
                            pass
                await worker
            if failed:
                result["Response Status"] = status_text(failure_status)
            elif not result["Number Files Created"]:
                result["Response Status"] = status_text(400)
                result["Response Body"] = "Invalid Tar File: No Valid Files"
        except HTTPError as exc:
            result["Response Status"] = status_text(exc.response.status)
            body = exc.response.body
            result["Response Body"] = body.decode("utf-8", "replace") if isinstance(body, bytes) else ""
        except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
            result["Response Status"] = status_text(400)
            result["Response Body"] = f"Invalid Tar File: {exc}"
        except Exception:
            LOG.exception("error in extract archive")
            result["Response Status"] = status_text(500)
        return response_body(fmt, result, failed, "extract")


class _ContainerError(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status
