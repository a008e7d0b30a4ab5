"""The `monostack` command: up on an existing data dir, status, db upgrade, key rotation, config sample."""

import subprocess
import time

import httpx
import yaml

from tests.conftest import MONOSTACK, start_cloud, stop_cloud


def run(*args, **kwargs):
    return subprocess.run(MONOSTACK + list(args), capture_output=True, text=True, timeout=120, **kwargs)


def test_version_and_config_sample():
    assert run("version").stdout.strip() == "0.1.0"
    sample = run("config", "sample").stdout
    assert "[security_compliance]" in sample and "#lockout_failure_attempts = 2" in sample
    assert "#token_expiration = 3600" in sample


def test_restart_reuses_the_data_dir_and_rotation_keeps_tokens(tmp_path):
    data = tmp_path / "cloud"
    first = start_cloud(data)
    try:
        creds = yaml.safe_load(first.clouds_yaml.read_text())
        token = first.token()
        assert run("status", "--data-dir", str(data), "--bind", first.url.split("//")[1]).returncode == 0
    finally:
        assert stop_cloud(first) == 0
    # The CLI rotates beside the stopped cloud; the old key stays a secondary.
    rotated = run("identity", "rotate-keys", "--data-dir", str(data))
    assert rotated.returncode == 0 and "primary" in rotated.stdout
    started = time.monotonic()
    second = start_cloud(data)
    ready = time.monotonic() - started
    try:
        assert yaml.safe_load(second.clouds_yaml.read_text())["clouds"]["monostack-admin"]["auth"]["password"] == \
            creds["clouds"]["monostack-admin"]["auth"]["password"]
        # Same users, same passwords; the old token still validates.
        check = httpx.get(f"{second.auth_url}/v3/auth/tokens",
                          headers={"X-Auth-Token": second.token(), "X-Subject-Token": token})
        assert check.status_code == 200
        assert ready < 10, f"restart took {ready:.1f} s"
    finally:
        stop_cloud(second)
    assert run("status", "--data-dir", str(data), "--bind", second.url.split("//")[1]).returncode == 1


def test_db_upgrade_is_idempotent(tmp_path):
    for _ in range(2):
        result = run("db", "upgrade", "--data-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "monostack.db").exists()


def test_graceful_shutdown_leaves_no_process(tmp_path):
    cloud = start_cloud(tmp_path / "c")
    pid = cloud.process.pid
    assert stop_cloud(cloud) == 0
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


def test_status_lists_services(tmp_path):
    cloud = start_cloud(tmp_path / "c")
    try:
        out = run("status", "--data-dir", str(cloud.data_dir), "--bind", cloud.url.split("//")[1])
        assert "identity" in out.stdout and "up" in out.stdout
    finally:
        stop_cloud(cloud)


