"""The rings of a new all-in-one, and where ring files live."""

from __future__ import annotations

import logging
import pathlib
from typing import Any

from monostack.object.ring import hashing
from monostack.object.ring.builder import RingBuilder
from monostack.object.ring.ring import Ring

LOG = logging.getLogger(__name__)

RING_TYPES = ("account", "container", "object")
DEFAULT_DEVICES = (("d1", 1), ("d2", 2), ("d3", 3))  # device, zone


def ring_path(conf: Any, kind: str) -> pathlib.Path:
    return pathlib.Path(conf.object.rings_dir) / f"{kind}.ring.gz"


def builder_path(conf: Any, kind: str) -> pathlib.Path:
    return pathlib.Path(conf.object.rings_dir) / f"{kind}.builder"


def ensure_hash_path(conf: Any) -> hashing.HashPath:
    return hashing.ensure(conf.object.rings_dir, conf.object.hash_path_prefix, conf.object.hash_path_suffix)


def ensure_default_rings(conf: Any) -> None:
    """On a new all-in-one: three devices d1, d2, d3 in zones 1, 2, 3 (one per replica), the
    three rings over them, and the device directories.  Existing rings are left alone."""
    import monostack.object.options  # noqa: F401  (registers [object])
    opts = conf.object
    rings_dir = pathlib.Path(opts.rings_dir)
    rings_dir.mkdir(parents=True, exist_ok=True)
    ensure_hash_path(conf)
    ports = {"account": opts.account_port, "container": opts.container_port, "object": opts.object_port}
    created = False
    for kind in RING_TYPES:
        if ring_path(conf, kind).exists():
            continue
        created = True
        builder = RingBuilder(opts.part_power, opts.replicas, opts.min_part_hours)
        for device, zone in DEFAULT_DEVICES:
            builder.add_dev({"region": 1, "zone": zone, "ip": opts.storage_ip, "port": ports[kind],
                             "device": device, "weight": 100.0})
        builder.rebalance(seed=1)
        builder.save(builder_path(conf, kind))
        builder.write_ring(ring_path(conf, kind))
        LOG.info("created the %s ring: %d partitions, %d replicas over %s", kind, builder.parts,
                 builder.replicas, ", ".join(d for d, _ in DEFAULT_DEVICES))
    if created:
        # Only with new rings: later, a missing device directory is a disk the operator took out.
        devices_dir = pathlib.Path(opts.devices_dir)
        for device, _zone in DEFAULT_DEVICES:
            (devices_dir / device).mkdir(parents=True, exist_ok=True)


def load_rings(conf: Any) -> dict[str, Ring]:
    """The rings that exist, by type."""
    rings = {}
    for kind in RING_TYPES:
        path = ring_path(conf, kind)
        if path.exists():
            rings[kind] = Ring.load(path)
    return rings
