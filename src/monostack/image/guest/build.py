"""Build the Monostack guest image from Debian packages.

The image is a small BIOS-bootable qcow2 disk, in the spirit of CirrOS:

* one MBR partition holding an ext4 root filesystem (label
  ``monostack-root``), made from a directory with ``mkfs.ext4 -d`` (no
  mounting, no loop devices);
* GRUB's ``boot.img`` in the MBR and a ``core.img`` made by ``grub-mkimage``
  in the gap before the partition, with an embedded configuration that boots
  ``/boot/vmlinuz`` and ``/boot/initrd.img`` on the serial console;
* Debian's kernel (``linux-image-amd64``) with only the modules a cloud guest
  needs (virtio, ATA/AHCI for config-drive CD-ROMs, e1000, NVMe, ext4, vfat,
  iso9660), busybox (static), dropbear and util-linux's lsblk and blkid
  with the libraries they link to;
* the init scripts in ``rootfs/`` beside this file (DHCP, metadata service or
  config drive, hostname, SSH keys, user-data, dropbear, hot-plug watcher),
  which print ``MONOSTACK-GUEST: ...`` markers on the serial console.

Packages are fetched with ``apt-get download`` and unpacked with
``dpkg-deb -x``: nothing is installed on the host. Host tools needed:
``scripts/install-guest-build-deps.sh`` installs them.

``ensure_guest_image(cache_dir)`` returns the cached image, building it when
missing; the cache key is a hash of the recipe (this file and ``rootfs/``),
so a change to either gives a new file name. It blocks: call it from a worker
thread, never from an event loop.
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import io
import logging
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

# Bump when the output changes in a way the hash of the sources cannot see.
RECIPE_VERSION = "1"
IMAGE_NAME = "monostack-guest"
ROOT_LABEL = "monostack-root"
DISK_SIZE = 128 * 1024 * 1024  # virtual size of the disk
PART_START = 2048  # sectors: 1 MiB, room for GRUB's core.img
SECTOR = 512

KERNEL_PACKAGE = "linux-image-amd64"  # meta package, resolved to the real one
PACKAGES = [
    "busybox-static",
    "dropbear-bin",
    "libc6",
    "libcrypt1",
    "libtomcrypt1",
    "libtommath1",
    "libgmp10",
    "zlib1g",
    # lsblk and blkid, with their libraries: the disk list and the config
    # drive by label that Tempest's validation reads (`lsblk -lb --nodeps`,
    # `blkid -L config-2`), which busybox lacks.
    "util-linux",
    "libblkid1",
    "libmount1",
    "libsmartcols1",
    "libudev1",
    "libselinux1",
    "libpcre2-8-0",
]
# Modules loaded at boot, in this order (their dependencies first, found in
# the modules' own .modinfo). Names absent from this kernel are skipped.
MODULES = [
    "crc32c_generic", "crc32c_intel", "ext4",
    "virtio_pci", "virtio_blk", "virtio_net", "virtio_scsi", "virtio_console",
    "virtio_rng", "virtio_balloon",
    "scsi_mod", "sd_mod", "sr_mod", "ata_piix", "ahci", "nvme",
    "e1000", "e1000e",
    "isofs", "vfat", "nls_cp437", "nls_ascii", "nls_iso8859_1", "nls_utf8",
    "button", "evdev",
]
KERNEL_CMDLINE = (
    f"root=LABEL={ROOT_LABEL} rw console=tty0 console=ttyS0,115200n8 "
    "quiet loglevel=3 net.ifnames=0"
)
GRUB_MODULES = [
    "biosdisk", "part_msdos", "ext2", "linux", "boot", "serial", "terminal",
    "echo", "test",
]
GRUB_CONFIG = f"""\
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
echo "MONOSTACK-GUEST: bootloader"
set root=(hd0,msdos1)
linux /boot/vmlinuz {KERNEL_CMDLINE}
initrd /boot/initrd.img
boot
"""

HERE = Path(__file__).resolve().parent
ROOTFS_SRC = HERE / "rootfs"
INITRAMFS_INIT = HERE / "initramfs-init"
GRUB_DIR = Path("/usr/lib/grub/i386-pc")


class GuestBuildError(RuntimeError):
    pass


# --------------------------------------------------------------------------
# cache


def recipe_hash() -> str:
    h = hashlib.sha256()
    h.update(f"{RECIPE_VERSION}\0{KERNEL_PACKAGE}\0{PACKAGES}\0{MODULES}\0".encode())
    h.update(f"{DISK_SIZE}\0{KERNEL_CMDLINE}\0{GRUB_MODULES}\0{GRUB_CONFIG}".encode())
    h.update(Path(__file__).read_bytes())
    h.update(INITRAMFS_INIT.read_bytes())
    for path in sorted(ROOTFS_SRC.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(ROOTFS_SRC)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def image_path(cache_dir: str | os.PathLike) -> Path:
    return Path(cache_dir) / f"{IMAGE_NAME}-{recipe_hash()}.qcow2"


def default_cache_dir() -> Path:
    env = os.environ.get("MONOSTACK_GUEST_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "monostack" / "guest"


def ensure_guest_image(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the path of the cached guest qcow2, building it if missing.

    Beside it: ``<name>.vmlinuz`` and ``<name>.initrd`` (the same kernel and
    initramfs as inside the disk, for direct-kernel boots). Safe to call from
    several threads or processes at once (a lock file serialises builds).
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = image_path(cache)
    if target.exists():
        return target
    with open(cache / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        build_image(target, deb_cache=cache / "debs")
    return target


# --------------------------------------------------------------------------
# helpers


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log.debug("run %s", cmd)
    try:
        return subprocess.run(cmd, check=True, capture_output=True, **kw)
    except FileNotFoundError as exc:
        raise GuestBuildError(
            f"{cmd[0]} not found: run scripts/install-guest-build-deps.sh") from exc
    except subprocess.CalledProcessError as exc:
        out = (exc.stderr or b"").decode(errors="replace")[-2000:]
        raise GuestBuildError(f"{' '.join(map(str, cmd))} failed: {out}") from exc


def _resolve_kernel_package() -> str:
    out = _run(["apt-cache", "depends", "--no-recommends", "--no-suggests",
                KERNEL_PACKAGE]).stdout.decode()
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:") and "linux-image-" in line:
            return line.split()[1]
    raise GuestBuildError(f"cannot resolve {KERNEL_PACKAGE}: {out!r}")


def download_debs(deb_cache: Path) -> dict[str, Path]:
    """apt-get download the packages (no install); reuse earlier downloads."""
    deb_cache.mkdir(parents=True, exist_ok=True)
    os.chmod(deb_cache, 0o777)  # apt's _apt user writes there when run as root
    try:
        kernel = _resolve_kernel_package()
    except GuestBuildError:
        if os.geteuid() != 0:
            raise
        _run(["apt-get", "update", "-qq"])
        kernel = _resolve_kernel_package()
    names = [kernel] + PACKAGES
    found: dict[str, Path] = {}
    missing = []
    # The candidate versions as apt would pick them (one apt-cache call), so
    # a cached old .deb is replaced after an update.
    cands: dict[str, str] = {}
    current = None
    for line in _run(["apt-cache", "policy"] + names).stdout.decode().splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:"):
            cands[current] = line.split(":", 1)[1].strip()
    for name in names:
        cand = cands.get(name, "")
        if not cand or cand == "(none)":
            raise GuestBuildError(f"package {name} has no candidate: run apt-get update")
        ver = cand.split(":", 1)[-1]
        hits = sorted(deb_cache.glob(f"{name}_*{ver}_*.deb"))
        if hits:
            found[name] = hits[0]
        else:
            missing.append(name)
    if missing:
        _run(["apt-get", "download", "-q"] + missing, cwd=deb_cache)
        for name in missing:
            hits = sorted(deb_cache.glob(f"{name}_*.deb"), key=lambda p: p.stat().st_mtime)
            if not hits:
                raise GuestBuildError(f"apt-get download {name} left no file")
            found[name] = hits[-1]
    keep = set(found.values())
    for deb in deb_cache.glob("*.deb"):  # older versions of the same packages
        if deb not in keep and deb.name.split("_")[0] in names:
            deb.unlink(missing_ok=True)
    found["kernel"] = found[kernel]
    return found


def _elf(path: Path) -> tuple[bytes, list[tuple[str, int, int, int]]]:
    """Read a 64-bit little-endian ELF: (data, [(name, type, offset, size)])."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise GuestBuildError(f"{path}: not a 64-bit little-endian ELF")
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    raw = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        name, typ, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, off)
        raw.append((name, typ, offset, size))
    stroff, strsize = raw[e_shstrndx][2], raw[e_shstrndx][3]
    strtab = data[stroff:stroff + strsize]
    secs = []
    for name, typ, offset, size in raw:
        end = strtab.index(b"\0", name)
        secs.append((strtab[name:end].decode(), typ, offset, size))
    return data, secs


