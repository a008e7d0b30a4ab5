"""`monostack object ring ...`: build and change the account, container and object rings, as
swift-ring-builder does, and `monostack object replicate|audit|update --once`.

    monostack object ring create <type> <part_power> <replicas> <min_part_hours>
    monostack object ring add <type> r1z1-127.0.0.1:6200/d4 <weight>   (or --region/--zone/--ip/--port/--device/--weight)
    monostack object ring set-weight <type> <search> <weight>           (search: d<id>, or e.g. z2-127.0.0.1:6200/d2)
    monostack object ring remove <type> <search>
    monostack object ring rebalance <type> [--seed N]
    monostack object ring show <type>                                   devices, weights, partitions, balance
    monostack object ring pretend-min-part-hours-passed <type>
<type> is account, container, object, or all.  Changes are kept in the builder (<rings_dir>/<type>.builder);
`rebalance` writes the ring (<rings_dir>/<type>.ring.gz) that servers and proxies read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
from typing import Any, Callable

from monostack.object.ring.builder import (RingBuilder, RingBuilderError, format_device, iter_types, match_devs,
                                           parse_device)

TYPES = ("account", "container", "object", "all")


def _paths(conf: Any, kind: str) -> tuple[pathlib.Path, pathlib.Path]:
    from monostack.object.ring.defaults import builder_path, ring_path
    return builder_path(conf, kind), ring_path(conf, kind)


def _load(conf: Any, kind: str) -> RingBuilder:
    path, _ = _paths(conf, kind)
    try:
        return RingBuilder.load(path)
    except FileNotFoundError:
        raise RingBuilderError(f"no {kind} ring builder at {path} (create it first)") from None


def _conf(args: argparse.Namespace) -> Any:
    import monostack.object.options  # noqa: F401
    from monostack.cli import _conf as cli_conf
    return cli_conf(args)


def cmd_create(args: argparse.Namespace) -> int:
    conf = _conf(args)
    from monostack.object.ring.defaults import ensure_hash_path
    ensure_hash_path(conf)
    for kind in iter_types(args.type):
        path, _ = _paths(conf, kind)
        if path.exists() and not args.force:
            raise RingBuilderError(f"{path} exists (--force replaces it)")
        RingBuilder(args.part_power, args.replicas, args.min_part_hours).save(path)
        print(f"created the {kind} builder {path}: 2^{args.part_power} partitions, {args.replicas} replicas")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    conf = _conf(args)
    for kind in iter_types(args.type):
        builder = _load(conf, kind)
        if args.device_spec:
            dev = parse_device(args.device_spec)
            weight = args.weight if args.weight is not None else args.weight_pos
        else:
            if not (args.ip and args.port and args.device):
                raise RingBuilderError("give r<region>z<zone>-<ip>:<port>/<device> <weight>, or --ip --port --device")
            dev = {"region": args.region, "zone": args.zone, "ip": args.ip, "port": args.port,
                   "device": args.device, "meta": args.meta or ""}
            weight = args.weight
            if args.replication_ip:
                dev["replication_ip"] = args.replication_ip
            if args.replication_port:
                dev["replication_port"] = args.replication_port
        if weight is None:
            raise RingBuilderError("a device needs a weight")
        dev["weight"] = weight
        dev_id = builder.add_dev(dev)
        builder.save(_paths(conf, kind)[0])
        print(f"{kind}: device {format_device(builder.devs[dev_id])} with weight {weight:g} got id {dev_id}")
    return 0


def _each_match(conf: Any, kind: str, search: str, change: Callable[[RingBuilder, dict], str]) -> None:
    builder = _load(conf, kind)
    devs = match_devs(builder, search)
    if not devs:
        raise RingBuilderError(f"{kind}: no device matches {search!r}")
    for dev in devs:
        print(f"{kind}: {change(builder, dev)}")
    builder.save(_paths(conf, kind)[0])


def cmd_set_weight(args: argparse.Namespace) -> int:
    conf = _conf(args)
    for kind in iter_types(args.type):
        def change(builder: RingBuilder, dev: dict) -> str:
            builder.set_dev_weight(dev["id"], args.weight)
            return f"device {format_device(dev)} weight set to {args.weight:g}"
        _each_match(conf, kind, args.search, change)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    conf = _conf(args)
    for kind in iter_types(args.type):
        def change(builder: RingBuilder, dev: dict) -> str:
            builder.remove_dev(dev["id"])
            return f"device {format_device(dev)} marked for removal (gone at the next rebalance)"
        _each_match(conf, kind, args.search, change)
    return 0


def cmd_rebalance(args: argparse.Namespace) -> int:
    conf = _conf(args)
    for kind in iter_types(args.type):
        builder = _load(conf, kind)
        path, ring = _paths(conf, kind)
        moved, balance, removed = builder.rebalance(seed=args.seed)
        builder.save(path)
        builder.write_ring(ring)
        print(f"{kind}: reassigned {moved} replicas of {builder.parts * builder.replicas}; balance is now "
              f"{balance:.2f}%{f'; {removed} device(s) removed' if removed else ''}; wrote {ring}")
    return 0


def cmd_pretend(args: argparse.Namespace) -> int:
    conf = _conf(args)
    for kind in iter_types(args.type):
        builder = _load(conf, kind)
        builder.pretend_min_part_hours_passed()
        builder.save(_paths(conf, kind)[0])
        print(f"{kind}: every partition may move at the next rebalance")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    conf = _conf(args)
    for kind in iter_types(args.type):
        builder = _load(conf, kind)
        counts = builder.dev_parts()
        targets = builder.targets()
        devs = [dev for dev in builder.devs if dev is not None]
        if args.json:
            print(json.dumps({"type": kind, "part_power": builder.part_power, "replicas": builder.replicas,
                              "min_part_hours": builder.min_part_hours, "balance": builder.get_balance(),
                              "devices": [dict(dev, partitions=counts.get(dev["id"], 0)) for dev in devs]}))
            continue
        print(f"{_paths(conf, kind)[0]}, build version {builder.version}: {builder.parts} partitions, "
              f"{builder.replicas} replicas, {len({d['region'] for d in devs})} regions, "
              f"{len({(d['region'], d['zone']) for d in devs})} zones, {len(devs)} devices, "
              f"{builder.get_balance():.2f} balance; min_part_hours {builder.min_part_hours}")
        print(f"{'id':>4} {'region':>6} {'zone':>4} {'ip address:port':>22} {'name':>8} {'weight':>8} "
              f"{'partitions':>10} {'balance':>8}")
        for dev in devs:
            target = targets.get(dev["id"], 0)
            balance = (counts.get(dev["id"], 0) - target) * 100 / target if target else 0.0
            print(f"{dev['id']:>4} {dev['region']:>6} {dev['zone']:>4} {dev['ip'] + ':' + str(dev['port']):>22} "
                  f"{dev['device']:>8} {dev['weight']:>8.2f} {counts.get(dev['id'], 0):>10} {balance:>8.2f}")
    return 0


def _run_once(what: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from monostack.object.storage.node import StorageNode
        node = StorageNode(_conf(args))

        async def once() -> Any:
            try:
                if what == "audit":
                    return await node.audit_once(rate_limited=not args.no_rate_limit)
                return await getattr(node, f"{what}_once")()
            finally:
                await node.stop()

        print(json.dumps(asyncio.run(once()), indent=2))
        return 0
    return command


def _guard(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (RingBuilderError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return guarded


def add_commands(object_commands: Any, common: argparse.ArgumentParser) -> None:
    """Hook `ring`, `replicate`, `audit` and `update` under `monostack object`."""
    ring = object_commands.add_parser("ring", help="build the account, container and object rings").add_subparsers(
        dest="ring_command", required=True)

    create = ring.add_parser("create", parents=[common], help="a new ring builder")
    create.add_argument("type", choices=TYPES)
    create.add_argument("part_power", type=int)
    create.add_argument("replicas", type=int)
    create.add_argument("min_part_hours", type=int)
    create.add_argument("--force", action="store_true", help="replace an existing builder")
    create.set_defaults(func=_guard(cmd_create))

    add = ring.add_parser("add", parents=[common], help="add a device")
    add.add_argument("type", choices=TYPES)
    add.add_argument("device_spec", nargs="?", help="r<region>z<zone>-<ip>:<port>/<device>")
    add.add_argument("weight_pos", nargs="?", type=float, metavar="weight")
    add.add_argument("--region", type=int, default=1)
    add.add_argument("--zone", type=int, default=1)
    add.add_argument("--ip")
    add.add_argument("--port", type=int)
    add.add_argument("--replication-ip")
    add.add_argument("--replication-port", type=int)
    add.add_argument("--device")
    add.add_argument("--weight", type=float)
    add.add_argument("--meta")
    add.set_defaults(func=_guard(cmd_add))

    weight = ring.add_parser("set-weight", parents=[common], help="change the weight of devices")
    weight.add_argument("type", choices=TYPES)
    weight.add_argument("search", help="d<id>, or a search value like z1-127.0.0.1:6200/d1")
    weight.add_argument("weight", type=float)
    weight.set_defaults(func=_guard(cmd_set_weight))

    remove = ring.add_parser("remove", parents=[common], help="remove devices (at the next rebalance)")
    remove.add_argument("type", choices=TYPES)
    remove.add_argument("search")
    remove.set_defaults(func=_guard(cmd_remove))

    rebalance = ring.add_parser("rebalance", parents=[common], help="reassign partitions and write the ring")
    rebalance.add_argument("type", choices=TYPES)
    rebalance.add_argument("--seed", type=int)
    rebalance.set_defaults(func=_guard(cmd_rebalance))

    for name in ("show", "list"):
        show = ring.add_parser(name, parents=[common], help="the devices of a ring and their partitions")
        show.add_argument("type", choices=TYPES)
        show.add_argument("--json", action="store_true")
        show.set_defaults(func=_guard(cmd_show))

    pretend = ring.add_parser("pretend-min-part-hours-passed", parents=[common],
                              help="let the next rebalance move any partition")
    pretend.add_argument("type", choices=TYPES)
    pretend.set_defaults(func=_guard(cmd_pretend))

    for what, text in (("replicate", "one replication pass over this host's devices"),
                       ("audit", "one auditor pass over this host's devices"),
                       ("update", "one pass of the object and container updaters")):
        once = object_commands.add_parser(what, parents=[common], help=text)
        once.add_argument("--once", action="store_true", required=True, help="run one pass and exit")
        if what == "audit":
            once.add_argument("--no-rate-limit", action="store_true", help="read as fast as the disks allow")
        once.set_defaults(func=_run_once(what))
