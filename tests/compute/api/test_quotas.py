"""Quotas through the API: os-quota-sets (show, detail with usage, update with its checks,
delete, defaults, per user), os-quota-class-sets and /limits, per microversion."""

from __future__ import annotations

from tests.compute.api.harness import ADMIN_PROJECT, DEMO_PROJECT, add_server

ALL = {"cores", "fixed_ips", "floating_ips", "injected_file_content_bytes", "injected_file_path_bytes",
       "injected_files", "instances", "key_pairs", "metadata_items", "ram", "security_group_rules",
       "security_groups", "server_group_members", "server_groups"}
NETWORK = {"fixed_ips", "floating_ips", "security_group_rules", "security_groups"}
INJECTED = {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}


async def test_defaults_and_show_as_tempest_reads_them(compute_api) -> None:
    demo = compute_api.as_("demo")
    defaults = await demo.get(f"/os-quota-sets/{DEMO_PROJECT}/defaults")
    assert defaults.status_code == 200
    quota_set = defaults.json()["quota_set"]
    assert set(quota_set) == ALL | {"id"} and quota_set["id"] == DEMO_PROJECT
    assert quota_set["instances"] == 10 and quota_set["cores"] == 20 and quota_set["ram"] == 51200
    assert quota_set["floating_ips"] == -1 and quota_set["injected_file_path_bytes"] == 255
    shown = (await demo.get(f"/os-quota-sets/{DEMO_PROJECT}")).json()["quota_set"]
    assert shown == quota_set
    assert set((await demo.get(f"/os-quota-sets/{DEMO_PROJECT}", version="2.36")).json()["quota_set"]) == \
        ALL - NETWORK | {"id"}
    assert set((await demo.get(f"/os-quota-sets/{DEMO_PROJECT}", version="2.57")).json()["quota_set"]) == \
        ALL - NETWORK - INJECTED | {"id"}
    # Another project's quotas are for admins.
    assert (await demo.get(f"/os-quota-sets/{ADMIN_PROJECT}")).status_code == 403
    assert (await compute_api.get(f"/os-quota-sets/{DEMO_PROJECT}")).status_code == 200


async def test_detail_counts_usage(compute_api, compute_svc) -> None:
    add_server(compute_svc, vcpus=2, ram=512)
    add_server(compute_svc, vcpus=1, ram=128, user_id="demo-user-2")
    add_server(compute_svc, vcpus=4, ram=1024, deleted=True)
    add_server(compute_svc, vcpus=4, ram=1024, vm_state="soft-delete")
    await compute_api.as_("demo").post("/os-server-groups", json={"server_group": {"name": "g",
                                                                                "policies": ["affinity"]}})
    detail = (await compute_api.as_("demo").get(f"/os-quota-sets/{DEMO_PROJECT}/detail")).json()["quota_set"]
    assert detail["instances"] == {"limit": 10, "in_use": 2, "reserved": 0}
    assert detail["cores"] == {"limit": 20, "in_use": 3, "reserved": 0}
    assert detail["ram"] == {"limit": 51200, "in_use": 640, "reserved": 0}
    assert detail["server_groups"]["in_use"] == 1 and detail["key_pairs"]["in_use"] == 0
    mine = (await compute_api.get(f"/os-quota-sets/{DEMO_PROJECT}/detail?user_id=demo-user-2")).json()["quota_set"]
    assert mine["instances"]["in_use"] == 1 and mine["cores"]["in_use"] == 1


async def test_update_checks_usage_unless_forced(compute_api, compute_svc) -> None:
    add_server(compute_svc, vcpus=4)
    response = await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"cores": 8, "ram": "-1"}})
    assert response.status_code == 200
    assert "id" not in response.json()["quota_set"]
    assert response.json()["quota_set"]["cores"] == 8 and response.json()["quota_set"]["ram"] == -1
    low = await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"cores": 2}})
    assert low.status_code == 400
    assert low.json()["badRequest"]["message"] == ("Quota limit 2 for cores must be greater than or equal to "
                                                   "already used and reserved 4.")
    forced = await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"cores": 2, "force": True}})
    assert forced.status_code == 200 and forced.json()["quota_set"]["cores"] == 2
    for bad in ({"cores": -2}, {"cores": "many"}, {"colour": 1}, {"cores": 2 ** 31}):
        assert (await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": bad})
                ).status_code == 400, bad
    assert (await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"floating_ips": 3}},
                                  version="2.36")).status_code == 400
    # Only admins change quotas.
    assert (await compute_api.as_("demo").put(f"/os-quota-sets/{DEMO_PROJECT}",
                                              json={"quota_set": {"cores": 100}})).status_code == 403
    assert (await compute_api.delete(f"/os-quota-sets/{DEMO_PROJECT}")).status_code == 202
    assert (await compute_api.get(f"/os-quota-sets/{DEMO_PROJECT}")).json()["quota_set"]["cores"] == 20


