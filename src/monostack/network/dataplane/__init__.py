"""The Linux data plane of Networking: one agent per host makes bridges,
taps, VXLAN/VLAN/flat uplinks, DHCP namespaces, router namespaces, security
group rules and the metadata proxy match a desired state.

- desired.py: the desired state, plain dataclasses with Neutron's field names;
- names.py: device and namespace names (Neutron's Linux bridge agent's);
- host.py: host commands off the event loop, what exists now;
- links.py: bridges, uplinks, taps and veth pairs;
- dhcp.py: dnsmasq per network (and where metadata is reached);
- router.py: qrouter namespaces, NAT, floating IPs; ra.py: radvd there for IPv6;
- firewall.py: security groups and anti-spoofing (nftables + br_netfilter);
- metadata.py: the metadata proxy, served in the agent process;
- agent.py: `Agent.apply(state)`, converging and idempotent;
- __main__.py: the agent as a process (a state file in, periodic apply).
"""
