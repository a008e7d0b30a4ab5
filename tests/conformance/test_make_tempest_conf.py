"""Tests of conformance/make_tempest_conf.py (and, when Tempest is installed,
of the generated file as Tempest reads it and of conformance/run.sh)."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = REPO / "conformance"
TEMPEST_PY = REPO / ".venv-tempest" / "bin" / "python"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


mtc = _load("make_tempest_conf", CONFORMANCE / "make_tempest_conf.py")
fake = _load("fake_monostack", Path(__file__).with_name("fake_monostack.py"))


def _auth(port: int = 5999, **extra):
    auth = {
        "auth_url": f"http://127.0.0.1:{port}/identity",
        "username": "admin",
        "password": "pa$$word",
        "project_name": "admin",
        "user_domain_id": "default",
        "project_domain_id": "default",
    }
    auth.update(extra)
    return auth


def _cloud(auth, **extra):
    cloud = {"auth": auth, "region_name": "RegionOne", "identity_api_version": 3,
             "interface": "public"}
    cloud.update(extra)
    return cloud


@pytest.fixture
def clouds_yaml(tmp_path):
    auth = _auth()
    data = {"clouds": {
        "monostack-admin": _cloud(auth),
        "monostack": _cloud(dict(auth, username="demo", project_name="demo")),
        "monostack-system-admin": _cloud({k: v for k, v in auth.items()
                                          if k not in ("project_name", "project_domain_id")}
                                         | {"system_scope": "all"}),
        "devstack-admin": _cloud(auth),
    }}
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _token(catalog_types, region="RegionOne", domain_name="Default"):
    dom = {"id": "default", "name": domain_name}
    return {
        "user": {"id": "u1", "name": "admin", "domain": dom},
        "project": {"id": "p1", "name": "admin", "domain": dom},
        "catalog": [
            {"type": t, "name": t, "endpoints": [
                {"interface": "public", "region": region, "region_id": region,
                 "url": f"http://127.0.0.1:5999/{t}"},
                {"interface": "internal", "region": region, "region_id": region,
                 "url": f"http://127.0.0.1:5999/{t}"}]}
            for t in catalog_types
        ],
    }


def _read_conf(path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


# ---------------------------------------------------------------- units
def test_identity_v3_url():
    assert mtc.identity_v3_url("http://h:1/identity") == "http://h:1/identity/v3"
    assert mtc.identity_v3_url("http://h:1/identity/") == "http://h:1/identity/v3"
    assert mtc.identity_v3_url("http://h:1/identity/v3") == "http://h:1/identity/v3"


def test_load_cloud_default_and_fallback(clouds_yaml, tmp_path):
    assert mtc.load_cloud(str(clouds_yaml))["_name"] == "monostack-admin"
    assert mtc.load_cloud(str(clouds_yaml), "monostack")["auth"]["username"] == "demo"
    only_devstack = tmp_path / "c2.yaml"
    only_devstack.write_text(yaml.safe_dump({"clouds": {"devstack-admin": _cloud(_auth())}}))
    assert mtc.load_cloud(str(only_devstack))["_name"] == "devstack-admin"
    with pytest.raises(mtc.ConfError):
        mtc.load_cloud(str(clouds_yaml), "nope")


def test_password_auth_body_project_and_system_scope():
    body = mtc.password_auth_body(_auth())
    ident = body["auth"]["identity"]
    assert ident["methods"] == ["password"]
    assert ident["password"]["user"] == {"name": "admin", "password": "pa$$word",
                                         "domain": {"id": "default"}}
    assert body["auth"]["scope"] == {"project": {"name": "admin", "domain": {"id": "default"}}}
    sys_auth = {k: v for k, v in _auth().items() if not k.startswith("project")}
    sys_auth["system_scope"] = "all"
    assert mtc.password_auth_body(sys_auth)["auth"]["scope"] == {"system": {"all": True}}


def test_catalog_service_types_filters_region_and_interface():
    catalog = _token(["identity", "compute"])["catalog"] + [
        {"type": "image", "endpoints": [{"interface": "public", "region_id": "Other",
                                         "url": "x"}]},
        {"type": "network", "endpoints": [{"interface": "admin", "region_id": "RegionOne",
                                           "url": "x"}]},
    ]
    assert mtc.catalog_service_types(catalog, "RegionOne") == {"identity", "compute"}
    assert mtc.catalog_service_types(catalog, None) == {"identity", "compute", "image"}


def test_service_available_mapping():
    avail = mtc.service_available({"identity", "compute", "volumev3", "object-store"})
    assert avail == {"nova": True, "glance": False, "neutron": False, "cinder": True,
                     "swift": True, "horizon": False}


# ------------------------------------------------- main() with mocked catalog
def test_main_identity_only_catalog(monkeypatch, clouds_yaml, tmp_path):
    calls = []

    def fake_fetch(cloud, timeout=30.0):
        calls.append(cloud["_name"])
        return _token(["identity"])

    monkeypatch.setattr(mtc, "fetch_token", fake_fetch)
    out = tmp_path / "ws" / "etc" / "tempest.conf"
    rc = mtc.main(["--clouds-yaml", str(clouds_yaml), "--workspace", str(tmp_path / "ws"),
                   "--output", str(out)])
    assert rc == 0 and calls == ["monostack-admin"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert (tmp_path / "ws" / "logs").is_dir()
    conf = _read_conf(out)

    assert conf["auth"]["use_dynamic_credentials"] == "True"
    assert conf["auth"]["admin_username"] == "admin"
    # oslo.config substitutes $name: a literal $ must be doubled.
    assert conf["auth"]["admin_password"] == "pa$$$$word"
    assert conf["auth"]["admin_project_name"] == "admin"
    assert conf["auth"]["admin_domain_name"] == "Default"
    assert conf["auth"]["admin_user_domain_name"] == "Default"
    assert conf["auth"]["admin_project_domain_name"] == "Default"

    ident = conf["identity"]
    assert ident["uri_v3"] == "http://127.0.0.1:5999/identity/v3"
    assert ident["auth_version"] == "v3"
    assert ident["region"] == "RegionOne"
    assert ident["default_domain_id"] == "default"
    assert ident["user_lockout_failure_attempts"] == "2"
    assert ident["user_lockout_duration"] == "10"
    assert ident["user_unique_last_password_count"] == "2"
    assert ident["user_minimum_password_age"] == "0"

    feat = conf["identity-feature-enabled"]
    for flag in ("security_compliance", "trust", "access_rules", "project_tags",
                 "application_credentials", "api_v3"):
        assert feat[flag] == "True", flag
    for flag in ("api_v2", "domain_specific_drivers", "immutable_user_source"):
        assert feat[flag] == "False", flag
    assert feat["api_extensions"] == "all"

    flags = ("nova", "glance", "neutron", "cinder", "swift", "horizon")
    assert {k: conf["service_available"][k] for k in flags} == {
        "nova": "False", "glance": "False", "neutron": "False", "cinder": "False",
        "swift": "False", "horizon": "False"}
    assert conf["DEFAULT"]["log_dir"] == str(tmp_path / "ws" / "logs")
    assert conf["oslo_concurrency"]["lock_path"] == str(tmp_path / "ws" / "tempest_lock")


def test_main_services_follow_catalog(monkeypatch, clouds_yaml, tmp_path):
    monkeypatch.setattr(mtc, "fetch_token", lambda cloud, timeout=30.0: _token(
        ["identity", "compute", "image", "network", "volumev3", "placement"]))
    monkeypatch.setattr(mtc, "discover_compute", lambda cloud, token, **kw: {})  # see the compute tests
    out = tmp_path / "tempest.conf"
    assert mtc.main(["--clouds-yaml", str(clouds_yaml), "-o", str(out)]) == 0
    conf = _read_conf(out)
    avail = conf["service_available"]
    assert (avail["nova"], avail["glance"], avail["neutron"], avail["cinder"]) == \
        ("True", "True", "True", "True")
    assert avail["swift"] == "False"
    assert conf["volume"]["catalog_type"] == "volumev3"
    # Compute with Networking: NICs hot-plug, the metadata service, DevStack's private network.
    assert conf["compute-feature-enabled"]["interface_attach"] == "True"
    assert conf["compute-feature-enabled"]["metadata_service"] == "True"
    assert conf["compute"]["fixed_network_name"] == "private"
    assert conf["validation"]["run_validation"] == "False"  # no external network found


def test_compute_network_sections_validate_through_floating_ips():
    sections = mtc.compute_network_sections({"public_network_id": "ext-id", "floating_network_name": "public"})
    validation = sections["validation"]
    assert validation["run_validation"] == "True"
    assert (validation["connect_method"], validation["auth_method"], validation["image_ssh_user"]) == \
        ("floating", "keypair", "root")
    assert "validation" not in mtc.compute_network_sections({})


def test_main_domain_name_comes_from_token(monkeypatch, clouds_yaml, tmp_path):
    monkeypatch.setattr(mtc, "fetch_token",
                        lambda cloud, timeout=30.0: _token(["identity"], domain_name="DefaultX"))
    out = tmp_path / "tempest.conf"
    assert mtc.main(["--clouds-yaml", str(clouds_yaml), "-o", str(out)]) == 0
    assert _read_conf(out)["auth"]["admin_domain_name"] == "DefaultX"


def test_main_overrides_and_flags(monkeypatch, clouds_yaml, tmp_path):
    monkeypatch.setattr(mtc, "fetch_token", lambda cloud, timeout=30.0: _token(["identity"]))
    extra = tmp_path / "extra.conf"
    extra.write_text("[compute]\nflavor_ref = 42\n[identity]\nregion = RegionTwo\n")
    out = tmp_path / "tempest.conf"
    rc = mtc.main(["--clouds-yaml", str(clouds_yaml), "-o", str(out),
                   "--no-security-compliance", "--lockout-duration", "5",
                   "--extra-conf", str(extra),
                   "--set", "identity-feature-enabled.trust=False",
                   "--set", "identity.region=RegionThree"])
    assert rc == 0
    conf = _read_conf(out)
    assert conf["identity-feature-enabled"]["security_compliance"] == "False"
    assert conf["identity-feature-enabled"]["trust"] == "False"
    assert conf["identity"]["user_lockout_duration"] == "5"
    assert conf["compute"]["flavor_ref"] == "42"
    assert conf["identity"]["region"] == "RegionThree"   # --set wins over --extra-conf


def test_main_offline_does_not_query(monkeypatch, clouds_yaml, tmp_path):
    def boom(*a, **k):
        raise AssertionError("offline must not contact the cloud")

    monkeypatch.setattr(mtc, "fetch_token", boom)
    out = tmp_path / "tempest.conf"
    assert mtc.main(["--clouds-yaml", str(clouds_yaml), "-o", str(out), "--offline",
                     "--services", "identity,compute"]) == 0
    conf = _read_conf(out)
    assert conf["service_available"]["nova"] == "True"
    assert conf["service_available"]["glance"] == "False"


def test_main_reports_unreachable_cloud(tmp_path, capsys):
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"monostack-admin": _cloud(_auth(port))}}))
    rc = mtc.main(["--clouds-yaml", str(path), "-o", str(tmp_path / "t.conf"),
                   "--timeout", "3"])
    assert rc == 1
    assert "auth/tokens" in capsys.readouterr().err


# ------------------------------------------------------------- compute
def _compute_http(versions, images_after_polls=0):
    """A stand-in for _get_json: the Compute version document and the Image
    service's guest images (missing for the first `images_after_polls` polls)."""
    calls = {"images": 0}

    def get_json(cloud, url, token_id, timeout):
        assert token_id == "tok"
        if url.endswith("/compute"):
            return {"version": {"id": "v2.1", "min_version": versions[0], "version": versions[1]}}
        assert "/image/v2/images?name=" in url and "status=active" in url
        calls["images"] += 1
        if calls["images"] <= images_after_polls * 2:
            return {"images": []}
        name = url.split("name=")[1].split("&")[0]
        return {"images": [{"id": f"id-of-{name}", "name": name}]}
    return get_json, calls