async def test_user_quotas_fit_in_the_project(compute_api) -> None:
    await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"instances": 10}})
    url = f"/os-quota-sets/{DEMO_PROJECT}?user_id=demo-user"
    assert (await compute_api.put(url, json={"quota_set": {"instances": 6}})).status_code == 200
    other = f"/os-quota-sets/{DEMO_PROJECT}?user_id=demo-user-2"
    over = await compute_api.put(other, json={"quota_set": {"instances": 5}})
    assert over.status_code == 400
    assert over.json()["badRequest"]["message"] == "Quota limit 5 for instances must be less than or equal to 4."
    assert (await compute_api.put(other, json={"quota_set": {"instances": 4}})).status_code == 200
    assert (await compute_api.get(url)).json()["quota_set"]["instances"] == 6
    # The project limit cannot drop below what its users were given.
    low = await compute_api.put(f"/os-quota-sets/{DEMO_PROJECT}", json={"quota_set": {"instances": 9}})
    assert low.status_code == 400
    assert (await compute_api.delete(url)).status_code == 202
    assert (await compute_api.get(url)).json()["quota_set"]["instances"] == 10


async def test_quota_classes(compute_api) -> None:
    shown = (await compute_api.get("/os-quota-class-sets/default")).json()["quota_class_set"]
    assert shown["id"] == "default" and "server_groups" not in shown and "floating_ips" in shown
    v250 = (await compute_api.get("/os-quota-class-sets/default", version="2.50")).json()["quota_class_set"]
    assert "server_groups" in v250 and "floating_ips" not in v250
    updated = await compute_api.put("/os-quota-class-sets/default", json={"quota_class_set": {"instances": 50}})
    assert updated.status_code == 200 and updated.json()["quota_class_set"]["instances"] == 50
    assert "id" not in updated.json()["quota_class_set"]
    # The default class is the projects' default.
    assert (await compute_api.get(f"/os-quota-sets/{DEMO_PROJECT}/defaults")).json()["quota_set"]["instances"] == 50
    assert (await compute_api.get(f"/os-quota-sets/{DEMO_PROJECT}")).json()["quota_set"]["instances"] == 50
    assert (await compute_api.as_("demo").get("/os-quota-class-sets/default")).status_code == 403
    assert (await compute_api.put("/os-quota-class-sets/default", json={"quota_class_set": {"floating_ips": 1}},
                                  version="2.50")).status_code == 400


async def test_limits(compute_api, compute_svc) -> None:
    add_server(compute_svc, vcpus=2, ram=256)
    demo = compute_api.as_("demo")
    absolute = (await demo.get("/limits")).json()["limits"]["absolute"]
    assert absolute == {
        "maxTotalRAMSize": 51200, "maxTotalInstances": 10, "maxTotalCores": 20, "maxTotalKeypairs": 100,
        "maxTotalFloatingIps": -1, "maxServerMeta": 128, "maxImageMeta": 128, "maxPersonality": 5,
        "maxPersonalitySize": 10240, "maxSecurityGroups": -1, "maxSecurityGroupRules": -1, "maxServerGroups": 10,
        "maxServerGroupMembers": 10, "totalRAMUsed": 256, "totalCoresUsed": 2, "totalInstancesUsed": 1,
        "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0, "totalServerGroupsUsed": 0}
    assert (await demo.get("/limits")).json()["limits"]["rate"] == []
    v239 = (await demo.get("/limits", version="2.39")).json()["limits"]["absolute"]
    assert "maxImageMeta" not in v239 and "maxTotalFloatingIps" not in v239 and "maxPersonality" in v239
    v257 = (await demo.get("/limits", version="2.57")).json()["limits"]["absolute"]
    assert "maxPersonality" not in v257 and "totalSecurityGroupsUsed" not in v257
    # Another project's limits: admins only.
    assert (await demo.get(f"/limits?tenant_id={ADMIN_PROJECT}")).status_code == 403
    other = (await compute_api.get(f"/limits?tenant_id={DEMO_PROJECT}")).json()["limits"]["absolute"]
    assert other["totalInstancesUsed"] == 1
