"""The metadata proxy: a guest's request to 169.254.169.254 reaches the
upstream with the instance identified and signed, as Neutron's agent does,
through the DHCP namespace or, on a subnet without DHCP, through the router."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
from typing import AsyncIterator

import pytest

from monostack.compute.metadata.api import sign_instance_id
from monostack.network.dataplane.agent import Agent
from monostack.network.dataplane.desired import HostState, Router, RouterInterface
from monostack.network.dataplane.metadata import sign

from .builders import dhcp_port, network, open_group, port
from .conftest import in_ns, make_config, sh

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


@contextlib.asynccontextmanager
async def metadata_agent(scope) -> AsyncIterator[tuple[Agent, Upstream]]:
    """An agent whose metadata proxy forwards to a recording upstream; everything goes after."""
    upstream = Upstream()
    agent = Agent(make_config(scope, metadata_upstream=upstream.url, metadata_proxy_shared_secret="s3cret"))
    try:
        yield agent, upstream
    finally:
        try:
            await agent.apply(HostState())
        finally:
            await agent.close()
            upstream.close()


def test_signature_matches_compute():
    assert sign("abc", "s3cret") == sign_instance_id("abc", "s3cret")


async def test_guest_reaches_metadata_with_signed_headers(scope):
    async with metadata_agent(scope) as (agent, upstream):
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


async def test_a_guest_without_dhcp_reaches_metadata_through_its_router(scope):
    """A subnet without DHCP has no qdhcp namespace: the guest's request goes to its gateway, the
    router redirects it to its own listener, which finds the instance on any network the router
    has an interface on (Neutron's L3 agent metadata proxy)."""
    async with metadata_agent(scope) as (agent, upstream):
        nets = [network(scope, cidr=f"10.{56 + i}.0.0/24", enable_dhcp=False) for i in range(2)]
        group = open_group(scope)
        p1, p2 = port(scope, nets[0], 11, sgs=[group.id]), port(scope, nets[1], 11, sgs=[group.id])
        router = Router(id=scope.id(), interfaces=[
            RouterInterface(port_id=scope.id(), network_id=n.id, subnet_id=n.subnets[0].id,
                            ip_address=n.subnets[0].gateway_ip, mac_address=scope.mac()) for n in nets])
        guests = [(scope.guest(p.id, p.mac_address), p, net) for p, net in ((p1, nets[0]), (p2, nets[1]))]
        state = HostState(networks=nets, ports=[p1, p2], security_groups=[group], routers=[router])
        await agent.apply(state)
        assert await agent.apply(state) == []
        assert not [ns for ns in sh("ip", "netns").stdout.split() if ns.startswith("qdhcp-" + scope.prefix)]
        for g, p, net in guests:
            ip = p.fixed_ips[0].ip_address
            in_ns(g, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
            in_ns(g, "ip", "route", "add", "default", "via", net.subnets[0].gateway_ip)
            out = (await asyncio.to_thread(in_ns, g, "python3", "-c", FETCH,
                                           "/openstack/latest/meta_data.json")).stdout
            assert out.strip() == f'200 {{"uuid": "{p.device_id}"}}'
            path, headers = upstream.seen[-1]
            assert path == "/compute/metadata/openstack/latest/meta_data.json"
            assert (headers["X-Instance-ID"], headers["X-Forwarded-For"]) == (p.device_id, ip)
            assert headers["X-Instance-ID-Signature"] == sign_instance_id(p.device_id, "s3cret")
        # The router's interfaces go: its listener stops with them.
        router.interfaces = []
        changes = await agent.apply(state)
        assert f"metadata proxy router:{router.id} stopped" in changes
