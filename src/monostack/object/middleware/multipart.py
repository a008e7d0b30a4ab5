"""A streaming reader of multipart/form-data bodies (FormPost): parts one after the
other, each with its headers and a body read in chunks, never the whole upload
in memory."""

from __future__ import annotations

from typing import AsyncIterator


class MimeInvalid(Exception):
    pass


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """'form-data; name="file"; filename="a.txt"' -> ('form-data', {'name': 'file', 'filename': 'a.txt'})."""
    kind, _, rest = value.partition(";")
    params: dict[str, str] = {}
    while rest:
        rest = rest.lstrip(" ;")
        if not rest:
            break
        name, eq, rest = rest.partition("=")
        if not eq:
            break
        name = name.strip().lower()
        if rest.startswith('"'):
            end = 1
            out = []
            while end < len(rest) and rest[end] != '"':
                if rest[end] == "\\" and end + 1 < len(rest):
                    end += 1
                out.append(rest[end])
                end += 1
            params[name] = "".join(out)
            rest = rest[end + 1:]
        else:
            value_part, _, rest = rest.partition(";")
            params[name] = value_part.strip()
    return kind.strip().lower(), params


class MultipartReader:
    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes):
        self.chunks = chunks.__aiter__()
        self.delimiter = b"--" + boundary
        self.buffer = b""
        self.eof = False
        self.done = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.chunks.__anext__()
        except StopAsyncIteration:
            self.eof = True
            return False
        self.buffer += data
        return True

    async def _start(self) -> None:
        while len(self.buffer) < len(self.delimiter) + 2 and await self._fill():
            pass
        data = self.buffer
        if data.startswith(b"\r\n"):
            data = data[2:]
        if not data.startswith(self.delimiter):
            raise MimeInvalid("invalid starting boundary")
        self.buffer = data[len(self.delimiter):]
        await self._after_delimiter()

    async def _after_delimiter(self) -> None:
        while len(self.buffer) < 2 and await self._fill():
            pass
        if self.buffer.startswith(b"--"):
            self.done = True
            return
        if self.buffer.startswith(b"\r\n"):
            self.buffer = self.buffer[2:]
        elif self.buffer.startswith(b"\n"):
            self.buffer = self.buffer[1:]

    async def _headers(self) -> dict[str, str]:
        while b"\r\n\r\n" not in self.buffer:
            if self.buffer.startswith(b"\r\n"):
                self.buffer = self.buffer[2:]
                return {}
            if len(self.buffer) > 65536 or not await self._fill():
                raise MimeInvalid("unexpected end of the form")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip():
                headers[name.strip().lower()] = value.strip()
        return headers

    async def _body(self) -> AsyncIterator[bytes]:
        marker = b"\r\n" + self.delimiter
        while True:
            index = self.buffer.find(marker)
            if index >= 0:
                data, self.buffer = self.buffer[:index], self.buffer[index + len(marker):]
                if data:
                    yield data
                await self._after_delimiter()
                return
            keep = len(marker) - 1
            if len(self.buffer) > keep:
                data, self.buffer = self.buffer[:-keep], self.buffer[-keep:]
                yield data
            if not await self._fill():
                if self.buffer:
                    yield self.buffer
                    self.buffer = b""
                self.done = True
                return

    async def parts(self) -> AsyncIterator[tuple[dict[str, str], AsyncIterator[bytes]]]:
        await self._start()
        while not self.done:
            headers = await self._headers()
            body = self._body()
            yield headers, body
            async for _ in body:  # what the caller did not read
                pass
