"""Rings: what a rebalance guarantees, how names map to partitions and devices, and the
`monostack object ring` commands."""

from __future__ import annotations

import collections
import hashlib
import os
import struct

import pytest

from monostack.object.ring import Ring, RingBuilder, RingBuilderError
from monostack.object.ring.hashing import HashPath
from tests.object.storage.conftest import storage_conf


def build(devices: list[tuple[int, int, str, float]], part_power: int = 8, replicas: int = 3,
          min_part_hours: int = 0) -> RingBuilder:
    """devices: (region, zone, ip, weight)."""
    builder = RingBuilder(part_power, replicas, min_part_hours)
    for index, (region, zone, ip, weight) in enumerate(devices):
        builder.add_dev({"region": region, "zone": zone, "ip": ip, "port": 6200, "device": f"sd{index}",
                         "weight": weight})
    builder.rebalance(seed=1)
    return builder


def zones_of(builder: RingBuilder, assignment: list[int]) -> set:
    return {(builder.devs[d]["region"], builder.devs[d]["zone"]) for d in assignment}


def test_replicas_on_distinct_devices_and_zones() -> None:
    builder = build([(1, zone, f"10.0.{zone}.{host}", 100.0) for zone in (1, 2, 3) for host in (1, 2)])
    for assignment in builder.assignments():
        assert len(set(assignment)) == 3
        assert len(zones_of(builder, assignment)) == 3
    # every device holds its share: 256 partitions * 3 replicas over 6 equal devices
    assert set(builder.dev_parts().values()) == {128}


def test_more_zones_than_replicas_spreads_over_distinct_zones() -> None:
    builder = build([(1, zone, f"10.0.{zone}.1", 100.0) for zone in (1, 2, 3, 4, 5)])
    for assignment in builder.assignments():
        assert len(zones_of(builder, assignment)) == 3
    parts = builder.dev_parts()
    assert max(parts.values()) - min(parts.values()) <= 1


def test_fewer_zones_than_replicas_still_spreads_as_much_as_possible() -> None:
    builder = build([(1, zone, f"10.0.{zone}.{host}", 100.0) for zone in (1, 2) for host in (1, 2, 3)])
    for assignment in builder.assignments():
        assert len(set(assignment)) == 3
        assert len(zones_of(builder, assignment)) == 2
        assert len({builder.devs[d]["ip"] for d in assignment}) == 3


def test_weights_are_respected_within_a_zone() -> None:
    builder = build([(1, zone, f"10.0.{zone}.{host}", weight) for zone in (1, 2, 3)
                     for host, weight in ((1, 100.0), (2, 200.0), (3, 300.0))], part_power=10)
    parts = builder.dev_parts()
    for zone in (1, 2, 3):
        ids = [dev["id"] for dev in builder.devs if dev["zone"] == zone]
        counts = [parts[i] for i in ids]
        assert sum(counts) == 1024  # one replica of each partition per zone
        for count, weight in zip(counts, (1, 2, 3)):
            assert abs(count - 1024 * weight / 6) <= 2


def test_weights_across_zones_when_dispersion_allows() -> None:
    # two zones, two replicas: each partition has a replica in each zone whatever the weights;
    # within zone 2 the heavier device takes its share
    builder = build([(1, 1, "a", 100.0), (1, 2, "b", 100.0), (1, 2, "c", 300.0)], replicas=2)
    parts = builder.dev_parts()
    assert parts[0] == 256
    assert parts[1] + parts[2] == 256
    assert abs(parts[2] - 192) <= 2


def test_adding_a_device_moves_only_its_share_one_replica_per_partition() -> None:
    builder = build([(1, zone, f"10.0.{zone}.{host}", 100.0) for zone in (1, 2, 3) for host in (1, 2)], part_power=10)
    before = builder.assignments()
    new_id = builder.add_dev({"region": 1, "zone": 2, "ip": "10.0.2.3", "port": 6200, "device": "sdx",
                              "weight": 100.0})
    moved, balance, _ = builder.rebalance(seed=2)
    after = builder.assignments()
    changed = sum(1 for b, a in zip(before, after) for x, y in zip(b, a) if x != y)
    share = builder.dev_parts()[new_id]
    # zone 2 keeps one replica of each partition; its third device takes a third of them
    assert abs(share - 1024 / 3) <= 2
    assert changed == moved == share  # nothing but the new device's share moved
    assert all(sum(x != y for x, y in zip(b, a)) <= 1 for b, a in zip(before, after))
    assert balance < 1.0
    for assignment in after:
        assert len(zones_of(builder, assignment)) == 3


def test_adding_a_zone() -> None:
    builder = build([(1, zone, f"10.0.{zone}.1", 100.0) for zone in (1, 2, 3)], part_power=9)
    before = builder.assignments()
    new_id = builder.add_dev({"region": 1, "zone": 4, "ip": "10.0.4.1", "port": 6200, "device": "sdx",
                              "weight": 100.0})
    moved, _, _ = builder.rebalance(seed=3)
    after = builder.assignments()
    assert builder.dev_parts()[new_id] == moved == 512 * 3 // 4
    assert all(sum(x != y for x, y in zip(b, a)) <= 1 for b, a in zip(before, after))


