"""The smaller Keystone APIs, one manager each, behind one facade.

`svc.extras.endpoint_filter`  OS-EP-FILTER (endpoint groups, project associations)
`svc.extras.policies`         /v3/policies and OS-ENDPOINT-POLICY
`svc.extras.domain_config`    /v3/domains/{id}/config
`svc.extras.oauth1`           OS-OAUTH1 consumers
`svc.extras.limits`           unified limits
`svc.extras.federation`       OS-FEDERATION objects (CRUD only)

The catalog calls `endpoints_for_project`; the other managers' deletes call
the `delete_for_*` hooks inside their own transaction so that nothing here
keeps pointing at a deleted project, domain, endpoint, service or region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import orm

from monostack.identity.service.domain_config import DomainConfigManager
from monostack.identity.service.endpoint_filter import EndpointFilterManager
from monostack.identity.service.federation import FederationManager
from monostack.identity.service.limits import LimitManager
from monostack.identity.service.oauth1 import OAuth1Manager
from monostack.identity.service.policies_blob import PolicyBlobManager

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService


class ExtrasManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc
        self.endpoint_filter = EndpointFilterManager(svc)
        self.policies = PolicyBlobManager(svc)
        self.domain_config = DomainConfigManager(svc)
        self.oauth1 = OAuth1Manager(svc)
        self.limits = LimitManager(svc)
        self.federation = FederationManager(svc)

    def endpoints_for_project(self, project_id: str) -> set[str] | None:
        """Endpoint ids a project's catalog is limited to, or None when it is not filtered."""
        return self.endpoint_filter.endpoints_for_project(project_id)

    # -- cleanup hooks: call inside the transaction that deletes the object ------
    def delete_for_project(self, session: orm.Session, project_id: str) -> None:
        """A project (or domain) is being deleted: its endpoint associations and limits go."""
        self.endpoint_filter.delete_for_project(session, project_id)
        self.limits.delete_for_project(session, project_id)

    def delete_for_domain(self, session: orm.Session, domain_id: str) -> None:
        """A domain is being deleted: its configuration, identity providers, associations and limits go."""
        self.delete_for_project(session, domain_id)
        self.domain_config.delete_for_domain(session, domain_id)
        self.federation.delete_for_domain(session, domain_id)

    def delete_for_endpoint(self, session: orm.Session, endpoint_id: str) -> None:
        self.endpoint_filter.delete_for_endpoint(session, endpoint_id)
        self.policies.delete_for_target(session, endpoint_id=endpoint_id)

    def delete_for_service(self, session: orm.Session, service_id: str) -> None:
        """A service is being deleted (call before its endpoints are removed)."""
        self.policies.delete_for_target(session, service_id=service_id)

    def delete_for_region(self, session: orm.Session, region_id: str) -> None:
        self.policies.delete_for_target(session, region_id=region_id)
