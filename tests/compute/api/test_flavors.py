"""Flavors through the API: the defaults, list filters and pages, microversioned views,
management, access to private flavors and extra specs."""

from __future__ import annotations

import pytest

from tests.compute.api.harness import DEMO_PROJECT


@pytest.fixture
async def api(compute_api, compute_svc):
    compute_svc.flavors.ensure_defaults()
    return compute_api


async def test_defaults_are_listed_in_flavorid_order_with_links(api) -> None:
    response = await api.get("/flavors")
    assert response.status_code == 200
    flavors = response.json()["flavors"]
    assert [f["id"] for f in flavors] == ["1", "2", "3", "4", "42", "5", "84"]
    nano = next(f for f in flavors if f["id"] == "42")
    assert set(nano) == {"id", "name", "links"} and nano["name"] == "m1.nano"
    assert nano["links"] == [{"rel": "self", "href": "http://compute.test/v2.1/flavors/42"},
                             {"rel": "bookmark", "href": "http://compute.test/flavors/42"}]
    assert "flavors_links" not in response.json()


async def test_detail_view_per_microversion(api) -> None:
    old = (await api.get("/flavors/42")).json()["flavor"]
    assert old == {"id": "42", "name": "m1.nano", "ram": 128, "disk": 1, "swap": "", "vcpus": 1,
                   "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False,
                   "os-flavor-access:is_public": True, "rxtx_factor": 1.0, "links": old["links"]}
    new = (await api.get("/flavors/42", version="2.75")).json()["flavor"]
    assert new["swap"] == 0 and new["description"] is None and new["extra_specs"] == {}
    demo = (await api.as_("demo", "2.61").get("/flavors/detail")).json()["flavors"]
    assert all("extra_specs" in f and "description" in f for f in demo)


async def test_list_filters_sorting_and_pages(api) -> None:
    names = [f["name"] for f in (await api.get("/flavors/detail?minRam=2048&minDisk=40")).json()["flavors"]]
    assert names == ["m1.medium", "m1.large", "m1.xlarge"]
    by_ram = (await api.get("/flavors?sort_key=memory_mb&sort_dir=desc")).json()["flavors"]
    assert [f["id"] for f in by_ram] == ["5", "4", "3", "2", "1", "84", "42"]
    first = (await api.get("/flavors?limit=3")).json()
    assert [f["id"] for f in first["flavors"]] == ["1", "2", "3"]
    assert first["flavors_links"][0]["rel"] == "next"
    assert "marker=3" in first["flavors_links"][0]["href"] and "limit=3" in first["flavors_links"][0]["href"]
    rest = (await api.get("/flavors?limit=3&marker=3")).json()["flavors"]
    assert [f["id"] for f in rest] == ["4", "42", "5"]
    assert (await api.get("/flavors?marker=nope")).status_code == 400
    for bad in ("minRam=abc", "sort_key=colour", "sort_dir=up", "limit=-1", "limit=x"):
        response = await api.get(f"/flavors?{bad}")
        assert response.status_code == 400, bad
        assert "badRequest" in response.json()
    # Unknown parameters are ignored before 2.75, refused after.
    assert (await api.get("/flavors?colour=red")).status_code == 200
    assert (await api.get("/flavors?colour=red", version="2.75")).status_code == 400


