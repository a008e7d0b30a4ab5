"""Monostack Networking (Neutron v2.0).

- `api/`: the HTTP layer (`common.Resource` gives every collection Neutron's
  bodies, policy, filters, fields, sorting, pagination; one module per resource);
- `service/`: the use cases (`NetworkService`, one mixin per resource family),
  IPAM (`service/ipam.py`), `host_state()` for the data-plane agents;
- `models.py` + `migrations/`: the tables; `states.py`: the port lifecycle;
- `rpc.py`: the bus endpoint agents call (topic `q-plugin`);
- `bootstrap.py`: DevStack's `public`/`private`/`router1` on first start;
- `dataplane/`: the Linux data plane (bridges, namespaces, dnsmasq, nftables).
"""
