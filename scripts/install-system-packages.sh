#!/usr/bin/env bash
# System packages Monostack needs (with --test: and its tests), installed with apt only when missing.
set -euo pipefail
need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v git >/dev/null || need+=(git)
command -v curl >/dev/null || need+=(curl)
command -v qemu-img >/dev/null || need+=(qemu-utils)  # the Image service measures virtual sizes with qemu-img
command -v genisoimage >/dev/null || need+=(genisoimage)  # Compute builds config drives (ISO 9660)
command -v mkfs.vfat >/dev/null || need+=(dosfstools)  # ... or vfat ones, filled with mcopy
command -v mcopy >/dev/null || need+=(mtools)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)  # Compute's guests
command -v ip >/dev/null || need+=(iproute2)  # Networking: bridges, taps, namespaces
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)  # ... DHCP per network
command -v dhcp_release >/dev/null || need+=(dnsmasq-utils)  # ... leases of ports that went released
command -v nft >/dev/null || need+=(nftables)  # ... security groups, NAT
command -v radvd >/dev/null || need+=(radvd)  # ... IPv6 router advertisements
command -v arping >/dev/null || need+=(iputils-arping)  # ... gratuitous ARP for floating IPs
if [ "${1:-}" = "--test" ]; then  # what the tests' guests and checks use besides the cloud's own needs
    command -v ssh >/dev/null || need+=(openssh-client)
    command -v ping >/dev/null || need+=(iputils-ping)
    command -v busybox >/dev/null || need+=(busybox)  # udhcpc: the data plane tests' DHCP client
    command -v dhcpcd >/dev/null || need+=(dhcpcd-base)  # ... and their DHCPv6 client
fi
if [ ${#need[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