def test_main_compute_sections(monkeypatch, clouds_yaml, tmp_path):
    token = _token(["identity", "compute", "image", "placement"])
    token["_subject_token"] = "tok"
    monkeypatch.setattr(mtc, "fetch_token", lambda cloud, timeout=30.0: token)
    get_json, calls = _compute_http(("2.1", "2.90"), images_after_polls=2)
    monkeypatch.setattr(mtc, "_get_json", get_json)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    out = tmp_path / "tempest.conf"
    assert mtc.main(["--clouds-yaml", str(clouds_yaml), "-o", str(out)]) == 0
    conf = _read_conf(out)
    compute = conf["compute"]
    assert (compute["image_ref"], compute["image_ref_alt"]) == ("id-of-monostack-guest", "id-of-monostack-guest-alt")
    assert (compute["flavor_ref"], compute["flavor_ref_alt"]) == ("42", "84")
    assert (compute["min_microversion"], compute["max_microversion"]) == ("2.1", "2.90")
    assert "fixed_network_name" not in compute
    assert calls["images"] == 6  # waited two rounds for the background registration
    features = conf["compute-feature-enabled"]
    for flag in ("console_output", "resize", "pause", "suspend", "shelve", "rescue", "snapshot", "config_drive",
                 "personality"):
        assert features[flag] == "True", flag
    for flag in ("serial_console", "live_migration", "cold_migration", "interface_attach",
                 "attach_encrypted_volume", "change_password", "metadata_service",
                 "vnc_console", "spice_console"):
        assert features[flag] == "False", flag
    assert "ServerGroupAntiAffinityFilter" in features["scheduler_enabled_filters"]
    assert conf["validation"]["run_validation"] == "False"
    avail = conf["service_available"]
    assert (avail["nova"], avail["glance"], avail["neutron"], avail["cinder"]) == ("True", "True", "False", "False")