async def test_create_show_describe_delete(api) -> None:
    body = {"flavor": {"name": "custom", "ram": "1024", "vcpus": 2, "disk": 10, "id": "custom-1",
                       "OS-FLV-EXT-DATA:ephemeral": 5, "swap": 512, "rxtx_factor": "2.5", "description": "mine"}}
    response = await api.post("/flavors", json=body, version="2.55")
    assert response.status_code == 200, response.text
    flavor = response.json()["flavor"]
    assert flavor["id"] == "custom-1" and flavor["ram"] == 1024 and flavor["swap"] == 512
    assert flavor["OS-FLV-EXT-DATA:ephemeral"] == 5 and flavor["rxtx_factor"] == 2.5 and flavor["description"] == "mine"
    # A generated id when none is given; conflicts on name and on id.
    generated = (await api.post("/flavors", json={"flavor": {"name": "auto", "ram": 64, "vcpus": 1, "disk": 0}}))
    assert len(generated.json()["flavor"]["id"]) == 36
    dup_name = await api.post("/flavors", json={"flavor": {"name": "custom", "ram": 64, "vcpus": 1, "disk": 0}})
    assert dup_name.status_code == 409 and "conflictingRequest" in dup_name.json()
    dup_id = await api.post("/flavors", json={"flavor": {"name": "x", "ram": 64, "vcpus": 1, "disk": 0, "id": "1"}})
    assert dup_id.status_code == 409
    # The description is editable from 2.55 only.
    assert (await api.put("/flavors/custom-1", json={"flavor": {"description": "x"}})).status_code == 404
    updated = await api.put("/flavors/custom-1", json={"flavor": {"description": "new"}}, version="2.55")
    assert updated.status_code == 200 and updated.json()["flavor"]["description"] == "new"
    assert (await api.delete("/flavors/custom-1")).status_code == 202
    missing = await api.get("/flavors/custom-1")
    assert missing.status_code == 404
    assert missing.json() == {"itemNotFound": {"code": 404, "message": "Flavor custom-1 could not be found."}}


@pytest.mark.parametrize("flavor", [
    {"name": "a", "ram": 0, "vcpus": 1, "disk": 1},
    {"name": "a", "ram": "0", "vcpus": 1, "disk": 1},
    {"name": "a", "ram": 64, "vcpus": 1, "disk": -1},
    {"name": " padded", "ram": 64, "vcpus": 1, "disk": 1},
    {"name": "a", "ram": 64, "vcpus": 1, "disk": 1, "id": " x"},
    {"name": "a", "ram": 64, "vcpus": 1, "disk": 1, "rxtx_factor": 0},
    {"name": "a", "ram": 64, "vcpus": 1},
    {"name": "a", "ram": 64, "vcpus": 1, "disk": 1, "colour": "red"},
    {"name": "a", "ram": 64, "vcpus": 1, "disk": 1, "description": "too early"},
])
async def test_create_refuses_bad_flavors(api, flavor) -> None:
    response = await api.post("/flavors", json={"flavor": flavor})
    assert response.status_code == 400, response.text
    assert "badRequest" in response.json()


async def test_management_is_for_admins(api) -> None:
    demo = api.as_("demo")
    body = {"flavor": {"name": "x", "ram": 64, "vcpus": 1, "disk": 1}}
    assert (await demo.post("/flavors", json=body)).status_code == 403
    assert (await demo.delete("/flavors/42")).status_code == 403
    assert (await demo.post("/flavors/42/os-extra_specs", json={"extra_specs": {"a": "b"}})).status_code == 403


async def test_private_flavors_and_access(api) -> None:
    created = await api.post("/flavors", json={"flavor": {"name": "private", "ram": 64, "vcpus": 1, "disk": 1,
                                                         "id": "p1", "os-flavor-access:is_public": False}})
    assert created.json()["flavor"]["os-flavor-access:is_public"] is False
    demo = api.as_("demo")
    assert (await demo.get("/flavors/p1")).status_code == 404
    assert "p1" not in [f["id"] for f in (await demo.get("/flavors")).json()["flavors"]]
    # Admins see private flavors with is_public=false or none; the default list shows public ones.
    assert "p1" not in [f["id"] for f in (await api.get("/flavors")).json()["flavors"]]
    assert [f["id"] for f in (await api.get("/flavors?is_public=false")).json()["flavors"]] == ["p1"]
    assert "p1" in [f["id"] for f in (await api.get("/flavors?is_public=None")).json()["flavors"]]
    assert (await api.get("/flavors?is_public=maybe")).status_code == 400

    add = await api.post("/flavors/p1/action", json={"addTenantAccess": {"tenant": DEMO_PROJECT}})
    assert add.status_code == 200
    assert add.json() == {"flavor_access": [{"flavor_id": "p1", "tenant_id": DEMO_PROJECT}]}
    again = await api.post("/flavors/p1/action", json={"addTenantAccess": {"tenant": DEMO_PROJECT}})
    assert again.status_code == 409
    assert (await demo.get("/flavors/p1")).status_code == 200
    assert "p1" in [f["id"] for f in (await demo.get("/flavors")).json()["flavors"]]
    listed = await api.get("/flavors/p1/os-flavor-access")
    assert listed.json()["flavor_access"][0]["tenant_id"] == DEMO_PROJECT
    assert (await demo.get("/flavors/p1/os-flavor-access")).status_code == 403
    public = await api.get("/flavors/1/os-flavor-access")
    assert public.status_code == 404 and "public flavors" in public.json()["itemNotFound"]["message"]
    to_public = await api.post("/flavors/1/action", json={"addTenantAccess": {"tenant": DEMO_PROJECT}},
                               version="2.7")
    assert to_public.status_code == 409

    removed = await api.post("/flavors/p1/action", json={"removeTenantAccess": {"tenant": DEMO_PROJECT}})
    assert removed.json() == {"flavor_access": []}
    assert (await api.post("/flavors/p1/action",
                           json={"removeTenantAccess": {"tenant": DEMO_PROJECT}})).status_code == 404
    assert (await demo.get("/flavors/p1")).status_code == 404
    assert (await api.post("/flavors/p1/action", json={"colour": {}})).status_code == 400


