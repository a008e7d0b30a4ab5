"""The metadata proxy: a guest's request to 169.254.169.254 reaches the
upstream with the instance identified and signed, as Neutron's agent does."""

from __future__ import annotations

import asyncio
import http.server
import threading

import pytest

from monostack.compute.metadata.api import sign_instance_id
from monostack.network.dataplane.agent import Agent
from monostack.network.dataplane.desired import HostState
from monostack.network.dataplane.metadata import sign

from .builders import dhcp_port, network, open_group, port
from .conftest import in_ns, make_config

pytestmark = pytest.mark.root

FETCH = ("import urllib.request, sys\n"
         "try:\n"
         "    r = urllib.request.urlopen('http://169.254.169.254' + sys.argv[1], timeout=5)\n"
         "    print(r.status, r.read().decode())\n"
         "except urllib.error.HTTPError as e:\n"
         "    print(e.code, e.read().decode())\n")


class Upstream:
    def __init__(self) -> None:
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, dict(self.headers)))
                body = b'{"uuid": "%s"}' % self.headers.get("X-Instance-ID", "").encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/compute/metadata"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_signature_matches_compute():
    assert sign("abc", "s3cret") == sign_instance_id("abc", "s3cret")


async def test_guest_reaches_metadata_with_signed_headers(scope):
    upstream = Upstream()
    agent = Agent(make_config(scope, metadata_upstream=upstream.url,
                              metadata_proxy_shared_secret="s3cret"))
    try:
        net = network(scope, cidr="10.55.0.0/24", gateway_ip=None)  # isolated: no router
        group = open_group(scope)
        p1 = port(scope, net, 11, sgs=[group.id])
        g1 = scope.guest(p1.id, p1.mac_address)
        state = HostState(networks=[net], ports=[p1, dhcp_port(scope, net)], security_groups=[group])
        await agent.apply(state)
        lease = scope.dhcp(g1)
        assert lease["staticroutes"].split() == ["169.254.169.254/32", "10.55.0.2"]
        # In a thread: the proxy is served by this test's event loop.
        out = (await asyncio.to_thread(in_ns, g1, "python3", "-c", FETCH,
                                       "/openstack/latest/meta_data.json")).stdout
        assert out.strip() == f'200 {{"uuid": "{p1.device_id}"}}'
        path, headers = upstream.seen[-1]
        assert path == "/compute/metadata/openstack/latest/meta_data.json"
        assert headers["X-Instance-ID"] == p1.device_id
        assert headers["X-Tenant-ID"] == p1.project_id
        assert headers["X-Forwarded-For"] == "10.55.0.11"
        assert headers["X-Instance-ID-Signature"] == sign_instance_id(p1.device_id, "s3cret")
        # An address that is no port of this network gets a 404, nothing upstream.
        in_ns(g1, "ip", "addr", "add", "10.55.0.77/24", "dev", "eth0")
        p1.port_security_enabled, p1.security_groups = False, []
        await agent.apply(state)
        count = len(upstream.seen)
        src = ("import socket\n"
               "s = socket.socket(); s.bind(('10.55.0.77', 0)); s.settimeout(5)\n"
               "s.connect(('169.254.169.254', 80))\n"
               "s.sendall(b'GET /latest/meta-data/ HTTP/1.0\\r\\n\\r\\n')\n"
               "print(s.recv(100).decode().split()[1])\n")
        assert (await asyncio.to_thread(in_ns, g1, "python3", "-c", src)).stdout.strip() == "404"
        assert len(upstream.seen) == count
    finally:
        try:
            await agent.apply(HostState())
        finally:
            await agent.close()
            upstream.close()