def test_main_compute_images_missing_is_an_error(monkeypatch, clouds_yaml, tmp_path, capsys):
    token = _token(["identity", "compute", "image"])
    token["_subject_token"] = "tok"
    monkeypatch.setattr(mtc, "fetch_token", lambda cloud, timeout=30.0: token)
    get_json, _ = _compute_http(("2.1", "2.96"), images_after_polls=10 ** 6)
    monkeypatch.setattr(mtc, "_get_json", get_json)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    rc = mtc.main(["--clouds-yaml", str(clouds_yaml), "-o", str(tmp_path / "t.conf"), "--image-wait", "0"])
    assert rc == 1
    assert "monostack-guest" in capsys.readouterr().err


def test_offline_compute_has_defaults_and_no_image_refs(clouds_yaml, tmp_path):
    out = tmp_path / "tempest.conf"
    assert mtc.main(["--clouds-yaml", str(clouds_yaml), "-o", str(out), "--offline",
                     "--services", "identity,compute,image"]) == 0
    compute = _read_conf(out)["compute"]
    assert (compute["min_microversion"], compute["max_microversion"]) == mtc.DEFAULT_COMPUTE_MICROVERSIONS
    assert "image_ref" not in compute and compute["flavor_ref"] == "42"


def test_compute_interop_list_is_the_interop_compute_lines():
    interop = REPO.parent / "shared" / "conformance" / "tempest-interop.txt"
    if not interop.exists():
        pytest.skip("no shared/conformance/tempest-interop.txt beside the repo")
    wanted = [line for line in interop.read_text().splitlines() if line.startswith("^tempest\\.api\\.compute")]
    ours = [line for line in (CONFORMANCE / "compute-interop.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert ours == wanted and len(ours) == 95


# ------------------------------------------- real HTTP against a fake Keystone
@pytest.fixture
def fake_keystone():
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.make_handler("http://placeholder"))
    port = server.server_address[1]
    server.RequestHandlerClass = fake.make_handler(f"http://127.0.0.1:{port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port
    server.shutdown()
    server.server_close()


def test_fetch_token_over_http(fake_keystone):
    cloud = _cloud(_auth(fake_keystone, password="secret"))
    token = mtc.fetch_token(cloud, timeout=5)
    assert token["project"]["domain"]["name"] == "Default"
    assert mtc.catalog_service_types(token["catalog"], "RegionOne") == {"identity"}
    with pytest.raises(mtc.ConfError, match="HTTP 401"):
        mtc.fetch_token(_cloud(_auth(fake_keystone, password="wrong")), timeout=5)


# ------------------------------------ with Tempest installed (.venv-tempest)
needs_tempest = pytest.mark.skipif(not TEMPEST_PY.exists(),
                                   reason="Tempest venv not installed (conformance/run.sh installs it)")


@needs_tempest
def test_tempest_reads_conf_and_runs_all_identity_tests(clouds_yaml, tmp_path):
    """With DevStack's identity flags no tempest.api.identity test is skipped."""
    ws = tmp_path / "ws"
    out = ws / "etc" / "tempest.conf"
    assert mtc.main(["--clouds-yaml", str(clouds_yaml), "--offline", "--workspace", str(ws),
                     "-o", str(out)]) == 0
    proc = subprocess.run(
        [str(TEMPEST_PY), str(CONFORMANCE / "count_tests.py"), "--config-file", str(out),
         "--include-list", str(CONFORMANCE / "identity-all.txt"), "--json"],
        capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(proc.stdout)
    assert report["total"] == 138
    assert report["runnable"] == 138, report["skip_reasons"]
    assert not report["load_errors"]


@needs_tempest
def test_tempest_loads_the_compute_interop_tests(clouds_yaml, tmp_path):
    """All 95 interop compute tests load; with Neutron absent those needing a network skip."""
    ws = tmp_path / "ws"
    out = ws / "etc" / "tempest.conf"
    assert mtc.main(["--clouds-yaml", str(clouds_yaml), "--offline", "--services", "identity,compute,image",
                     "--workspace", str(ws), "-o", str(out)]) == 0
    proc = subprocess.run(
        [str(TEMPEST_PY), str(CONFORMANCE / "count_tests.py"), "--config-file", str(out),
         "--include-list", str(CONFORMANCE / "compute-interop.txt"), "--json"],
        capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(proc.stdout)
    assert report["total"] == 95 and not report["load_errors"]
    assert report["runnable"] >= 25, report["skip_reasons"]


@needs_tempest
@pytest.mark.slow
def test_run_sh_against_fake_cloud(tmp_path):
    """run.sh starts the cloud, writes tempest.conf, runs, summarises, stops."""
    env = dict(os.environ, MONOSTACK=str(Path(fake.__file__)), CONCURRENCY="2")
    ws = tmp_path / "run"
    proc = subprocess.run(
        ["bash", str(CONFORMANCE / "run.sh"), "--workspace", str(ws),
         "--regex", r"^tempest\.api\.identity\.v3\.test_api_discovery\."],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode != 0  # the fake cloud cannot create users
    assert "conformance: 0 passed, 5 failed, 0 skipped" in proc.stdout
    conf = _read_conf(ws / "tempest" / "etc" / "tempest.conf")
    assert conf["identity"]["uri_v3"].endswith("/identity/v3")
    assert (ws / "results.subunit").stat().st_size > 0
    assert "stopping the cloud" in proc.stderr