def elf_needed(path: Path) -> list[str]:
    data, secs = _elf(path)
    dyn = next((s for s in secs if s[0] == ".dynamic"), None)
    dynstr = next((s for s in secs if s[0] == ".dynstr"), None)
    if dyn is None or dynstr is None:
        return []
    strtab = data[dynstr[2]:dynstr[2] + dynstr[3]]
    out = []
    for off in range(dyn[2], dyn[2] + dyn[3], 16):
        tag, val = struct.unpack_from("<qQ", data, off)
        if tag == 0:
            break
        if tag == 1:  # DT_NEEDED
            out.append(strtab[val:strtab.index(b"\0", val)].decode())
    return out


def modinfo(path: Path) -> dict[str, list[str]]:
    data, secs = _elf(path)
    sec = next((s for s in secs if s[0] == ".modinfo"), None)
    info: dict[str, list[str]] = {}
    if sec is None:
        return info
    for item in data[sec[2]:sec[2] + sec[3]].split(b"\0"):
        if b"=" in item:
            k, v = item.decode(errors="replace").split("=", 1)
            info.setdefault(k, []).append(v)
    return info


def _modname(path: Path) -> str:
    return path.name.split(".ko")[0].replace("-", "_")


def select_modules(moddir: Path) -> list[Path]:
    """The wanted modules and their dependencies, dependencies first."""
    by_name = {_modname(p): p for p in (moddir / "kernel").rglob("*.ko*")}
    builtin = set()
    if (moddir / "modules.builtin").exists():
        builtin = {_modname(Path(ln)) for ln in
                   (moddir / "modules.builtin").read_text().split()}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        path = by_name.get(name)
        if path is None:
            if name not in builtin:
                log.info("module %s not in this kernel, skipped", name)
            return
        for dep in modinfo(path).get("depends", [""])[0].split(","):
            if dep:
                visit(dep.replace("-", "_"))
        order.append(path)

    for name in MODULES:
        visit(name)
    return order


