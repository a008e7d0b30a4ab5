from monostack.compute.service.servers import next_device_name


def test_volumes_get_the_first_free_virtio_name_after_the_root_disk():
    assert next_device_name([]) == "/dev/vdb"
    assert next_device_name(["/dev/vdb", None, "/dev/vdc"]) == "/dev/vdd"
    assert next_device_name([f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"]) == "/dev/vdaa"


def test_the_flavors_ephemeral_and_swap_disks_come_before_volumes():
    from monostack.compute.service.servers import flavor_disk_names

    assert flavor_disk_names({"ephemeral": 0, "swap": 0}) == []
    assert flavor_disk_names({"ephemeral": 1, "swap": 0}) == ["/dev/vdb"]
    assert flavor_disk_names({"ephemeral": 0, "swap": 512}) == ["/dev/vdb"]
    assert flavor_disk_names({"ephemeral": 1, "swap": 512}) == ["/dev/vdb", "/dev/vdc"]


def test_a_creates_volumes_are_named_as_nova_names_them():
    from monostack.compute.service.servers import name_block_devices

    def volume(boot_index=None, device_name=None):
        return {"source_type": "volume", "destination_type": "volume", "boot_index": boot_index,
                "device_name": device_name}

    # a boot volume is the root disk; the other volumes follow the flavor's own disks
    named = name_block_devices([volume(0), volume(), volume()], {"ephemeral": 1, "swap": 0})
    assert [b["device_name"] for b in named] == ["/dev/vda", "/dev/vdc", "/dev/vdd"]
    # a name asked for is kept and not given again
    named = name_block_devices([volume(), volume(device_name="/dev/vdb")], {"ephemeral": 0, "swap": 0})
    assert [b["device_name"] for b in named] == ["/dev/vdc", "/dev/vdb"]
    # local mappings keep what they had
    local = {"source_type": "blank", "destination_type": "local", "boot_index": -1, "device_name": None}
    assert name_block_devices([local], {"ephemeral": 0, "swap": 0})[0]["device_name"] is None
