"""/v3/policies (opaque policy blobs) and OS-ENDPOINT-POLICY associations.

Keystone stores these blobs but never enforces them; services could fetch the
policy associated with their endpoint.  An association targets exactly one
of: an endpoint, a service, or a service in a region, and each target has at
most one policy (associating another policy replaces it).  The policy for an
endpoint is the endpoint's own, else its service's in its region or the
nearest parent region, else its service's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity.service import checks, new_id
from monostack.identity.service.endpoint_filter import public_endpoint
from monostack.identity.service.util import apply_filters, extra_fields, flatten_extra

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService

POLICY_FIELDS = {"id", "type", "blob"}


def policy_dict(row: models.Policy) -> dict[str, Any]:
    return flatten_extra({"id": row.id, "type": row.type, "blob": row.blob}, row.extra)


class PolicyBlobManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    # -- policies ----------------------------------------------------------------
    @staticmethod
    def _policy(session: orm.Session, policy_id: str) -> models.Policy:
        row = session.get(models.Policy, policy_id)
        if row is None:
            raise errors.NotFound(f"Could not find policy: {policy_id}.")
        return row

    def create_policy(self, ref: dict[str, Any]) -> dict[str, Any]:
        blob = checks.string(ref, "blob", required=True)
        policy_type = checks.string(ref, "type", required=True, max_length=255)
        policy_id = new_id()
        with self.svc.db.writer() as session:
            row = models.Policy(id=policy_id, type=policy_type, blob=blob, extra=extra_fields(ref, POLICY_FIELDS))
            session.add(row)
            session.flush()
            result = policy_dict(row)
        self.svc.changed("policy", "created", policy_id)
        return result

    def get_policy(self, policy_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return policy_dict(self._policy(session, policy_id))

    def list_policies(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            policies = [policy_dict(r) for r in session.scalars(sa.select(models.Policy).order_by(models.Policy.id))]
        return apply_filters(policies, filters, ("type",))

    def update_policy(self, policy_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        checks.not_empty(ref, "policy")
        checks.matching_id(ref, policy_id)
        blob = checks.string(ref, "blob")
        policy_type = checks.string(ref, "type", max_length=255)
        with self.svc.db.writer() as session:
            row = self._policy(session, policy_id)
            if blob is not None:
                row.blob = blob
            if policy_type is not None:
                row.type = policy_type
            extra = extra_fields(ref, POLICY_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = policy_dict(row)
        self.svc.changed("policy", "updated", policy_id)
        return result

    def delete_policy(self, policy_id: str) -> None:
        with self.svc.db.writer() as session:
            row = self._policy(session, policy_id)
            session.execute(sa.delete(models.PolicyAssociation).where(models.PolicyAssociation.policy_id == policy_id))
            session.delete(row)
        self.svc.changed("policy", "deleted", policy_id)

    # -- associations --------------------------------------------------------------
    @staticmethod
    def _target_exists(session: orm.Session, endpoint_id: str | None, service_id: str | None,
                       region_id: str | None) -> None:
        if endpoint_id is not None and session.get(models.Endpoint, endpoint_id) is None:
            raise errors.NotFound(f"Could not find endpoint: {endpoint_id}.")
        if service_id is not None and session.get(models.Service, service_id) is None:
            raise errors.NotFound(f"Could not find service: {service_id}.")
        if region_id is not None and session.get(models.Region, region_id) is None:
            raise errors.NotFound(f"Could not find region: {region_id}.")

    @staticmethod
    def _where(endpoint_id: str | None, service_id: str | None, region_id: str | None) -> list[Any]:
        """Null-safe equality on all three target columns (SQL `= NULL` never matches)."""
        conditions = []
        for column, value in ((models.PolicyAssociation.endpoint_id, endpoint_id),
                              (models.PolicyAssociation.service_id, service_id),
                              (models.PolicyAssociation.region_id, region_id)):
            conditions.append(column.is_(None) if value is None else column == value)
        return conditions

    def associate(self, policy_id: str, *, endpoint_id: str | None = None, service_id: str | None = None,
                  region_id: str | None = None) -> None:
        with self.svc.db.writer() as session:
            self._policy(session, policy_id)
            self._target_exists(session, endpoint_id, service_id, region_id)
            row = session.scalar(sa.select(models.PolicyAssociation).where(
                *self._where(endpoint_id, service_id, region_id)))
            if row is None:
                session.add(models.PolicyAssociation(id=new_id(), policy_id=policy_id, endpoint_id=endpoint_id,
                                                     service_id=service_id, region_id=region_id))
            else:
                row.policy_id = policy_id
        self.svc.changed("policy_association", "created", policy_id)

    def check_association(self, policy_id: str, *, endpoint_id: str | None = None, service_id: str | None = None,
                          region_id: str | None = None) -> None:
        with self.svc.db.reader() as session:
            self._policy(session, policy_id)
            self._target_exists(session, endpoint_id, service_id, region_id)
            found = session.scalar(sa.select(models.PolicyAssociation.id).where(
                models.PolicyAssociation.policy_id == policy_id, *self._where(endpoint_id, service_id, region_id)))
        if found is None:
            raise errors.NotFound("Could not find policy association.")

    def dissociate(self, policy_id: str, *, endpoint_id: str | None = None, service_id: str | None = None,
                   region_id: str | None = None) -> None:
        """Keystone answers 204 even when there was no such association."""
        with self.svc.db.writer() as session:
            self._policy(session, policy_id)
            self._target_exists(session, endpoint_id, service_id, region_id)
            session.execute(sa.delete(models.PolicyAssociation).where(
                models.PolicyAssociation.policy_id == policy_id, *self._where(endpoint_id, service_id, region_id)))
        self.svc.changed("policy_association", "deleted", policy_id)

    def endpoints_for_policy(self, policy_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            self._policy(session, policy_id)
            associations = session.scalars(sa.select(models.PolicyAssociation).where(
                models.PolicyAssociation.policy_id == policy_id)).all()
            endpoints = session.scalars(sa.select(models.Endpoint).order_by(models.Endpoint.id)).all()
            children: dict[str | None, list[str]] = {}
            for region in session.scalars(sa.select(models.Region)):
                children.setdefault(region.parent_region_id, []).append(region.id)
            found: dict[str, models.Endpoint] = {}
            for assoc in associations:
                if assoc.endpoint_id is not None:
                    found.update({e.id: e for e in endpoints if e.id == assoc.endpoint_id})
                elif assoc.region_id is None:
                    found.update({e.id: e for e in endpoints if e.service_id == assoc.service_id})
                else:
                    regions = _subtree(children, assoc.region_id)
                    found.update({e.id: e for e in endpoints
                                  if e.service_id == assoc.service_id and e.region_id in regions})
            return [public_endpoint(e) for e in found.values()]

    def policy_for_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            endpoint = session.get(models.Endpoint, endpoint_id)
            if endpoint is None:
                raise errors.NotFound(f"Could not find endpoint: {endpoint_id}.")
            policy_id = self._find(session, endpoint_id=endpoint_id)
            region_id, seen = endpoint.region_id, set()
            while policy_id is None and region_id is not None and region_id not in seen:
                seen.add(region_id)
                policy_id = self._find(session, service_id=endpoint.service_id, region_id=region_id)
                region = session.get(models.Region, region_id)
                region_id = region.parent_region_id if region is not None else None
            if policy_id is None:
                policy_id = self._find(session, service_id=endpoint.service_id)
            if policy_id is None:
                raise errors.NotFound(f"No policy is associated with endpoint {endpoint_id}.")
            return policy_dict(self._policy(session, policy_id))

    def _find(self, session: orm.Session, *, endpoint_id: str | None = None, service_id: str | None = None,
              region_id: str | None = None) -> str | None:
        return session.scalar(sa.select(models.PolicyAssociation.policy_id).where(
            *self._where(endpoint_id, service_id, region_id)).limit(1))

    # -- cleanup hooks (called inside the deleting transaction) ------------------
    @staticmethod
    def delete_for_target(session: orm.Session, *, endpoint_id: str | None = None, service_id: str | None = None,
                          region_id: str | None = None) -> None:
        column, value = ((models.PolicyAssociation.endpoint_id, endpoint_id) if endpoint_id else
                         (models.PolicyAssociation.service_id, service_id) if service_id else
                         (models.PolicyAssociation.region_id, region_id))
        if value:
            session.execute(sa.delete(models.PolicyAssociation).where(column == value))


def _subtree(children: dict[str | None, list[str]], root: str) -> set[str]:
    """A region and all its descendants (cycle-safe)."""
    found, frontier = {root}, [root]
    while frontier:
        region = frontier.pop()
        for child in children.get(region, []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found