async def test_extra_specs(api) -> None:
    created = await api.post("/flavors/42/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "dedicated",
                                                                                 "count": 3}})
    assert created.status_code == 200
    assert created.json() == {"extra_specs": {"hw:cpu_policy": "dedicated", "count": "3"}}
    assert (await api.get("/flavors/42/os-extra_specs")).json()["extra_specs"] == {"hw:cpu_policy": "dedicated",
                                                                                   "count": "3"}
    demo = api.as_("demo")
    assert (await demo.get("/flavors/42/os-extra_specs/count")).json() == {"count": "3"}
    assert (await api.put("/flavors/42/os-extra_specs/count", json={"count": "4"})).json() == {"count": "4"}
    mismatch = await api.put("/flavors/42/os-extra_specs/count", json={"other": "4"})
    assert mismatch.status_code == 400 and "mismatch" in mismatch.json()["badRequest"]["message"]
    assert (await api.put("/flavors/42/os-extra_specs/count", json={"count": "4", "b": "1"})).status_code == 400
    assert (await api.delete("/flavors/42/os-extra_specs/count")).status_code == 200
    assert (await api.delete("/flavors/42/os-extra_specs/count")).status_code == 404
    assert (await api.get("/flavors/42/os-extra_specs/count")).status_code == 404
    # The flavor carries them in its view from 2.61, and in the dict servers embed.
    assert (await api.get("/flavors/42", version="2.61")).json()["flavor"]["extra_specs"] == {
        "hw:cpu_policy": "dedicated"}
    # Validation of Nova's namespaces from 2.86 only.
    assert (await api.post("/flavors/42/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "bogus"}},
                           version="2.86")).status_code == 400
    assert (await api.post("/flavors/42/os-extra_specs", json={"extra_specs": {"hw:no_such": "1"}},
                           version="2.86")).status_code == 400
    assert (await api.post("/flavors/42/os-extra_specs", json={"extra_specs": {"resources:VCPU": "x"}},
                           version="2.86")).status_code == 400
    ok = {"hw:numa_nodes": "2", "trait:HW_CPU_X86_AVX2": "required", "resources1:CUSTOM_GPU": "1",
          "my:own": "anything", "plain": "x"}
    assert (await api.post("/flavors/42/os-extra_specs", json={"extra_specs": ok}, version="2.86")).status_code == 200
    assert (await api.post("/flavors/42/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "bogus"}})
            ).status_code == 200
    assert (await api.post("/flavors/nope/os-extra_specs", json={"extra_specs": {"a": "b"}})).status_code == 404
    assert (await api.post("/flavors/42/os-extra_specs", json={"extra_specs": {"bad/key": "b"}})).status_code == 400


async def test_project_id_in_the_url_is_accepted(api) -> None:
    response = await api.get(f"/{DEMO_PROJECT}/flavors/42")
    assert response.status_code == 200 and response.json()["flavor"]["id"] == "42"
    assert response.headers["OpenStack-API-Version"] == "compute 2.1"


async def test_microversion_negotiation_names_the_version(api) -> None:
    response = await api.get("/flavors", version="2.96")
    assert response.headers["OpenStack-API-Version"] == "compute 2.96"
    assert (await api.get("/flavors", version="2.97")).status_code == 406
