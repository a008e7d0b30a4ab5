"""OS-FEDERATION CRUD: identity providers, protocols, mappings, service providers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from monostack.common import errors

RULES = [{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "REMOTE_USER"}]}]


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_identity_provider_crud(identity: Any) -> None:
    fed = identity.extras.federation
    idp1, idp2, remote = _name(), _name(), f"https://idp.example/{_name()}"
    idp = fed.create_idp(idp1, {"remote_ids": [remote], "description": "d"})
    assert idp["enabled"] is False  # Keystone's default
    identity.resources.get_domain(idp["domain_id"])  # a domain was made for it
    with pytest.raises(errors.Conflict):
        fed.create_idp(idp1, {})
    with pytest.raises(errors.Conflict):  # remote ids are unique across providers
        fed.create_idp(idp2, {"remote_ids": [remote]})
    domain = identity.resources.create_domain({"name": _name()})
    other = fed.create_idp(idp2, {"domain_id": domain["id"], "enabled": True, "authorization_ttl": 60})
    assert other["domain_id"] == domain["id"]
    enabled = [i["id"] for i in fed.list_idps({"enabled": "true"})]
    assert idp2 in enabled and idp1 not in enabled
    updated = fed.update_idp(idp1, {"enabled": True, "remote_ids": [remote + "/b"]})
    assert updated["remote_ids"] == [remote + "/b"]
    for bad in ({}, {"domain_id": "x"}, {"enabled": "yes"}, {"remote_ids": ["a", "a"]},
                {"authorization_ttl": -1}):
        with pytest.raises(errors.ValidationError):
            fed.update_idp(idp1, bad)
    with pytest.raises(errors.NotFound):
        fed.create_idp(_name(), {"domain_id": "nope"})
    fed.delete_idp(idp1)
    with pytest.raises(errors.NotFound):
        fed.get_idp(idp1)
    with identity.db.writer() as session:  # deleting the domain takes its providers along
        identity.extras.delete_for_domain(session, domain["id"])
    with pytest.raises(errors.NotFound):
        fed.get_idp(idp2)


def test_protocols_and_mappings(identity: Any) -> None:
    fed = identity.extras.federation
    idp, m1, m2 = _name(), _name(), _name()
    fed.create_idp(idp, {})
    mapping = fed.create_mapping(m1, {"rules": RULES})
    assert mapping == {"id": m1, "rules": RULES, "schema_version": "1.0"}
    with pytest.raises(errors.Conflict):
        fed.create_mapping(m1, {"rules": RULES})
    for bad in ({}, {"rules": []}, {"rules": [{"local": []}]}, {"rules": RULES, "schema_version": "9.9"},
                {"rules": [{"local": [], "remote": [{"type": 1}]}]}, {"rules": RULES, "extra": 1}):
        with pytest.raises(errors.ValidationError):
            fed.create_mapping(m2, bad)
    protocol = fed.create_protocol(idp, "saml2", {"mapping_id": m1})
    assert protocol == {"id": "saml2", "idp_id": idp, "mapping_id": m1, "remote_id_attribute": None}
    with pytest.raises(errors.ValidationError):
        fed.create_protocol(idp, "oidc", {"mapping_id": "nope"})
    with pytest.raises(errors.NotFound):
        fed.create_protocol("nope", "oidc", {"mapping_id": m1})
    with pytest.raises(errors.Conflict):
        fed.create_protocol(idp, "saml2", {"mapping_id": m1})
    fed.create_mapping(m2, {"rules": RULES, "schema_version": "2.0"})
    updated = fed.update_protocol(idp, "saml2", {"mapping_id": m2, "remote_id_attribute": "attr"})
    assert (updated["mapping_id"], updated["remote_id_attribute"]) == (m2, "attr")
    with pytest.raises(errors.ValidationError):
        fed.update_protocol(idp, "saml2", {"remote_id_attribute": "x"})  # mapping_id is required
    assert [p["id"] for p in fed.list_protocols(idp)] == ["saml2"]
    assert fed.update_mapping(m1, {"rules": RULES + RULES})["rules"] == RULES + RULES
    fed.delete_protocol(idp, "saml2")
    with pytest.raises(errors.NotFound):
        fed.get_protocol(idp, "saml2")
    fed.delete_mapping(m1)
    mappings = [m["id"] for m in fed.list_mappings()]
    assert m2 in mappings and m1 not in mappings


def test_service_providers(identity: Any) -> None:
    fed = identity.extras.federation
    sp_id = _name()
    sp = fed.create_sp(sp_id, {"auth_url": "https://sp/v3/auth", "sp_url": "https://sp/Shibboleth.sso/SAML2/ECP"})
    assert (sp["enabled"], sp["relay_state_prefix"]) == (False, "ss:mem:")
    with pytest.raises(errors.Conflict):
        fed.create_sp(sp_id, {"auth_url": "https://a", "sp_url": "https://b"})
    for bad in ({"auth_url": "https://a"}, {"auth_url": "nourl", "sp_url": "https://b"},
                {"auth_url": "https://a", "sp_url": "https://b", "x": 1}):
        with pytest.raises(errors.ValidationError):
            fed.create_sp(_name(), bad)
    assert fed.update_sp(sp_id, {"enabled": True})["enabled"] is True
    assert {"id": sp_id, "auth_url": sp["auth_url"], "sp_url": sp["sp_url"]} in fed.enabled_service_providers()
    fed.delete_sp(sp_id)
    with pytest.raises(errors.NotFound):
        fed.get_sp(sp_id)


def test_http_federation(api: httpx.Client) -> None:
    idp_id, mapping_id, sp_id = _name(), _name(), _name()
    base = f"/OS-FEDERATION/identity_providers/{idp_id}"
    response = api.put(base, json={"identity_provider": {"enabled": True, "remote_ids": [_name()]}})
    assert response.status_code == 201, response.text
    idp = response.json()["identity_provider"]
    assert idp["links"]["protocols"].endswith(f"{base}/protocols")
    assert api.get(base).json()["identity_provider"] == idp
    assert idp_id in [i["id"] for i in api.get("/OS-FEDERATION/identity_providers").json()["identity_providers"]]
    assert api.put(f"/OS-FEDERATION/mappings/{mapping_id}", json={"mapping": {"rules": RULES}}).status_code == 201
    response = api.put(f"{base}/protocols/saml2", json={"protocol": {"mapping_id": mapping_id}})
    assert response.status_code == 201, response.text
    protocol = response.json()["protocol"]
    assert protocol["links"]["identity_provider"].endswith(base) and "idp_id" not in protocol
    assert api.get(f"{base}/protocols").json()["protocols"][0]["idp_id"] == idp_id
    assert api.patch(f"{base}/protocols/saml2", json={"protocol": {"mapping_id": "nope"}}).status_code == 400
    assert api.put(f"/OS-FEDERATION/mappings/{_name()}", json={"mapping": {"rules": "x"}}).status_code == 400
    response = api.put(f"/OS-FEDERATION/service_providers/{sp_id}", json={"service_provider": {
        "auth_url": "https://sp.example/v3", "sp_url": "https://sp.example/ecp"}})
    assert response.status_code == 201, response.text
    assert api.patch(f"/OS-FEDERATION/service_providers/{sp_id}",
                     json={"service_provider": {}}).status_code == 400
    assert api.delete(f"/OS-FEDERATION/service_providers/{sp_id}").status_code == 204
    assert api.delete(f"{base}/protocols/saml2").status_code == 204
    assert api.delete(f"/OS-FEDERATION/mappings/{mapping_id}").status_code == 204
    assert api.delete(base).status_code == 204
    assert api.get(base).status_code == 404
    domain_id = idp["domain_id"]
    api.patch(f"/domains/{domain_id}", json={"domain": {"enabled": False}})
    assert api.delete(f"/domains/{domain_id}").status_code == 204
