"""`monostack network-agent`: the Networking agent of a host that does not run the cloud.

A second host (a compute node, or a network node of its own) runs only this
process: the all-in-one's NetworkAgent, reaching the service over the message
bus (`[bus] url`: RabbitMQ, with the cloud's `control_exchange`) through
`rpc.PluginClient` instead of in process.  It registers as `[DEFAULT] host`
(the name Compute binds that host's ports to) with its `[network] local_ip`,
which the other hosts' agents learn as a VXLAN peer; with `[network]
network_node = false` it makes only bridges, tunnels, its guests' ports and
their firewall (DHCP servers and routers stay on the network node).  SIGTERM
or SIGINT stop it and leave the data plane as it is, as the all-in-one does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from monostack.common import log
from monostack.common.bus import bus_from_conf
from monostack.common.config import Config

LOG = logging.getLogger(__name__)


async def serve(conf: Config) -> None:
    from monostack.network import agent
    from monostack.network.rpc import PluginClient

    host = conf.default.host or socket.gethostname()
    public_url = (conf.default.public_url or "http://127.0.0.1:5000").rstrip("/")
    bus = bus_from_conf(conf, host=host)
    await bus.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    network_agent = agent.build(PluginClient(bus), bus, conf, host, public_url)
    try:
        await network_agent.start()
        LOG.info("network agent of %s running (tunnel address %s, network node: %s)", host,
                 conf.network.local_ip or "none", conf.network.network_node)  # type: ignore[attr-defined]
        await stop.wait()
    finally:
        await network_agent.stop()
        await bus.stop()


def run(conf: Config) -> int:
    import monostack.compute.options  # noqa: F401  (the metadata proxy's shared secret)
    import monostack.network.options  # noqa: F401

    log.setup(conf.default.log_level, conf.data_dir / "logs", filename="network-agent.log")
    if os.geteuid() != 0:
        LOG.error("the Networking agent needs root (bridges, namespaces, nftables)")
        return 1
    if conf.bus.url.startswith("memory:"):
        LOG.error("[bus] url is in-process (memory://): another host's agent needs the cloud's RabbitMQ")
        return 1
    asyncio.run(serve(conf))
    return 0
