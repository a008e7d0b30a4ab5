"""OS-FEDERATION objects: identity providers, their protocols, mappings and
service providers.  CRUD only: no SAML/OIDC authentication or assertions.

Identity providers, mappings and service providers are created with PUT
at a caller-chosen id.  An identity provider without a domain gets a new
domain of its own (as Keystone); its remote ids are unique across providers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity.service import checks, new_id
from monostack.identity.service.util import apply_filters

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

IDP_FIELDS = ("enabled", "description", "authorization_ttl", "remote_ids")
SP_FIELDS = ("auth_url", "sp_url", "description", "enabled", "relay_state_prefix")
SCHEMA_VERSIONS = ("1.0", "2.0", "3.0")
DEFAULT_SCHEMA_VERSION = "1.0"
RELAY_STATE_PREFIX = "ss:mem:"  # Keystone's [saml] relay_state_prefix default
_URL = re.compile(r"^[a-zA-Z0-9+.-]+:.+")
_REMOTE_MATCHERS = ("any_one_of", "not_any_of", "blacklist", "whitelist")


def idp_dict(row: models.IdentityProvider) -> dict[str, Any]:
    return {"id": row.id, "enabled": row.enabled, "description": row.description, "domain_id": row.domain_id,
            "authorization_ttl": row.authorization_ttl, "remote_ids": list(row.remote_ids or [])}


def protocol_dict(row: models.FederationProtocol) -> dict[str, Any]:
    return {"id": row.id, "idp_id": row.idp_id, "mapping_id": row.mapping_id,
            "remote_id_attribute": row.remote_id_attribute}


def mapping_dict(row: models.Mapping) -> dict[str, Any]:
    return {"id": row.id, "rules": row.rules, "schema_version": row.schema_version}


def sp_dict(row: models.ServiceProvider) -> dict[str, Any]:
    return {"id": row.id, "enabled": row.enabled, "description": row.description, "auth_url": row.auth_url,
            "sp_url": row.sp_url, "relay_state_prefix": row.relay_state_prefix}


def _path_id(value: str, what: str) -> str:
    if not value or len(value) > 64:
        raise checks.invalid(what, f"{value!r} must be 1 to 64 characters")
    return value


def _check_idp(ref: dict[str, Any]) -> None:
    checks.boolean(ref, "enabled")
    checks.string(ref, "description", nullable=True)
    if ref.get("authorization_ttl") is not None:
        checks.integer(ref, "authorization_ttl", minimum=0)
    remote_ids = ref.get("remote_ids")
    if remote_ids is not None:
        if not isinstance(remote_ids, list) or not all(isinstance(r, str) and len(r) <= 64 for r in remote_ids):
            raise checks.invalid("remote_ids", "must be a list of strings of at most 64 characters")
        if len(set(remote_ids)) != len(remote_ids):
            raise checks.invalid("remote_ids", "has non-unique elements")


def _check_url(ref: dict[str, Any], field: str, *, required: bool) -> None:
    value = checks.string(ref, field, required=required, max_length=225)
    if value is not None and not _URL.match(value):
        raise checks.invalid(field, f"{value!r} is not a valid URL")


def check_mapping(ref: dict[str, Any]) -> str:
    """Keystone's attribute mapping schema, structurally; the schema version used."""
    version = ref.get("schema_version") or DEFAULT_SCHEMA_VERSION
    if version not in SCHEMA_VERSIONS:
        raise checks.invalid("schema_version", f"{version!r} is not one of {list(SCHEMA_VERSIONS)}")
    checks.only(ref, ("rules", "schema_version"), "mapping")
    rules = ref.get("rules")
    if not isinstance(rules, list) or not rules:
        raise checks.invalid("rules", "'rules' is a required property and must be a non-empty array")
    for rule in rules:
        if not isinstance(rule, dict) or set(rule) != {"local", "remote"}:
            raise checks.invalid("rules", "each rule needs exactly 'local' and 'remote'")
        if not isinstance(rule["local"], list) or not all(isinstance(x, dict) for x in rule["local"]):
            raise checks.invalid("rules.local", "must be an array of objects")
        remote = rule["remote"]
        if not isinstance(remote, list) or not remote:
            raise checks.invalid("rules.remote", "must be a non-empty array")
        for item in remote:
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                raise checks.invalid("rules.remote", "each entry needs a string 'type'")
            if len([k for k in _REMOTE_MATCHERS if k in item]) > 1:
                raise checks.invalid("rules.remote", "an entry may use only one of " + ", ".join(_REMOTE_MATCHERS))
    return version


class FederationManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    # -- identity providers --------------------------------------------------------
    @staticmethod
    def _idp(session: orm.Session, idp_id: str) -> models.IdentityProvider:
        row = session.get(models.IdentityProvider, idp_id)
        if row is None:
            raise errors.NotFound(f"Could not find Identity Provider: {idp_id}.")
        return row

    @staticmethod
    def _remote_ids_free(session: orm.Session, remote_ids: list[str], idp_id: str) -> None:
        wanted = set(remote_ids)
        for other in session.scalars(sa.select(models.IdentityProvider).where(models.IdentityProvider.id != idp_id)):
            clash = wanted & set(other.remote_ids or [])
            if clash:
                raise errors.Conflict(f"Conflict occurred attempting to store identity_provider - Duplicate remote "
                                      f"ID: {sorted(clash)[0]}.")

    def create_idp(self, idp_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        _path_id(idp_id, "idp_id")
        checks.only(ref, IDP_FIELDS + ("domain_id",), "identity_provider")
        _check_idp(ref)
        domain_id = checks.string(ref, "domain_id", nullable=True, max_length=64)
        with self.svc.db.reader() as session:
            if session.get(models.IdentityProvider, idp_id) is not None:
                raise errors.Conflict(f"Conflict occurred attempting to store identity_provider - Duplicate entry: "
                                      f"{idp_id}.")
            self._remote_ids_free(session, ref.get("remote_ids") or [], idp_id)
            if domain_id:
                self.svc.resources.get_domain_row(session, domain_id)
        auto_domain = None
        if not domain_id:
            auto_domain = new_id()
            self.svc.resources.create_domain({
                "id": auto_domain, "name": auto_domain, "enabled": True,
                "description": f"Auto generated federated domain for Identity Provider: {idp_id}"})
            domain_id = auto_domain
        try:
            with self.svc.db.writer() as session:
                self._remote_ids_free(session, ref.get("remote_ids") or [], idp_id)
                row = models.IdentityProvider(
                    id=idp_id, enabled=ref.get("enabled", False), description=ref.get("description"),
                    domain_id=domain_id, authorization_ttl=ref.get("authorization_ttl"),
                    remote_ids=list(ref.get("remote_ids") or []))
                session.add(row)
                session.flush()
                result = idp_dict(row)
        except Exception:
            if auto_domain:  # do not leave the domain made for it behind
                self.svc.resources.update_domain(auto_domain, {"enabled": False})
                self.svc.resources.delete_domain(auto_domain)
            raise
        self.svc.changed("OS-FEDERATION:identity_provider", "created", idp_id)
        return result

    def get_idp(self, idp_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return idp_dict(self._idp(session, idp_id))

    def list_idps(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.IdentityProvider).order_by(models.IdentityProvider.id))
            result = [idp_dict(r) for r in rows]
        return apply_filters(result, filters, ("id", "enabled"))

    def update_idp(self, idp_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        checks.only(ref, IDP_FIELDS, "identity_provider")
        checks.not_empty(ref, "identity_provider")
        _check_idp(ref)
        with self.svc.db.writer() as session:
            row = self._idp(session, idp_id)
            if "remote_ids" in ref:
                self._remote_ids_free(session, ref["remote_ids"] or [], idp_id)
                row.remote_ids = list(ref["remote_ids"] or [])
            for field in ("enabled", "description", "authorization_ttl"):
                if field in ref:
                    setattr(row, field, ref[field])
            session.flush()
            result = idp_dict(row)
        self.svc.changed("OS-FEDERATION:identity_provider", "updated", idp_id)
        return result

    def delete_idp(self, idp_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self._idp(session, idp_id)
            session.execute(sa.delete(models.FederationProtocol).where(models.FederationProtocol.idp_id == idp_id))
            session.delete(row)
        self.svc.changed("OS-FEDERATION:identity_provider", "deleted", idp_id)

    # -- protocols -------------------------------------------------------------------
    @staticmethod
    def _protocol(session: orm.Session, idp_id: str, protocol_id: str) -> models.FederationProtocol:
        row = session.get(models.FederationProtocol, (protocol_id, idp_id))
        if row is None:
            raise errors.NotFound(f"Could not find federated protocol {protocol_id} for Identity Provider: "
                                  f"{idp_id}.")
        return row

    @staticmethod
    def _mapping_exists(session: orm.Session, mapping_id: str) -> None:
        if session.get(models.Mapping, mapping_id) is None:
            raise errors.ValidationError(f"Invalid mapping id: {mapping_id}")

    def create_protocol(self, idp_id: str, protocol_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        _path_id(protocol_id, "protocol_id")
        checks.only(ref, ("mapping_id", "remote_id_attribute"), "protocol")
        mapping_id = checks.string(ref, "mapping_id", required=True, min_length=1, max_length=64)
        remote_attr = checks.string(ref, "remote_id_attribute", nullable=True, max_length=64)
        with self.svc.db.writer() as session:
            self._mapping_exists(session, mapping_id or "")
            self._idp(session, idp_id)
            if session.get(models.FederationProtocol, (protocol_id, idp_id)) is not None:
                raise errors.Conflict(f"Conflict occurred attempting to store federation_protocol - Duplicate "
                                      f"entry: {protocol_id}.")
            row = models.FederationProtocol(id=protocol_id, idp_id=idp_id, mapping_id=mapping_id,
                                            remote_id_attribute=remote_attr)
            session.add(row)
            session.flush()
            result = protocol_dict(row)
        self.svc.changed("OS-FEDERATION:protocol", "created", protocol_id)
        return result

    def get_protocol(self, idp_id: str, protocol_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return protocol_dict(self._protocol(session, idp_id, protocol_id))

    def list_protocols(self, idp_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            self._idp(session, idp_id)
            rows = session.scalars(sa.select(models.FederationProtocol).where(
                models.FederationProtocol.idp_id == idp_id).order_by(models.FederationProtocol.id))
            return [protocol_dict(r) for r in rows]

    def update_protocol(self, idp_id: str, protocol_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        checks.only(ref, ("mapping_id", "remote_id_attribute"), "protocol")
        mapping_id = checks.string(ref, "mapping_id", required=True, min_length=1, max_length=64)
        remote_attr = checks.string(ref, "remote_id_attribute", max_length=64)
        with self.svc.db.writer() as session:
            self._mapping_exists(session, mapping_id or "")
            row = self._protocol(session, idp_id, protocol_id)
            row.mapping_id = mapping_id or row.mapping_id
            if remote_attr is not None:
                row.remote_id_attribute = remote_attr
            session.flush()
            result = protocol_dict(row)
        self.svc.changed("OS-FEDERATION:protocol", "updated", protocol_id)
        return result

    def delete_protocol(self, idp_id: str, protocol_id: str) -> None:
        with self.svc.db.writer() as session:
            session.delete(self._protocol(session, idp_id, protocol_id))
        self.svc.changed("OS-FEDERATION:protocol", "deleted", protocol_id)

    # -- mappings ----------------------------------------------------------------------
    @staticmethod
    def _mapping(session: orm.Session, mapping_id: str) -> models.Mapping:
        row = session.get(models.Mapping, mapping_id)
        if row is None:
            raise errors.NotFound(f"Could not find Mapping: {mapping_id}.")
        return row

    def create_mapping(self, mapping_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        _path_id(mapping_id, "mapping_id")
        version = check_mapping(ref)
        with self.svc.db.writer() as session:
            if session.get(models.Mapping, mapping_id) is not None:
                raise errors.Conflict(f"Conflict occurred attempting to store mapping - Duplicate entry: "
                                      f"{mapping_id}.")
            row = models.Mapping(id=mapping_id, rules=ref["rules"], schema_version=version)
            session.add(row)
            session.flush()
            result = mapping_dict(row)
        self.svc.changed("OS-FEDERATION:mapping", "created", mapping_id)
        return result

    def get_mapping(self, mapping_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return mapping_dict(self._mapping(session, mapping_id))

    def list_mappings(self) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            return [mapping_dict(r) for r in session.scalars(sa.select(models.Mapping).order_by(models.Mapping.id))]

    def update_mapping(self, mapping_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        version = check_mapping(ref)
        with self.svc.db.writer() as session:
            row = self._mapping(session, mapping_id)
            row.rules = ref["rules"]
            row.schema_version = version
            session.flush()
            result = mapping_dict(row)
        self.svc.changed("OS-FEDERATION:mapping", "updated", mapping_id)
        return result

    def delete_mapping(self, mapping_id: str) -> None:
        with self.svc.db.writer() as session:
            session.delete(self._mapping(session, mapping_id))
        self.svc.changed("OS-FEDERATION:mapping", "deleted", mapping_id)

    # -- service providers -----------------------------------------------------------
    @staticmethod
    def _sp(session: orm.Session, sp_id: str) -> models.ServiceProvider:
        row = session.get(models.ServiceProvider, sp_id)
        if row is None:
            raise errors.NotFound(f"Could not find Service Provider: {sp_id}.")
        return row

    @staticmethod
    def _check_sp(ref: dict[str, Any], *, partial: bool) -> None:
        checks.only(ref, SP_FIELDS, "service_provider")
        _check_url(ref, "auth_url", required=not partial)
        _check_url(ref, "sp_url", required=not partial)
        checks.string(ref, "description", nullable=True)
        checks.boolean(ref, "enabled")
        checks.string(ref, "relay_state_prefix", nullable=True, max_length=256)

    def create_sp(self, sp_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        _path_id(sp_id, "service_provider_id")
        self._check_sp(ref, partial=False)
        with self.svc.db.writer() as session:
            if session.get(models.ServiceProvider, sp_id) is not None:
                raise errors.Conflict(f"Conflict occurred attempting to store service_provider - Duplicate entry: "
                                      f"{sp_id}.")
            row = models.ServiceProvider(id=sp_id, enabled=ref.get("enabled", False),
                                         description=ref.get("description"), auth_url=ref["auth_url"],
                                         sp_url=ref["sp_url"],
                                         relay_state_prefix=ref.get("relay_state_prefix") or RELAY_STATE_PREFIX)
            session.add(row)
            session.flush()
            result = sp_dict(row)
        self.svc.changed("OS-FEDERATION:service_provider", "created", sp_id)
        return result

    def get_sp(self, sp_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return sp_dict(self._sp(session, sp_id))

    def list_sps(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.ServiceProvider).order_by(models.ServiceProvider.id))
            result = [sp_dict(r) for r in rows]
        return apply_filters(result, filters, ("id", "enabled"))

    def update_sp(self, sp_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        checks.not_empty(ref, "service_provider")
        self._check_sp(ref, partial=True)
        with self.svc.db.writer() as session:
            row = self._sp(session, sp_id)
            for field in ("auth_url", "sp_url", "description", "enabled"):
                if field in ref:
                    setattr(row, field, ref[field])
            if "relay_state_prefix" in ref:
                row.relay_state_prefix = ref["relay_state_prefix"] or RELAY_STATE_PREFIX
            session.flush()
            result = sp_dict(row)
        self.svc.changed("OS-FEDERATION:service_provider", "updated", sp_id)
        return result

    def delete_sp(self, sp_id: str) -> None:
        with self.svc.db.writer() as session:
            session.delete(self._sp(session, sp_id))
        self.svc.changed("OS-FEDERATION:service_provider", "deleted", sp_id)

    def enabled_service_providers(self) -> list[dict[str, Any]]:
        """What Keystone puts in token catalogs as `service_providers` (when there are any)."""
        with self.svc.db.reader() as session:
            rows = session.scalars(sa.select(models.ServiceProvider).where(
                models.ServiceProvider.enabled.is_(True)).order_by(models.ServiceProvider.id))
            return [{"id": r.id, "auth_url": r.auth_url, "sp_url": r.sp_url} for r in rows]

    # -- cleanup hook (called inside the deleting transaction) ---------------------
    @staticmethod
    def delete_for_domain(session: orm.Session, domain_id: str) -> None:
        """Identity providers of a deleted domain go with it (with their protocols)."""
        idp_ids = list(session.scalars(sa.select(models.IdentityProvider.id).where(
            models.IdentityProvider.domain_id == domain_id)))
        if idp_ids:
            session.execute(sa.delete(models.FederationProtocol).where(
                models.FederationProtocol.idp_id.in_(idp_ids)))
            session.execute(sa.delete(models.IdentityProvider).where(models.IdentityProvider.id.in_(idp_ids)))
