"""The ASGI entry of the Object Storage API (pure ASGI: no framework between the
client and the proxy).

It does what Swift's outermost middlewares do: the transaction id (X-Trans-Id,
also X-Openstack-Request-Id, and the request id of every log line the request
causes), the health check, the gatekeeper (clients may not send or see system
metadata and backend headers), catch_errors (an unexpected error is a logged
500, never a traceback), and one access log line per request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import urllib.parse
from typing import Any, AsyncIterator

from monostack.common import context, zerocopy
from monostack.object.proxy.http import (Body, ClientDisconnect, ClientTimeout, Handler, HTTPError, Request,
                                         Response, error, plain)

LOG = logging.getLogger("monostack.api")

# Headers clients may neither set nor see (Swift's gatekeeper).
PRIVATE_PREFIXES = ("x-account-sysmeta-", "x-container-sysmeta-", "x-object-sysmeta-",
                    "x-object-transient-sysmeta-", "x-backend-")
def new_trans_id() -> str:
    """Swift's transaction id: 'tx', 21 random hex digits, '-', the time in hex (no syscall per request:
    it need not be secret, only unique)."""
    return f"tx{random.getrandbits(84):021x}-{int(time.time()):010x}"


async def _receive_chunks(receive: Any, timeout: float, state: dict[str, bool]) -> AsyncIterator[bytes]:
    while True:
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError:
            raise ClientTimeout() from None
        kind = message["type"]
        if kind == "http.request":
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                state["complete"] = True
                return
        elif kind == "http.disconnect":
            raise ClientDisconnect()


class ObjectStorageASGI:
    """The ASGI app mounted at the object-store and s3 catalog paths."""

    def __init__(self, pipeline: Handler, s3_paths: tuple[str, ...] = ("/s3",), client_timeout: float = 60.0):
        self.pipeline = pipeline
        self.s3_paths = s3_paths
        self.client_timeout = client_timeout

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        trans_id = new_trans_id()
        ctx = context.RequestContext(request_id=trans_id)
        inbound = {}
        token = context.set_context(ctx)
        status = 500
        sent = 0
        method = scope["method"]
        root = scope.get("root_path", "")
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        raw = raw.split(b"?", 1)[0]
        root_raw = root.encode("utf-8")
        if root_raw and raw.startswith(root_raw):
            raw = raw[len(root_raw):]
        try:
            headers: dict[str, str] = {}
            for name_b, value_b in scope["headers"]:
                name = name_b.decode("latin-1").lower()
                value = value_b.decode("latin-1")
                if name.startswith(PRIVATE_PREFIXES):
                    continue
                headers[name] = f"{headers[name]}, {value}" if name in headers and name != "host" else value
            inbound = headers
            body_state = {"complete": headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers}
            resp = await self._handle(scope, receive, method, raw, root, headers, trans_id, ctx, body_state)
            if not body_state["complete"]:
                # Answered before the whole request body came: the rest would be taken for the next
                # request on this connection (a client waiting on 100 Continue never sends it).
                resp.headers["connection"] = "close"
            status = resp.status
            sent = await self._send(resp, method, send, trans_id, receive if body_state["complete"] else None,
                                    zerocopy.offers(scope))
        except ClientDisconnect:
            status = 499
        finally:
            elapsed = time.perf_counter() - started
            path = (root_raw + raw).decode("latin-1")
            query = scope.get("query_string", b"")
            if query:
                path += "?" + query.decode("latin-1")
            LOG.info('object "%s %s" status: %d len: %d time: %.4f agent: %s', method, path, status, sent,
                     elapsed, inbound.get("user-agent", "-"))
            context._current.reset(token)

    async def _handle(self, scope: dict[str, Any], receive: Any, method: str, raw: bytes, root: str,
                      headers: dict[str, str], trans_id: str, ctx: context.RequestContext,
                      body_state: dict[str, bool]) -> Response:
        try:
            path = urllib.parse.unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return plain(412, "Invalid UTF8 or contains NULL")
        is_s3 = root in self.s3_paths
        if path == "/healthcheck" and (not is_s3 or "authorization" not in headers) and \
                method in ("GET", "HEAD"):
            return Response(200, {"content-type": "text/plain", "content-length": "2"},
                            b"OK" if method == "GET" else b"")
        scheme = headers.get("x-forwarded-proto") or scope.get("scheme", "http")
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        client = scope.get("client") or ("", 0)
        environ = {"swift.trans_id": trans_id, "swift.context": ctx, "url_root": f"{scheme}://{host}{root}",
                   "script_name": root, "client_addr": client[0], "swift.source": "",
                   "s3": is_s3, "raw_path": raw.decode("latin-1")}
        req = Request(method, path or "/", scope.get("query_string", b"").decode("latin-1"), headers,
                      Body(source=_receive_chunks(receive, self.client_timeout, body_state)), environ)
        try:
            return await self.pipeline(req)
        except HTTPError as exc:
            return exc.response
        except ClientTimeout:
            return error(408)
        except ClientDisconnect:
            return error(499)
        except Exception:
            LOG.exception("unhandled error in %s %s", method, path)
            return error(500)

    async def _send(self, resp: Response, method: str, send: Any, trans_id: str, receive: Any = None,
                    zero_copy: bool = False) -> int:
        out = []
        for name, value in resp.headers.items():
            if name.startswith(PRIVATE_PREFIXES):
                continue
            # (the HTTP server writes header names in lower case whatever we give it)
            out.append((name.encode("latin-1"), str(value).encode("latin-1", "replace")))
        out.append((b"x-trans-id", trans_id.encode()))
        out.append((b"x-openstack-request-id", trans_id.encode()))
        body = resp.body
        if method == "HEAD" or resp.status in (204, 304):
            await resp.close()
            await send({"type": "http.response.start", "status": resp.status, "headers": out})
            await send({"type": "http.response.body", "body": b""})
            return 0
        if isinstance(body, (bytes, bytearray)):
            if "content-length" not in resp.headers:
                out.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": resp.status, "headers": out})
            await send({"type": "http.response.body", "body": bytes(body)})
            return len(body)
        await send({"type": "http.response.start", "status": resp.status, "headers": out})
        file = resp.file
        if file is not None and zero_copy and "content-length" in resp.headers:
            return await _send_file(resp, file, send)
        sent = 0
        # A client that goes away stops the download (the server's send would just drop the data).
        gone = asyncio.ensure_future(_disconnected(receive)) if receive is not None else None
        try:
            async for chunk in resp.iter_body():
                sent += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if gone is not None and gone.done():
                    LOG.info("the client went away after %d bytes of a %d response", sent, resp.status)
                    await resp.close()
                    return sent
        except Exception as exc:
            # The status is sent: all we can do is cut the connection short so the client notices
            # (returning without the end of the body makes the server close it).
            from monostack.object.middleware.segments import SegmentError
            from monostack.object.proxy.backend import BackendError
            if isinstance(exc, (SegmentError, BackendError, TimeoutError)):
                LOG.error("the body of a %d response broke off after %d bytes: %s", resp.status, sent, exc)
            else:
                LOG.exception("the body of a %d response broke off after %d bytes", resp.status, sent)
            await resp.close()
            return sent
        finally:
            if gone is not None:
                gone.cancel()
        await send({"type": "http.response.body", "body": b""})
        return sent


async def _send_file(resp: Response, file: Any, send: Any) -> int:
    """A local replica's bytes straight from its file to the client's socket (common/zerocopy.py)."""
    start, stop = file.span
    try:
        await send({"type": zerocopy.EXTENSION, "file": file.fd, "offset": start, "count": stop - start,
                    "more_body": False})
        file.sent()
    except (OSError, EOFError, TimeoutError) as exc:  # the status is sent: the connection is cut short
        LOG.warning("the body of a %d response broke off: %s", resp.status, exc)
        return 0
    finally:
        await resp.close()
    return stop - start


async def _disconnected(receive: Any) -> None:
    """Returns when the client disconnects (the request body was read already)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
