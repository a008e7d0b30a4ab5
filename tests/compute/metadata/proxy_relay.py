"""A metadata proxy for the QEMU tests, run by QEMU's guestfwd once per guest
connection (stdin/stdout are the guest's TCP connection to
169.254.169.254:80). Like the networking service's metadata proxy it drops
identity headers the guest sent, adds X-Instance-ID, X-Tenant-ID,
X-Instance-ID-Signature and X-Forwarded-For, and forwards the request to the
metadata API at 127.0.0.1:<port>. Standard library only.

Usage: proxy_relay.py PORT INSTANCE_ID TENANT_ID SECRET GUEST_ADDRESS
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import sys

_DROPPED = {b"x-instance-id", b"x-tenant-id", b"x-instance-id-signature", b"x-forwarded-for",
            b"connection"}


def relay(port: int, instance_id: str, tenant_id: str, secret: str, guest: str) -> None:
    rf = sys.stdin.buffer
    request_line = rf.readline()
    headers = []
    length = 0
    while True:
        line = rf.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() in _DROPPED:
            continue
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
        headers.append(line.rstrip(b"\r\n"))
    body = rf.read(length) if length else b""
    signature = hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()
    headers += [f"X-Instance-ID: {instance_id}".encode(), f"X-Tenant-ID: {tenant_id}".encode(),
                f"X-Instance-ID-Signature: {signature}".encode(),
                f"X-Forwarded-For: {guest}".encode(), b"Connection: close"]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as upstream:
        upstream.sendall(request_line + b"\r\n".join(headers) + b"\r\n\r\n" + body)
        while True:
            chunk = upstream.recv(65536)
            if not chunk:
                break
            sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    relay(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