def test_removing_a_device_moves_its_partitions_only() -> None:
    builder = build([(1, zone, f"10.0.{zone}.{host}", 100.0) for zone in (1, 2, 3) for host in (1, 2)])
    before = builder.assignments()
    held = builder.dev_parts()[0]
    builder.remove_dev(0)
    moved, _, removed = builder.rebalance(seed=4)
    assert removed == 1 and builder.devs[0] is None
    after = builder.assignments()
    assert all(0 not in assignment for assignment in after)
    assert moved == held
    for b, a in zip(before, after):
        for x, y in zip(b, a):
            assert x == y or x == 0
        assert len(zones_of(builder, a)) == 3


def test_min_part_hours_holds_partitions_in_place() -> None:
    builder = build([(1, zone, f"10.0.{zone}.1", 100.0) for zone in (1, 2, 3)], min_part_hours=1)
    builder.add_dev({"region": 1, "zone": 1, "ip": "10.0.1.2", "port": 6200, "device": "sdx", "weight": 100.0})
    moved, _, _ = builder.rebalance()
    assert moved == 0  # everything moved within the hour (the first placement)
    builder.pretend_min_part_hours_passed()
    moved, _, _ = builder.rebalance()
    assert moved == 128


def test_builder_errors() -> None:
    builder = RingBuilder(4, 3, 0)
    builder.add_dev({"region": 1, "zone": 1, "ip": "a", "port": 1, "device": "x", "weight": 1})
    with pytest.raises(RingBuilderError):
        builder.rebalance()  # 3 replicas, 1 device
    with pytest.raises(RingBuilderError):
        builder.add_dev({"region": 1, "zone": 1, "ip": "a", "port": 1, "device": "x", "weight": 1})
    with pytest.raises(RingBuilderError):
        builder.add_dev({"region": 1, "zone": 1, "ip": "a", "port": 1, "device": "y", "weight": -1})
    with pytest.raises(RingBuilderError):
        builder.set_dev_weight(7, 1.0)


def test_builder_and_ring_files_round_trip(tmp_path) -> None:
    builder = build([(1, zone, f"10.0.{zone}.1", 100.0) for zone in (1, 2, 3)])
    builder.save(tmp_path / "object.builder")
    again = RingBuilder.load(tmp_path / "object.builder")
    assert again.assignments() == builder.assignments()
    assert again.devs == builder.devs
    builder.write_ring(tmp_path / "object.ring.gz")
    ring = Ring(tmp_path / "object.ring.gz", HashPath(b"pre", b"suf"))
    assert ring.replica_count == 3 and ring.partition_count == 256
    for part in range(256):
        assert [node["id"] for node in ring.get_part_nodes(part)] == builder.assignments()[part]


def test_get_part_is_swifts_hash(tmp_path) -> None:
    builder = build([(1, zone, f"10.0.{zone}.1", 100.0) for zone in (1, 2, 3)], part_power=10)
    builder.write_ring(tmp_path / "object.ring.gz")
    ring = Ring(tmp_path / "object.ring.gz", HashPath(b"secretprefix", b"secretsuffix"))
    for name in (("AUTH_a",), ("AUTH_a", "c"), ("AUTH_a", "c", "o/with/slashes"), ("AUTH_\u00e9", "\u2603", "x")):
        digest = hashlib.md5(b"secretprefix/" + "/".join(name).encode() + b"secretsuffix").digest()
        expected = struct.unpack_from(">I", digest)[0] >> 22
        assert ring.get_part(*name) == expected
        part, nodes = ring.get_nodes(*name)
        assert part == expected
        assert [node["index"] for node in nodes] == [0, 1, 2]
        assert len({node["id"] for node in nodes}) == 3
        for node in nodes:
            assert {"id", "region", "zone", "ip", "port", "device", "weight", "replication_ip",
                    "replication_port", "index"} <= set(node)


def test_handoffs_prefer_other_zones_and_cover_every_device(tmp_path) -> None:
    builder = build([(1, zone, f"10.0.{zone}.{host}", 100.0) for zone in (1, 2, 3, 4) for host in (1, 2)])
    builder.write_ring(tmp_path / "object.ring.gz")
    ring = Ring(tmp_path / "object.ring.gz", HashPath())
    for part in range(0, 256, 17):
        primaries = ring.get_part_nodes(part)
        handoffs = list(ring.get_more_nodes(part))
        assert len(handoffs) == 8 - 3
        ids = [node["id"] for node in primaries + handoffs]
        assert len(set(ids)) == 8
        primary_zones = {node["zone"] for node in primaries}
        assert handoffs[0]["zone"] not in primary_zones  # a zone without a replica first
        assert handoffs == list(ring.get_more_nodes(part))  # stable
        assert [node["handoff_index"] for node in handoffs] == list(range(5))


