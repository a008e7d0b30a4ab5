"""The [network] options (registered when the Networking service is imported)."""

from monostack.common.config import BOOL, INT, LIST, Opt, register

register(
    "network",
    Opt("connection", "", "SQLAlchemy URL of the Networking database; empty: [database] connection."),
    Opt("tenant_network_types", "vxlan", "Network types a project network gets, in order of preference "
        "(vxlan, vlan, local).", LIST),
    Opt("vni_ranges", "1:65535", "VXLAN VNIs tenant networks are given (first:last, comma separated).", LIST),
    Opt("network_vlan_ranges", "physnet1:1000:2999", "Physical networks for VLAN provider networks, with the "
        "ranges tenant VLANs come from: physnet[:first:last], comma separated.", LIST),
    Opt("flat_networks", "*", "Physical networks flat networks may use (* for any).", LIST),
    Opt("global_physnet_mtu", 1500, "MTU of the underlying physical network.", INT),
    Opt("vxlan_overhead", 50, "Bytes VXLAN encapsulation takes from the MTU (IPv4 outer header).", INT),
    Opt("base_mac", "fa:16:3e:00:00:00", "The first three octets of every generated MAC address."),
    Opt("default_availability_zone", "nova", "Availability zone of this host's agents."),
    Opt("agent_down_time", 75, "Seconds without a heartbeat after which an agent is shown as down.", INT),
    Opt("dns_domain", "openstacklocal.", "Domain of the DHCP server's host names."),
    Opt("max_fixed_ips_per_port", 5, "Fixed IPs a port may have.", INT),
    Opt("default_quota", -1, "Default for every quota not set below (-1: unlimited).", INT),
    Opt("quota_network", 100, "Networks a project may have (-1: unlimited).", INT),
    Opt("quota_subnet", 100, "Subnets a project may have.", INT),
    Opt("quota_port", 500, "Ports a project may have.", INT),
    Opt("quota_router", 10, "Routers a project may have.", INT),
    Opt("quota_floatingip", 50, "Floating IPs a project may have.", INT),
    Opt("quota_security_group", 10, "Security groups a project may have.", INT),
    Opt("quota_security_group_rule", 100, "Security group rules a project may have.", INT),
    Opt("quota_rbac_policy", 10, "RBAC policies a project may have.", INT),
    Opt("quota_subnetpool", -1, "Subnet pools a project may have.", INT),
    Opt("bootstrap", True, "Make DevStack's networks on first start: the external network `public` and, for the "
        "demo project, `private` with a router `router1` to `public`.", BOOL),
    Opt("public_cidr", "172.24.4.0/24", "CIDR of the bootstrap external network's subnet (public-subnet)."),
    Opt("public_physical_network", "public", "Physical network of the bootstrap external (flat) network."),
    Opt("private_cidr", "10.0.0.0/26", "CIDR of the demo project's bootstrap subnet (private-subnet)."),
    Opt("pagination_max_limit", 1000, "Largest page a list returns (-1: no limit).", INT),
    # -- the data-plane agent of this host (network/agent.py) --
    Opt("run_agent", True, "Run this host's data-plane agent (bridges, DHCP, routers, security groups, metadata "
        "proxy) in this process; it needs root.", BOOL),
    Opt("state_dir", "{data_dir}/network", "Where the agent keeps dnsmasq, radvd and its own state."),
    Opt("physical_interface_mappings", "public:", "physnet:interface pairs for flat and VLAN networks, comma "
        "separated; an empty interface is a bridge with no uplink (the all-in-one's `public`).", LIST),
    Opt("local_ip", "", "This host's VXLAN tunnel address (empty: no tunnels, one host)."),
    Opt("network_node", True, "This host runs the DHCP servers and routers (Neutron's DHCP, L3 and metadata "
        "agents) besides its guests' ports; false on a compute-only host.", BOOL),
    Opt("resync_interval", 30, "Seconds between full convergences of the agent (changes apply at once).", INT),
    Opt("host_gateway", True, "The host holds the gateway address of external flat networks (DevStack's br-ex), "
        "so it reaches floating IPs.", BOOL),
)
