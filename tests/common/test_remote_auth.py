"""A service on another host validates tokens against a running Identity."""

import httpx
import pytest

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.remote_auth import RemoteValidator
from monostack.identity.fernet import KeyRepository


@pytest.fixture
async def validator(cloud):
    auth = cloud.cloud("monostack-admin")["auth"]
    keys = KeyRepository(cloud.data_dir / "fernet-keys")
    v = RemoteValidator(cloud.auth_url, username=auth["username"], password=auth["password"],
                        project_name=auth["project_name"], key_repository=keys)
    yield v
    await v.close()


async def test_valid_token_fills_the_context(cloud, validator):
    ctx = RequestContext()
    await validator.authenticate(cloud.token("monostack"), ctx)
    assert ctx.user_name == "demo" and ctx.project_name == "demo" and "member" in ctx.roles


async def test_garbage_is_refused_locally(cloud, validator):
    with pytest.raises(errors.Unauthorized):
        await validator.authenticate("gAAAAAnot-a-token", RequestContext())
    assert validator._service._token is None  # never needed to ask Identity


async def test_revocation_shows_after_invalidation(cloud, validator, admin_token):
    token = cloud.token("monostack")
    await validator.authenticate(token, RequestContext())
    httpx.delete(f"{cloud.auth_url}/v3/auth/tokens", headers={"X-Auth-Token": admin_token,
                                                              "X-Subject-Token": token}).raise_for_status()
    validator.invalidate()
    with pytest.raises(errors.Unauthorized):
        await validator.authenticate(token, RequestContext())
