"""Fixtures of the Object Storage API tests: a real cloud running Identity and Object
Storage (proxy and the three storage servers on free ports), and the clients the
tests drive it with: raw HTTP, the swift CLI, openstacksdk, boto3."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from typing import Any, Iterator

import httpx
import pytest
import yaml

from tests.conftest import RunningCloud, free_port, own_cloud

SWIFT = os.path.join(os.path.dirname(sys.executable), "swift")


def object_env(**extra: str) -> dict[str, str]:
    env = {"MONOSTACK_DEFAULT__SERVICES": "identity,object",
           "MONOSTACK_OBJECT__OBJECT_PORT": str(free_port()),
           "MONOSTACK_OBJECT__CONTAINER_PORT": str(free_port()),
           "MONOSTACK_OBJECT__ACCOUNT_PORT": str(free_port()),
           # The tests watch expiring objects go: a pass every second.
           "MONOSTACK_OBJECT__EXPIRER_INTERVAL": "1",
           "MONOSTACK_OBJECT__ACCOUNT_REPORT_DELAY": "0.2"}
    env.update(extra)
    return env


@dataclasses.dataclass
class User:
    """A user of the cloud (demo, alt_demo, admin) as the tests see them."""

    cloud: RunningCloud
    name: str
    password: str
    token: str
    user_id: str
    project_id: str

    @property
    def account(self) -> str:
        return f"AUTH_{self.project_id}"

    @property
    def storage_url(self) -> str:
        return f"{self.cloud.url}/object-store/v1/{self.account}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.storage_url, headers={"X-Auth-Token": self.token}, timeout=60)

    def swift_env(self, password: bool = False) -> dict[str, str]:
        """The environment of the swift CLI: a Keystone login (password), or this user's token and
        storage URL (what most tests use: a login per command is slow and tested once is enough)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
        env.update(OS_AUTH_URL=f"{self.cloud.auth_url}/v3", OS_USERNAME=self.name, OS_PASSWORD=self.password,
                   OS_PROJECT_NAME=self.name, OS_USER_DOMAIN_ID="default", OS_PROJECT_DOMAIN_ID="default",
                   OS_AUTH_VERSION="3", OS_IDENTITY_API_VERSION="3")
        if not password:
            env.update(OS_AUTH_TOKEN=self.token, OS_STORAGE_URL=self.storage_url)
        return env

    def swift(self, *args: str, check: bool = True, cwd: str | None = None, timeout: float = 600,
              password: bool = False) -> subprocess.CompletedProcess:
        """The swift CLI as this user."""
        result = subprocess.run([SWIFT, *args], env=self.swift_env(password), capture_output=True, text=True,
                                cwd=cwd, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"swift {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def ec2_credentials(self) -> tuple[str, str]:
        response = httpx.post(f"{self.cloud.auth_url}/v3/users/{self.user_id}/credentials/OS-EC2",
                              json={"tenant_id": self.project_id}, headers={"X-Auth-Token": self.token}, timeout=30)
        response.raise_for_status()
        cred = response.json()["credential"]
        return cred["access"], cred["secret"]


def login(cloud: RunningCloud, name: str) -> User:
    clouds = yaml.safe_load(cloud.clouds_yaml.read_text())["clouds"]
    entry = {"demo": "monostack", "alt_demo": "monostack-alt", "admin": "monostack-admin"}[name]
    auth = clouds[entry]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"id": "default"}, "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"id": "default"}}}}}
    response = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json=body, timeout=30)
    response.raise_for_status()
    token = response.json()["token"]
    return User(cloud, name, auth["password"], response.headers["x-subject-token"], token["user"]["id"],
                token["project"]["id"])


@pytest.fixture(scope="session")
def object_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, "object-cloud", object_env())


@pytest.fixture(scope="session")
def demo(object_cloud: RunningCloud) -> User:
    return login(object_cloud, "demo")


@pytest.fixture(scope="session")
def alt(object_cloud: RunningCloud) -> User:
    return login(object_cloud, "alt_demo")


@pytest.fixture(scope="session")
def admin(object_cloud: RunningCloud) -> User:
    return login(object_cloud, "admin")


@pytest.fixture
def api(demo: User) -> Iterator[httpx.Client]:
    """Raw HTTP to the demo project's account."""
    with demo.client() as client:
        yield client


@pytest.fixture
def container(api: httpx.Client) -> Iterator[str]:
    """A fresh container of the demo project, emptied and removed after the test."""
    name = f"c-{uuid.uuid4().hex[:10]}"
    assert api.put(f"/{name}").status_code == 201
    yield name
    remove_container(api, name)


def remove_container(api: httpx.Client, name: str) -> None:
    listing = api.get(f"/{name}", params={"format": "json"})
    if listing.status_code == 200:
        for item in listing.json():
            api.delete(f"/{name}/{item['name']}")
    api.delete(f"/{name}")


@pytest.fixture(scope="session")
def s3(demo: User) -> Any:
    import boto3
    from botocore.config import Config

    access, secret = demo.ec2_credentials()
    return boto3.client("s3", endpoint_url=f"{demo.cloud.url}/s3/", aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 0}))
