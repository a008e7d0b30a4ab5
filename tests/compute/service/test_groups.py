"""ServerGroupManager: what the servers API and the scheduler read, membership in the
creator's transaction with its quota, and cleanup."""

from __future__ import annotations

import pytest

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.compute import models
from tests.compute.api.harness import (add_server, compute_db_url, compute_svc, count_rows,  # noqa: F401
                                       make_compute_svc, server_row)

CTX = RequestContext(user_id="demo-user", project_id="d0000000000000000000000000000002", roles=["member"])
OTHER = RequestContext(user_id="x", project_id="elsewhere", roles=["member"])


def test_get_and_group_of(compute_svc) -> None:
    group = compute_svc.groups.create(CTX, "g", "anti-affinity", {"max_server_per_host": 2})
    server = add_server(compute_svc, host="compute1")
    with compute_svc.db.writer() as session:
        compute_svc.groups.add_member(session, group["id"], server.uuid, CTX)
    found = compute_svc.groups.get(group["id"], CTX)
    assert found["policy"] == "anti-affinity" and found["policies"] == ["anti-affinity"]
    assert found["rules"] == {"max_server_per_host": 2} and found["members"] == [server.uuid]
    assert found["hosts"] == ["compute1"] and found["project_id"] == CTX.project_id
    assert compute_svc.groups.group_of(server.uuid)["id"] == group["id"]
    assert compute_svc.groups.group_of("not-a-member") is None
    with pytest.raises(errors.NotFound, match=f"Instance group {group['id']} could not be found."):
        compute_svc.groups.get(group["id"], OTHER)
    with pytest.raises(errors.NotFound):
        compute_svc.groups.get("nope")
    with compute_svc.db.writer() as session:
        compute_svc.groups.remove_member(session, server.uuid)
    assert compute_svc.groups.get(group["id"])["members"] == []


def test_member_quota_rolls_back_the_create(make_compute_svc) -> None:
    svc = make_compute_svc(quota={"server_group_members": 1})
    group = svc.groups.create(CTX, "g", "affinity")
    with svc.db.writer() as session:
        session.add(server_row(uuid="s1", project_id=CTX.project_id, user_id=CTX.user_id))
        svc.groups.add_member(session, group["id"], "s1", CTX)
    with pytest.raises(errors.Forbidden, match="too many servers in group"):
        with svc.db.writer() as session:
            session.add(server_row(uuid="s2", project_id=CTX.project_id, user_id=CTX.user_id))
            svc.groups.add_member(session, group["id"], "s2", CTX)
    assert count_rows(svc, models.Instance) == 1 and svc.groups.get(group["id"])["members"] == ["s1"]
    with pytest.raises(errors.NotFound):
        with svc.db.writer() as session:
            svc.groups.add_member(session, "no-such-group", "s1", CTX)


def test_delete_keeps_the_servers(compute_svc) -> None:
    group = compute_svc.groups.create(CTX, "g", "affinity")
    server = add_server(compute_svc)
    with compute_svc.db.writer() as session:
        compute_svc.groups.add_member(session, group["id"], server.uuid, CTX)
    compute_svc.groups.delete(group["id"])
    assert count_rows(compute_svc, models.ServerGroupMember) == 0
    assert count_rows(compute_svc, models.Instance) == 1
    with pytest.raises(errors.BadRequest):
        compute_svc.groups.create(CTX, "g", "affinity", {"max_server_per_host": 2})
