"""Domain configuration: the four Tempest test_domain_configuration flows, and Keystone's errors."""

from __future__ import annotations

import copy
import uuid
from typing import Any, Iterator

import httpx
import pytest

from monostack.common import errors

CUSTOM = {"identity": {"driver": "ldap"},
          "ldap": {"url": "ldap://myldap.com:389/", "user_tree_dn": "ou=Users,dc=my_new_root,dc=org"}}


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


# -- service layer -------------------------------------------------------------------
@pytest.fixture
def domain(identity: Any) -> str:
    return identity.resources.create_domain({"name": _name()})["id"]


def test_create_get_replace(identity: Any, domain: str) -> None:
    dc = identity.extras.domain_config
    config, existed = dc.create(domain, {**CUSTOM, "ldap": {**CUSTOM["ldap"], "password": "s3cret"}})
    assert (config, existed) == (CUSTOM, False)  # the sensitive password is never shown
    assert dc.get(domain) == CUSTOM
    assert dc.get(domain, "ldap") == {"ldap": CUSTOM["ldap"]}
    assert dc.get(domain, "ldap", "url") == {"url": CUSTOM["ldap"]["url"]}
    with pytest.raises(errors.NotFound):
        dc.get(domain, "ldap", "password")
    assert dc.config_with_sensitive(domain)["ldap"]["password"] == "s3cret"
    config, existed = dc.create(domain, {"identity": {"driver": "sql"}})  # replaces everything
    assert (config, existed) == ({"identity": {"driver": "sql"}}, True)
    with pytest.raises(errors.NotFound):
        dc.get(domain, "ldap")


def test_sensitive_substitution(identity: Any, domain: str) -> None:
    dc = identity.extras.domain_config
    dc.create(domain, {"ldap": {"url": "ldap://u:%(password)s@h", "password": "pw"}})
    assert dc.config_with_sensitive(domain)["ldap"]["url"] == "ldap://u:pw@h"
    assert dc.get(domain, "ldap", "url") == {"url": "ldap://u:%(password)s@h"}


@pytest.mark.parametrize("config,error", [
    ({}, errors.Forbidden), ({"identity": {}}, errors.Forbidden), ({"identity": "sql"}, errors.Forbidden),
    ({"nova": {"x": 1}}, errors.Forbidden), ({"identity": {"bogus": 1}}, errors.Forbidden),
    ([1], errors.ValidationError), ("x", errors.ValidationError)])
def test_invalid_configs(identity: Any, domain: str, config: Any, error: type) -> None:
    with pytest.raises(error):
        identity.extras.domain_config.create(domain, config)


def test_update_group_and_option(identity: Any, domain: str) -> None:
    dc = identity.extras.domain_config
    dc.create(domain, copy.deepcopy(CUSTOM))
    updated = dc.update(domain, {"identity": {"driver": "d2", "list_limit": 7}}, "identity")
    assert updated["identity"] == {"driver": "d2", "list_limit": 7}
    assert dc.update(domain, {"driver": "d3"}, "identity", "driver")["identity"]["driver"] == "d3"
    with pytest.raises(errors.Forbidden):  # the body must name the group being updated, only it
        dc.update(domain, {"ldap": {"url": "x"}}, "identity")
    with pytest.raises(errors.Forbidden):
        dc.update(domain, {"identity": {"driver": "x"}, "ldap": {"url": "y"}}, "identity")
    with pytest.raises(errors.Forbidden):
        dc.update(domain, {"list_limit": 3}, "identity", "driver")
    with pytest.raises(errors.NotFound):  # updating a group or option that is not there
        dc.update(domain, {"user": "x"}, "ldap", "user")
    dc.delete(domain, "identity", "driver")
    with pytest.raises(errors.NotFound):
        dc.get(domain, "identity", "driver")
    with pytest.raises(errors.NotFound):
        dc.delete(domain, "identity", "driver")
    dc.delete(domain, "identity")
    with pytest.raises(errors.NotFound):
        dc.get(domain, "identity")
    dc.delete(domain)
    with pytest.raises(errors.NotFound):
        dc.get(domain)


def test_whole_update_merges(identity: Any, domain: str) -> None:
    dc = identity.extras.domain_config
    dc.create(domain, {"identity": {"driver": "ldap"}})
    assert dc.update(domain, {"ldap": {"url": "ldap://h"}}) == {"identity": {"driver": "ldap"},
                                                                "ldap": {"url": "ldap://h"}}


def test_unknown_domain_and_defaults(identity: Any) -> None:
    dc = identity.extras.domain_config
    with pytest.raises(errors.NotFound):
        dc.get("nope")
    with pytest.raises(errors.NotFound):
        dc.create("nope", CUSTOM)
    defaults = dc.defaults()
    assert defaults["identity"] == {"driver": "sql", "list_limit": None}
    assert defaults["ldap"]["url"] == "ldap://localhost" and "password" not in defaults["ldap"]
    assert dc.defaults("ldap", "user_tree_dn") == {"user_tree_dn": None}
    with pytest.raises(errors.Forbidden):
        dc.defaults("ldap", "password")
    with pytest.raises(errors.Forbidden):
        dc.defaults("nova")


