#!/usr/bin/env bash
# Host tools to build the Monostack guest image and to boot it in tests,
# installed with apt only when missing. Nothing here is installed into the
# host's boot path: grub-pc-bin only provides the i386-pc modules that
# grub-mkimage puts into the guest disk.
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v mkfs.vfat >/dev/null || need+=(dosfstools)
command -v mcopy >/dev/null || need+=(mtools)
command -v genisoimage >/dev/null || need+=(genisoimage)
command -v grub-mkimage >/dev/null || need+=(grub-common)
[ -f /usr/lib/grub/i386-pc/boot.img ] || need+=(grub-pc-bin)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
