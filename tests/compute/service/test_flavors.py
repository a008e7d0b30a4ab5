"""FlavorManager: the default flavors, the dict servers embed, visibility of private
flavors, and extra spec validation."""

from __future__ import annotations

import pytest

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.compute import models
from monostack.compute.service.flavors import validate_extra_spec
from tests.compute.api.harness import compute_db_url, compute_svc, count_rows, make_compute_svc  # noqa: F401

DEMO = RequestContext(user_id="u", project_id="p1", roles=["member", "reader"])
OTHER = RequestContext(user_id="v", project_id="p2", roles=["member", "reader"])


def test_defaults_are_made_once(compute_svc) -> None:
    compute_svc.flavors.ensure_defaults()
    compute_svc.flavors.ensure_defaults()
    assert count_rows(compute_svc, models.Flavor) == 7
    assert compute_svc.flavors.get("42") == {
        "id": "42", "name": "m1.nano", "vcpus": 1, "ram": 128, "disk": 1, "ephemeral": 0, "swap": 0,
        "rxtx_factor": 1.0, "is_public": True, "disabled": False, "description": None, "extra_specs": {}}
    # An operator who deleted them all and made their own does not get them back.
    for flavor in compute_svc.flavors.list(RequestContext.service(), is_public=None):
        compute_svc.flavors.delete(flavor["id"])
    compute_svc.flavors.create(name="own", ram=64, vcpus=1, disk=1, flavorid="own")
    compute_svc.flavors.ensure_defaults()
    assert [f["id"] for f in compute_svc.flavors.list(RequestContext.service(), is_public=None)] == ["own"]


def test_defaults_can_be_turned_off(make_compute_svc) -> None:
    svc = make_compute_svc(compute={"default_flavors": False})
    svc.flavors.ensure_defaults()
    assert count_rows(svc, models.Flavor) == 0


def test_private_flavors_are_visible_to_projects_with_access(compute_svc) -> None:
    compute_svc.flavors.create(name="private", ram=64, vcpus=1, disk=1, flavorid="p", is_public=False)
    with pytest.raises(errors.NotFound, match="Flavor p could not be found."):
        compute_svc.flavors.get("p", DEMO)
    compute_svc.flavors.add_access("p", "p1", refuse_public=True)
    assert compute_svc.flavors.get("p", DEMO)["is_public"] is False
    assert [f["id"] for f in compute_svc.flavors.list(DEMO)] == ["p"]
    assert compute_svc.flavors.list(OTHER) == []
    with pytest.raises(errors.NotFound):
        compute_svc.flavors.get("p", OTHER)
    assert compute_svc.flavors.get("p")["id"] == "p"  # no context: the cloud itself
    assert compute_svc.flavors.access_list("p") == ["p1"]


def test_extra_specs_are_embedded(compute_svc) -> None:
    compute_svc.flavors.create(name="f", ram=64, vcpus=1, disk=1, flavorid="f")
    assert compute_svc.flavors.set_extra_specs("f", {"a": "1", "b": "2"}) == {"a": "1", "b": "2"}
    assert compute_svc.flavors.set_extra_specs("f", {"a": "3"}) == {"a": "3", "b": "2"}
    compute_svc.flavors.delete_extra_spec("f", "b")
    assert compute_svc.flavors.get("f")["extra_specs"] == {"a": "3"}
    with pytest.raises(errors.NotFound, match="Flavor f has no extra specs with key b."):
        compute_svc.flavors.delete_extra_spec("f", "b")


@pytest.mark.parametrize("name,value,ok", [
    ("hw:cpu_policy", "dedicated", True), ("hw:cpu_policy", "fast", False), ("hw:numa_nodes", "0", False),
    ("hw:numa_nodes", "2", True), ("hw:numa_cpus.0", "0-3,^2", True), ("hw:mem_page_size", "2MB", True),
    ("hw:mem_page_size", "huge", False), ("hw:boot_menu", "yes", True), ("hw:boot_menu", "perhaps", False),
    ("hw:unknown", "1", False), ("hw_rng:rate_bytes", "-1", False), ("resources:VCPU", "2", True),
    ("resources_GPU:CUSTOM_GPU", "1", True), ("resources:VCPU", "many", False),
    ("trait:HW_CPU_X86_AVX", "required", True), ("trait:HW_CPU_X86_AVX", "wanted", False),
    ("quota:disk_read_bytes_sec", "10240", True), ("quota:bogus", "1", False),
    ("hw:redirected_usb_ports", "16", False), ("aggregate_instance_extra_specs:ssd", "true", True),
    ("vendor:anything", "x", True), ("no_namespace", "x", True),
])
def test_extra_spec_validation(name, value, ok) -> None:
    if ok:
        validate_extra_spec(name, value)
    else:
        with pytest.raises(errors.BadRequest, match="Validation failed"):
            validate_extra_spec(name, value)
