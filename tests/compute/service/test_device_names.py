from monostack.compute.service.servers import next_device_name


def test_volumes_get_the_first_free_virtio_name_after_the_root_disk():
    assert next_device_name([]) == "/dev/vdb"
    assert next_device_name(["/dev/vdb", None, "/dev/vdc"]) == "/dev/vdd"
    assert next_device_name([f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"]) == "/dev/vdaa"