def test_ring_reloads_when_the_file_changes(tmp_path) -> None:
    builder = build([(1, zone, f"10.0.{zone}.1", 100.0) for zone in (1, 2, 3)])
    path = tmp_path / "object.ring.gz"
    builder.write_ring(path)
    ring = Ring(path, HashPath(), reload_interval=0)
    assert len([d for d in ring.devs if d]) == 3
    builder.add_dev({"region": 1, "zone": 4, "ip": "10.0.4.1", "port": 6200, "device": "sdx", "weight": 100.0})
    builder.rebalance()
    builder.write_ring(path)
    os.utime(path, (1, 1))  # a different mtime for sure
    assert len([d for d in ring.devs if d]) == 4


def test_default_rings(tmp_path) -> None:
    from monostack.object.ring import ensure_default_rings, load_rings
    conf = storage_conf(tmp_path, part_power=7)
    ensure_default_rings(conf)
    rings = load_rings(conf)
    assert set(rings) == {"account", "container", "object"}
    for kind, ring in rings.items():
        devs = [d for d in ring.devs if d]
        assert sorted(d["device"] for d in devs) == ["d1", "d2", "d3"]
        assert sorted(d["zone"] for d in devs) == [1, 2, 3]
        assert {d["port"] for d in devs} == {getattr(conf.object, f"{kind}_port")}
        assert ring.partition_count == 128 and ring.replica_count == 3
    for device in ("d1", "d2", "d3"):
        assert (tmp_path / "object" / "devices" / device).is_dir()
    suffix = (tmp_path / "object" / "rings" / "hash_path.json").read_text()
    mtime = (tmp_path / "object" / "rings" / "object.ring.gz").stat().st_mtime
    (tmp_path / "object" / "devices" / "d2").rmdir()  # an operator took a disk out
    ensure_default_rings(conf)  # existing rings (and devices) are left alone
    assert (tmp_path / "object" / "rings" / "object.ring.gz").stat().st_mtime == mtime
    assert (tmp_path / "object" / "rings" / "hash_path.json").read_text() == suffix
    assert not (tmp_path / "object" / "devices" / "d2").exists()
    # a configured hash path that differs from the one the data was placed with is refused
    with pytest.raises(ValueError):
        ensure_default_rings(storage_conf(tmp_path, hash_path_suffix="other"))


def test_ring_commands(tmp_path, capsys) -> None:
    from monostack.cli import main
    data = ["--data-dir", str(tmp_path)]
    assert main(["object", "ring", "create", "object", "8", "3", "0", *data]) == 0
    for zone in (1, 2, 3):
        assert main(["object", "ring", "add", "object", f"r1z{zone}-127.0.0.1:6200/d{zone}", "100", *data]) == 0
    assert main(["object", "ring", "add", "object", "--zone", "1", "--ip", "127.0.0.2", "--port", "6200",
                 "--device", "d4", "--weight", "100", *data]) == 0
    assert main(["object", "ring", "rebalance", "object", *data]) == 0
    capsys.readouterr()
    assert main(["object", "ring", "show", "object", "--json", *data]) == 0
    import json
    shown = json.loads(capsys.readouterr().out)
    parts = {dev["device"]: dev["partitions"] for dev in shown["devices"]}
    assert parts == {"d1": 128, "d2": 256, "d3": 256, "d4": 128}
    assert main(["object", "ring", "set-weight", "object", "z1-127.0.0.2:6200/d4", "300", *data]) == 0
    assert main(["object", "ring", "rebalance", "object", *data]) == 0
    capsys.readouterr()
    main(["object", "ring", "show", "object", "--json", *data])
    parts = {dev["device"]: dev["partitions"] for dev in json.loads(capsys.readouterr().out)["devices"]}
    assert parts == {"d1": 64, "d2": 256, "d3": 256, "d4": 192}
    assert main(["object", "ring", "remove", "object", "d3", *data]) == 0  # d<id>: device id 3 (d4)
    assert main(["object", "ring", "rebalance", "object", *data]) == 0
    capsys.readouterr()
    main(["object", "ring", "show", "object", "--json", *data])
    parts = {dev["device"]: dev["partitions"] for dev in json.loads(capsys.readouterr().out)["devices"]}
    assert parts == {"d1": 256, "d2": 256, "d3": 256}
    ring = Ring(tmp_path / "object" / "rings" / "object.ring.gz")
    assert collections.Counter(node["device"] for part in range(256) for node in ring.get_part_nodes(part)) == {
        "d1": 256, "d2": 256, "d3": 256}
    assert main(["object", "ring", "remove", "object", "d9", *data]) == 2
    assert main(["object", "ring", "add", "object", "nonsense", "1", *data]) == 2