def _copy_lib_closure(pkgroot: Path, binaries: list[Path], dest: Path) -> None:
    """Copy the shared libraries the binaries need from pkgroot into dest."""
    libdirs = [pkgroot / d for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64")]
    todo = list(binaries)
    done: set[str] = set()
    while todo:
        for name in elf_needed(todo.pop()):
            if name in done:
                continue
            done.add(name)
            src = next((d / name for d in libdirs if (d / name).exists()), None)
            if src is None:
                raise GuestBuildError(f"library {name} not found in the packages")
            rel = src.relative_to(pkgroot)
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src.resolve(), target)
            todo.append(target)
    # The dynamic loader, at the path the binaries name.
    ld = pkgroot / "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    (dest / "lib/x86_64-linux-gnu").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ld.resolve(), dest / "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    (dest / "lib64").mkdir(exist_ok=True)
    _symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", dest / "lib64/ld-linux-x86-64.so.2")


def _symlink(target: str, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


def _install_busybox(busybox: Path, root: Path) -> None:
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    applets = _run([str(busybox), "--list-full"]).stdout.decode().split()
    for applet in applets:
        link = root / applet
        if link.exists() or link.is_symlink():
            continue
        _symlink("/bin/busybox", link)


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy rootfs sources: scripts (#!) and files under bin dirs get 0755."""
    for path in sorted(src.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(src)
        target = dest / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        shutil.copyfile(path, target)
        content = path.read_bytes()
        mode = 0o755 if content.startswith(b"#!") else 0o644
        if rel.parts[-1] == "shadow":
            mode = 0o600
        os.chmod(target, mode)


# --------------------------------------------------------------------------
# initramfs (newc cpio, written in Python: no host cpio needed)


class _Cpio:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
            len(name_b), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + name_b)
        self.buf.write(b"\0" * (-(110 + len(name_b)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def add_tree(self, root: Path, prefix: str = "") -> None:
        for path in sorted(root.rglob("*")):
            rel = prefix + str(path.relative_to(root))
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                self.add(rel, stat.S_IFLNK | 0o777, os.readlink(path).encode())
            elif stat.S_ISDIR(st.st_mode):
                self.add(rel, stat.S_IFDIR | 0o755)
            else:
                self.add(rel, stat.S_IFREG | stat.S_IMODE(st.st_mode), path.read_bytes())

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return self.buf.getvalue()


def make_initramfs(busybox: Path, modules: list[Path], moddir: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        for d in ("proc", "sys", "newroot", "etc", "sbin", "usr/bin", "usr/sbin"):
            (tree / d).mkdir(parents=True, exist_ok=True)
        (tree / "bin").mkdir()
        shutil.copy2(busybox, tree / "bin/busybox")
        os.chmod(tree / "bin/busybox", 0o755)
        _symlink("busybox", tree / "bin/sh")
        shutil.copyfile(INITRAMFS_INIT, tree / "init")
        os.chmod(tree / "init", 0o755)
        lines = []
        for mod in modules:
            rel = mod.relative_to(moddir)
            target = tree / "lib/modules" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(mod, target)
            lines.append(f"/lib/modules/{rel}")
        (tree / "etc/modules").write_text("\n".join(lines) + "\n")
        cpio = _Cpio()
        cpio.add("dev", stat.S_IFDIR | 0o755)
        cpio.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
        cpio.add("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3))
        cpio.add_tree(tree)
        out.write_bytes(gzip.compress(cpio.finish(), compresslevel=6, mtime=0))


# --------------------------------------------------------------------------
# disk


def _mbr(boot_img: bytes, total_sectors: int) -> bytes:
    part_sectors = total_sectors - PART_START
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                        PART_START, part_sectors)
    mbr = bytearray(boot_img[:440])
    mbr += b"MSGI"  # disk signature
    mbr += b"\0\0"
    mbr += entry + b"\0" * 48
    mbr += b"\x55\xaa"
    assert len(mbr) == 512
    return bytes(mbr)


def make_core_img(out: Path, workdir: Path) -> bytes:
    cfg = workdir / "grub-embed.cfg"
    cfg.write_text(GRUB_CONFIG)
    _run(["grub-mkimage", "-O", "i386-pc", "-d", str(GRUB_DIR), "-o", str(out),
          "-c", str(cfg), "-p", "(hd0,msdos1)/boot/grub"] + GRUB_MODULES)
    core = out.read_bytes()
    nsect = (len(core) + SECTOR - 1) // SECTOR
    if nsect >= PART_START - 1:
        raise GuestBuildError(f"core.img too large: {nsect} sectors")
    # diskboot.img's blocklist: grub-mkimage fills it for a core.img placed at
    # sector 1 (the rest loaded from sector 2 on); check rather than trust.
    start, length = struct.unpack_from("<QH", core, SECTOR - 12)
    if start != 2 or length != nsect - 1:
        raise GuestBuildError(f"unexpected core.img blocklist start={start} len={length} "
                              f"for {nsect} sectors")
    return core


def build_image(target: Path, deb_cache: Path) -> None:
    t0 = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        debs = download_debs(deb_cache)
        t_dl = time.monotonic()
        pkg = work / "pkg"
        for name, deb in debs.items():
            if name != "kernel":
                _run(["dpkg-deb", "-x", str(deb), str(pkg)])
        kernel_dirs = sorted((pkg / "lib/modules").iterdir())
        if len(kernel_dirs) != 1:
            raise GuestBuildError(f"expected one kernel, found {kernel_dirs}")
        moddir = kernel_dirs[0]
        kver = moddir.name
        vmlinuz = pkg / "boot" / f"vmlinuz-{kver}"
        busybox = pkg / "bin/busybox"

        root = work / "root"
        for d in ("boot", "dev", "proc", "sys", "run", "tmp", "mnt", "media", "root",
                  "home/monostack", "var/log", "var/lib/monostack", "etc/dropbear",
                  "usr/sbin", "usr/bin", "sbin", "lib"):
            (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "tmp", 0o1777)
        os.chmod(root / "root", 0o700)
        _install_busybox(busybox, root)
        for rel in ("usr/sbin/dropbear", "usr/bin/dropbearkey", "usr/bin/dbclient",
                    "usr/bin/dropbearconvert"):
            src = pkg / rel
            if src.exists():
                (root / rel).unlink(missing_ok=True)
                shutil.copy2(src, root / rel)
        for src, dest in (("bin/lsblk", "usr/bin/lsblk"), ("sbin/blkid", "sbin/blkid")):
            (root / dest).unlink(missing_ok=True)  # busybox's blkid knows no -L
            shutil.copy2(pkg / src, root / dest)
        _copy_lib_closure(pkg, [root / "usr/sbin/dropbear", root / "usr/bin/dropbearkey",
                                root / "usr/bin/lsblk", root / "sbin/blkid"], root)
        modules = select_modules(moddir)
        for mod in modules:
            dest = root / "lib/modules" / kver / mod.relative_to(moddir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(mod, dest)
        for extra in ("modules.builtin", "modules.order", "modules.builtin.modinfo"):
            if (moddir / extra).exists():
                shutil.copy2(moddir / extra, root / "lib/modules" / kver / extra)
        # busybox modprobe reads modules.dep (paths relative to the kver dir)
        deps = []
        names = {_modname(m): m for m in modules}
        for mod in modules:
            dep_names = [d.replace("-", "_") for d in
                         modinfo(mod).get("depends", [""])[0].split(",") if d]
            dep_paths = [str(names[d].relative_to(moddir)) for d in dep_names if d in names]
            deps.append(f"{mod.relative_to(moddir)}: {' '.join(dep_paths)}".rstrip())
        (root / "lib/modules" / kver / "modules.dep").write_text("\n".join(deps) + "\n")
        _copy_tree(ROOTFS_SRC, root)
        (root / "etc/monostack").mkdir(parents=True, exist_ok=True)
        (root / "etc/monostack/image-version").write_text(
            f"{IMAGE_NAME} {recipe_hash()} kernel {kver}\n")

        shutil.copy2(vmlinuz, root / "boot/vmlinuz")
        make_initramfs(busybox, modules, moddir, root / "boot/initrd.img")
        (root / "boot/grub").mkdir(exist_ok=True)
        (root / "boot/grub/README").write_text(
            "GRUB's configuration is embedded in core.img (sectors 1..2047).\n"
            f"Kernel command line: {KERNEL_CMDLINE}\n")

        # The filesystem at 1 MiB into the raw disk, then the MBR and core.img.
        raw = work / "disk.raw"
        with open(raw, "wb") as f:
            f.truncate(DISK_SIZE)
        fs_bytes = DISK_SIZE - PART_START * SECTOR
        _run(["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-d", str(root),
              "-O", "^metadata_csum_seed", "-E", f"offset={PART_START * SECTOR}",
              "-m", "1", "-N", "4096", str(raw), f"{fs_bytes // 1024}k"])
        core = make_core_img(work / "core.img", work)
        boot_img = (GRUB_DIR / "boot.img").read_bytes()
        with open(raw, "r+b") as f:
            f.write(_mbr(boot_img, DISK_SIZE // SECTOR))
            f.seek(SECTOR)
            f.write(core)
        if raw.stat().st_size != DISK_SIZE:
            raise GuestBuildError("mkfs.ext4 changed the disk size")

        tmp_qcow = work / "disk.qcow2"
        _run(["qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(tmp_qcow)])
        stem = target.with_suffix("")
        shutil.copy2(vmlinuz, f"{stem}.vmlinuz.tmp")
        shutil.copy2(root / "boot/initrd.img", f"{stem}.initrd.tmp")
        os.replace(f"{stem}.vmlinuz.tmp", f"{stem}.vmlinuz")
        os.replace(f"{stem}.initrd.tmp", f"{stem}.initrd")
        os.replace(tmp_qcow, target)
        log.info("built %s (%d bytes) in %.1fs (downloads %.1fs)", target,
                 target.stat().st_size, time.monotonic() - t0, t_dl - t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Monostack guest image")
    parser.add_argument("--cache-dir", default=None,
                        help="where the image is kept (default ~/.cache/monostack/guest)")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if args.force:
        image_path(cache).unlink(missing_ok=True)
    t0 = time.monotonic()
    path = ensure_guest_image(cache)
    for old in cache.glob(f"{IMAGE_NAME}-*"):  # builds of older recipes
        if old.with_suffix("").name != path.with_suffix("").name:
            old.unlink(missing_ok=True)
    print(f"{path} ({path.stat().st_size // 1024} KiB, {time.monotonic() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