def test_security_compliance_is_readable_for_default_domain_only(identity: Any, domain: str) -> None:
    dc = identity.extras.domain_config
    assert dc.get("default", "security_compliance") == {
        "security_compliance": {"password_regex": None, "password_regex_description": None}}
    assert dc.get("default", "security_compliance", "password_regex") == {"password_regex": None}
    with pytest.raises(errors.Forbidden):
        dc.get(domain, "security_compliance")
    with pytest.raises(errors.Forbidden):
        dc.get("default", "security_compliance", "lockout_duration")


def test_domain_delete_hook(identity: Any, domain: str) -> None:
    dc = identity.extras.domain_config
    dc.create(domain, CUSTOM)
    with identity.db.writer() as session:
        identity.extras.delete_for_domain(session, domain)
    with pytest.raises(errors.NotFound):
        dc.get(domain)


# -- over HTTP: Tempest's DomainConfigurationTestJSON ---------------------------------
@pytest.fixture
def http_domain(api: httpx.Client) -> Iterator[str]:
    domain = api.post("/domains", json={"domain": {"name": _name()}}).json()["domain"]
    yield domain["id"]
    api.delete(f"/domains/{domain['id']}/config")
    api.patch(f"/domains/{domain['id']}", json={"domain": {"enabled": False}})
    api.delete(f"/domains/{domain['id']}")


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["config"] if status != 204 else None


def test_tempest_show_default_group_config_and_options(api: httpx.Client) -> None:
    config = _ok(api.get("/domains/config/default"))
    assert "identity" in config and "ldap" in config
    identity_config = _ok(api.get("/domains/config/identity/default"))
    assert {"driver", "list_limit"} <= set(identity_config["identity"])
    for option in ("driver", "list_limit"):
        assert option in _ok(api.get(f"/domains/config/identity/{option}/default"))
    ldap_config = _ok(api.get("/domains/config/ldap/default"))
    for option in ldap_config["ldap"]:
        assert option in _ok(api.get(f"/domains/config/ldap/{option}/default"))


def test_tempest_create_and_show_config_groups_and_options(api: httpx.Client, http_domain: str) -> None:
    created = _ok(api.put(f"/domains/{http_domain}/config", json={"config": CUSTOM}), 201)
    assert created == CUSTOM
    assert _ok(api.put(f"/domains/{http_domain}/config", json={"config": CUSTOM}), 200) == CUSTOM
    for group, options in CUSTOM.items():
        assert _ok(api.get(f"/domains/{http_domain}/config/{group}"))[group] == options
        for option, value in options.items():
            assert _ok(api.get(f"/domains/{http_domain}/config/{group}/{option}"))[option] == value


def test_tempest_create_update_and_delete_domain_config(api: httpx.Client, http_domain: str) -> None:
    created = _ok(api.put(f"/domains/{http_domain}/config", json={"config": CUSTOM}), 201)
    new_config = copy.deepcopy(created)
    new_config["ldap"]["url"] = "https://example.com/" + _name()
    assert _ok(api.patch(f"/domains/{http_domain}/config", json={"config": new_config})) == new_config
    assert _ok(api.get(f"/domains/{http_domain}/config")) == new_config
    _ok(api.delete(f"/domains/{http_domain}/config"), 204)
    assert api.get(f"/domains/{http_domain}/config").status_code == 404


def test_tempest_create_update_and_delete_groups_and_opts(api: httpx.Client, http_domain: str) -> None:
    _ok(api.put(f"/domains/{http_domain}/config", json={"config": CUSTOM}), 201)
    group = {"identity": {"driver": "drv-1", "list_limit": 42}}
    updated = _ok(api.patch(f"/domains/{http_domain}/config/identity", json={"config": group}))
    assert updated["identity"] == {"driver": "drv-1", "list_limit": 42}
    updated = _ok(api.patch(f"/domains/{http_domain}/config/identity/driver", json={"config": {"driver": "drv-2"}}))
    assert updated["identity"]["driver"] == "drv-2"
    _ok(api.delete(f"/domains/{http_domain}/config/identity/driver"), 204)
    assert api.get(f"/domains/{http_domain}/config/identity/driver").status_code == 404
    _ok(api.delete(f"/domains/{http_domain}/config/identity"), 204)
    assert api.get(f"/domains/{http_domain}/config/identity").status_code == 404


def test_http_errors(api: httpx.Client, http_domain: str) -> None:
    assert api.put(f"/domains/{http_domain}/config", json={"config": {"nova": {"x": 1}}}).status_code == 403
    assert api.put(f"/domains/{http_domain}/config", json={"config": [1]}).status_code == 400
    assert api.put(f"/domains/{http_domain}/config", json={"nothing": 1}).status_code == 400
    assert api.put("/domains/nope/config", json={"config": CUSTOM}).status_code == 404
    assert api.get(f"/domains/{http_domain}/config").status_code == 404
    assert api.get(f"/domains/{http_domain}/config/nova").status_code == 403
    assert api.get("/domains/config/ldap/password/default").status_code == 403
    assert api.get("/domains/default/config/security_compliance").status_code == 200
    assert api.head(f"/domains/{http_domain}/config").status_code == 404
