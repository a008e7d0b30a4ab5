"""What the metadata service and the config drive know about one server.

`InstanceMetadata` is a plain snapshot the compute service fills from its
database (and from the networking service for `network_info`); the modules
beside this one only render it. Every field maps to something Nova reads from
its instance object, named after the API field where there is one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

# Nova's NIC_NAME_LEN: tap device names are "tap" + the port id, cut to 14.
_NIC_NAME_LEN = 14


@dataclass
class Keypair:
    """The server's key pair as stored with it at boot (Nova's instance.keypairs)."""

    name: str
    public_key: str
    type: str = "ssh"  # "ssh" or "x509"


@dataclass
class BlockDevice:
    """One block device mapping of the server, as far as EC2's
    ``block-device-mapping/`` needs it."""

    device_name: str | None  # "/dev/vdb"
    source_type: str  # image | volume | snapshot | blank
    destination_type: str  # local | volume
    guest_format: str | None = None  # "swap" for a swap disk


@dataclass
class Device:
    """Device metadata (the ``devices`` list of meta_data.json): a tagged NIC,
    disk or share as the hypervisor placed it."""

    type: str  # "nic" | "disk" | "share"
    bus: str | None = None  # pci | usb | scsi | ide | xen; None is shown as "none"
    address: str | None = None  # bus address, e.g. "0000:00:02.0"; None: "none"
    tags: list[str] | None = None  # None: the device has no tag
    # nic
    mac: str | None = None
    vlan: int | None = None
    vf_trusted: bool | None = None
    # disk
    serial: str | None = None
    path: str | None = None
    # share (2025-04-04)
    share_id: str | None = None
    tag: str | None = None


@dataclass
class FixedIP:
    """One fixed address of a port, with the floating IPs associated to it."""

    address: str
    floating_ips: list[str] = field(default_factory=list)


@dataclass
class HostRoute:
    destination: str  # CIDR
    nexthop: str


@dataclass
class Subnet:
    """A subnet the port has addresses in (Neutron's subnet, seen from the port)."""

    cidr: str
    ips: list[FixedIP] = field(default_factory=list)  # the port's addresses in this subnet
    gateway: str | None = None  # gateway_ip
    dns_nameservers: list[str] = field(default_factory=list)
    host_routes: list[HostRoute] = field(default_factory=list)
    enable_dhcp: bool = False
    # The address of the network's DHCP port on this subnet, when there is one
    # (Nova looks for a port with device_owner network:dhcp). A DHCP server
    # also hides the link MTU from network_data.json, as in Nova.
    dhcp_server: str | None = None
    ipv6_address_mode: str | None = None  # slaac | dhcpv6-stateful | dhcpv6-stateless

    @property
    def version(self) -> int:
        return ipaddress.ip_network(self.cidr, strict=False).version


@dataclass
class Interface:
    """One port of the server (Nova's VIF in the network info cache)."""

    port_id: str
    mac_address: str
    network_id: str
    subnets: list[Subnet] = field(default_factory=list)
    mtu: int | None = None  # the network's MTU
    vif_type: str = "bridge"  # the port's binding:vif_type
    devname: str | None = None  # host device name; default "tap" + port id

    @property
    def link_name(self) -> str:
        return self.devname or ("tap" + self.port_id)[:_NIC_NAME_LEN]


@dataclass
class InstanceMetadata:
    """Everything the metadata documents of one server are made of."""

    uuid: str
    ec2_id: int  # the integer behind EC2's instance-id i-%08x (Nova's ec2 instance mapping id)
    hostname: str  # the server's hostname, without the DHCP domain
    name: str  # display name
    project_id: str
    availability_zone: str | None = None
    launch_index: int = 0
    reservation_id: str = ""  # r-xxxxxxxx
    key_name: str | None = None
    keypairs: list[Keypair] = field(default_factory=list)  # Nova serves the first
    user_data: bytes | None = None  # decoded (not base64)
    metadata: dict[str, str] = field(default_factory=dict)  # the server's metadata
    # Images: Glance ids, and the integers behind EC2's ami-/aki-/ari-%08x
    # (Nova's S3 image mapping ids; when None they are derived from the uuid).
    image_id: str | None = None  # None or "": boot from volume
    image_ec2_id: int | None = None
    kernel_id: str | None = None
    kernel_ec2_id: int | None = None
    ramdisk_id: str | None = None
    ramdisk_ec2_id: int | None = None
    flavor_name: str = ""
    security_groups: list[str] = field(default_factory=list)  # names
    # Block devices (EC2 block-device-mapping/)
    root_device_name: str | None = None  # "/dev/vda"
    default_ephemeral_device: str | None = None
    default_swap_device: str | None = None
    block_device_mappings: list[BlockDevice] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)  # device metadata (tags)
    dedicated_cpus: list[int] = field(default_factory=list)  # pinned host CPUs
    network_info: list[Interface] = field(default_factory=list)
    # Vendor data: the StaticJSON provider's document (None: provider not
    # configured, vendor_data.json is then absent) and the DynamicJSON
    # targets' answers by target name (see vendordata.py).
    vendor_data: dict[str, Any] | None = field(default_factory=dict)
    dynamic_vendor_data: dict[str, Any] = field(default_factory=dict)
    # The (encrypted) password the guest POSTed to /openstack/<v>/password.
    password: str | None = None
    # Config drive only: the admin password of the boot request, and the
    # injected files (personality) as (guest path, contents).
    admin_pass: str | None = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    dhcp_domain: str | None = "novalocal"  # [api] dhcp_domain: appended to hostname
    boot_roles: str = ""  # comma-separated roles of the booting user (dynamic vendordata)
    # 512 random bytes for meta_data.json's random_seed; None: fresh on every render, as Nova.
    random_seed: bytes | None = None

    @property
    def fqdn(self) -> str:
        if self.dhcp_domain:
            return f"{self.hostname}.{self.dhcp_domain}"
        return self.hostname
