"""Domain-specific identity configuration (/v3/domains/{id}/config).

Only Keystone's whitelisted options (the `identity` and `ldap` groups) may be
stored; `ldap.password` is sensitive: stored, never returned, but it may be
substituted into other options (`%(password)s`) by `config_with_sensitive`.
An unsupported group or option is Keystone's InvalidDomainConfig, a 403.
The defaults (/v3/domains/config/default) are Keystone's option defaults,
with Monostack's own values where it has them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

# Keystone's defaults for every whitelisted option (keystone/conf/identity.py, ldap.py).
LDAP_DEFAULTS: dict[str, Any] = {
    "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com", "query_scope": "one",
    "page_size": 0, "alias_dereferencing": "default", "debug_level": None, "chase_referrals": None,
    "user_tree_dn": None, "user_filter": None, "user_objectclass": "inetOrgPerson", "user_id_attribute": "cn",
    "user_name_attribute": "sn", "user_mail_attribute": "mail", "user_description_attribute": "description",
    "user_pass_attribute": "userPassword", "user_enabled_attribute": "enabled", "user_enabled_invert": False,
    "user_enabled_mask": 0, "user_enabled_default": "True", "user_attribute_ignore": ["default_project_id"],
    "user_default_project_id_attribute": None, "user_enabled_emulation": False, "user_enabled_emulation_dn": None,
    "user_enabled_emulation_use_group_config": False, "user_additional_attribute_mapping": [],
    "group_tree_dn": None, "group_filter": None, "group_objectclass": "groupOfNames", "group_id_attribute": "cn",
    "group_name_attribute": "ou", "group_members_are_ids": False, "group_member_attribute": "member",
    "group_desc_attribute": "description", "group_attribute_ignore": [], "group_additional_attribute_mapping": [],
    "tls_cacertfile": None, "tls_cacertdir": None, "use_tls": False, "tls_req_cert": "demand", "use_pool": True,
    "pool_size": 10, "pool_retry_max": 3, "pool_retry_delay": 0.1, "pool_connection_timeout": -1,
    "pool_connection_lifetime": 600, "use_auth_pool": True, "auth_pool_size": 100,
    "auth_pool_connection_lifetime": 60,
}
WHITELISTED = {"identity": ["driver", "list_limit"], "ldap": list(LDAP_DEFAULTS)}
SENSITIVE = {"identity": [], "ldap": ["password"]}
SECURITY_COMPLIANCE = "security_compliance"
READABLE_COMPLIANCE = ("password_regex", "password_regex_description")


def invalid_config(reason: str) -> errors.Forbidden:
    return errors.Forbidden(f"Invalid domain specific configuration: {reason}.")


def not_found(domain_id: str, group: str | None, option: str | None) -> errors.NotFound:
    what = (f"option {option} in group {group}" if option else f"group {group}" if group else "any options")
    return errors.NotFound(f"Could not find {what} in domain configuration for domain {domain_id}.")


def check_group_option(group: str | None, option: str | None) -> None:
    if group and group not in WHITELISTED and group not in SENSITIVE:
        raise invalid_config(f"Group {group} is not supported for domain specific configurations")
    if option and option not in WHITELISTED.get(group or "", []) and option not in SENSITIVE.get(group or "", []):
        raise invalid_config(f"Option {option} in group {group} is not supported for domain specific configurations")


def check_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise errors.ValidationError("Invalid input for field 'config': it must be an object of groups.")
    if not config:
        raise invalid_config("No options specified")
    for group, options in config.items():
        if not options or not isinstance(options, dict):
            raise invalid_config(f"The value of group {group} specified in the config should be a dictionary "
                                 f"of options")
        for option in options:
            check_group_option(group, option)


def is_sensitive(group: str, option: str) -> bool:
    return option in SENSITIVE.get(group, [])


def to_config(rows: list[models.DomainConfig], option: str | None = None) -> dict[str, Any]:
    if option:
        return {rows[0].option: rows[0].value}
    config: dict[str, Any] = {}
    for row in rows:
        config.setdefault(row.group, {})[row.option] = row.value
    return config


class DomainConfigManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    def _domain(self, session: orm.Session, domain_id: str) -> None:
        self.svc.resources.get_domain_row(session, domain_id)

    @staticmethod
    def _rows(session: orm.Session, domain_id: str, group: str | None = None, option: str | None = None,
              *, sensitive: bool | None = False) -> list[models.DomainConfig]:
        query = sa.select(models.DomainConfig).where(models.DomainConfig.domain_id == domain_id)
        if sensitive is not None:
            query = query.where(models.DomainConfig.sensitive.is_(sensitive))
        if group:
            query = query.where(models.DomainConfig.group == group)
            if option:
                query = query.where(models.DomainConfig.option == option)
        return list(session.scalars(query.order_by(models.DomainConfig.group, models.DomainConfig.option)))

    @staticmethod
    def _store(session: orm.Session, domain_id: str, config: dict[str, dict[str, Any]]) -> None:
        for group, options in config.items():
            for option, value in options.items():
                session.merge(models.DomainConfig(domain_id=domain_id, group=group, option=option, value=value,
                                                  sensitive=is_sensitive(group, option)))

    # -- the API ------------------------------------------------------------------
    def create(self, domain_id: str, config: Any) -> tuple[dict[str, Any], bool]:
        """Replace the domain's whole config; also says whether there was one before."""
        check_config(config)
        with self.svc.db.writer() as session:
            self._domain(session, domain_id)
            existed = bool(self._rows(session, domain_id, sensitive=None))
            session.execute(sa.delete(models.DomainConfig).where(models.DomainConfig.domain_id == domain_id))
            session.flush()
            self._store(session, domain_id, config)
            session.flush()
            result = to_config(self._rows(session, domain_id))
        self.svc.changed("domain_config", "updated" if existed else "created", domain_id)
        return result, existed

    def get(self, domain_id: str, group: str | None = None, option: str | None = None) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            self._domain(session, domain_id)
            if group == SECURITY_COMPLIANCE:
                return self._security_compliance(domain_id, option)
            check_group_option(group, option)
            rows = self._rows(session, domain_id, group, option)
        if not rows:
            raise not_found(domain_id, group, option)
        return to_config(rows, option)

    def update(self, domain_id: str, config: Any, group: str | None = None,
               option: str | None = None) -> dict[str, Any]:
        if group and option:
            if not isinstance(config, dict):
                raise errors.ValidationError("Invalid input for field 'config': it must be an object.")
            config = {group: config}
        check_config(config)
        check_group_option(group, option)
        if group:
            if len(config) != 1 or (option and len(config[group] if group in config else {}) != 1):
                what = (f"option {option} in group {group}, so that, and only that, option" if option
                        else f"group {group}, so that, and only that, group")
                raise invalid_config(f"Trying to update {what} must be specified in the config")
            if group not in config:
                raise invalid_config(f"request to update group {group}, but config provided contains group "
                                     f"{next(iter(config))} instead")
            if option and option not in config[group]:
                raise invalid_config(f"Trying to update option {option} in group {group}, but config provided "
                                     f"contains option {next(iter(config[group]))} instead")
        with self.svc.db.writer() as session:
            self._domain(session, domain_id)
            if group and not self._rows(session, domain_id, group, option, sensitive=None):
                raise not_found(domain_id, group, option)
            self._store(session, domain_id, config)
            session.flush()
            result = to_config(self._rows(session, domain_id))
        self.svc.changed("domain_config", "updated", domain_id)
        if not result:
            raise not_found(domain_id, None, None)
        return result

    def delete(self, domain_id: str, group: str | None = None, option: str | None = None) -> None:
        check_group_option(group, option)
        with self.svc.db.writer() as session:
            self._domain(session, domain_id)
            if group and not self._rows(session, domain_id, group, option, sensitive=None):
                raise not_found(domain_id, group, option)
            self.delete_for_domain(session, domain_id, group, option)
        self.svc.changed("domain_config", "deleted", domain_id)

    def defaults(self, group: str | None = None, option: str | None = None) -> dict[str, Any]:
        check_group_option(group, option)
        if option and option not in WHITELISTED[group or ""]:
            raise invalid_config(f"Reading the default for option {option} in group {group} is not supported")
        defaults = self._default_values()
        if option:
            return {option: defaults[group or ""][option]}
        if group:
            return {group: defaults[group]}
        return defaults

    def config_with_sensitive(self, domain_id: str) -> dict[str, Any]:
        """The full config, sensitive options included and substituted (for an identity driver)."""
        with self.svc.db.reader() as session:
            rows = self._rows(session, domain_id, sensitive=None)
        secrets = {r.option: r.value for r in rows if r.sensitive}
        config: dict[str, Any] = {}
        for row in rows:
            value = row.value
            if not row.sensitive and isinstance(value, str) and secrets:
                try:
                    value = value % secrets
                except (KeyError, ValueError, TypeError):
                    pass
            config.setdefault(row.group, {})[row.option] = value
        return config

    # -- helpers -------------------------------------------------------------------
    def _default_values(self) -> dict[str, dict[str, Any]]:
        list_limit = self.svc.conf.identity.list_limit or None
        return {"identity": {"driver": "sql", "list_limit": list_limit}, "ldap": dict(LDAP_DEFAULTS)}

    def _security_compliance(self, domain_id: str, option: str | None) -> dict[str, Any]:
        """The password rules users may read (default domain only, as Keystone)."""
        if domain_id != "default":
            raise invalid_config("Reading security compliance information for any domain other than the default "
                                 "domain is not allowed or supported.")
        if option and option not in READABLE_COMPLIANCE:
            raise invalid_config("Reading security compliance values other than password_regex and "
                                 "password_regex_description is not allowed.")
        conf = self.svc.conf.security_compliance
        values = {name: getattr(conf, name) or None for name in READABLE_COMPLIANCE}
        if option:
            return {option: values[option]}
        return {SECURITY_COMPLIANCE: values}

    @staticmethod
    def delete_for_domain(session: orm.Session, domain_id: str, group: str | None = None,
                          option: str | None = None) -> None:
        """Also the cleanup hook for a deleted domain (called inside its transaction)."""
        query = sa.delete(models.DomainConfig).where(models.DomainConfig.domain_id == domain_id)
        if group:
            query = query.where(models.DomainConfig.group == group)
            if option:
                query = query.where(models.DomainConfig.option == option)
        session.execute(query)
