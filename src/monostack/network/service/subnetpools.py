"""Subnet pools: prefixes subnets are carved from (by prefix length or by CIDR)."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models
from monostack.network.service import ipam
from monostack.network.service.base import Events, ServiceBase, bump, new_id, owner, std_dict, std_new


def collapse(prefixes: list[str]) -> list[str]:
    nets = [ipam.network(p) for p in prefixes]
    return [str(n) for n in ipaddress.collapse_addresses(nets)]  # type: ignore[arg-type]


class SubnetPoolsMixin(ServiceBase):
    def _pool_dict(self, row: models.SubnetPool) -> dict[str, Any]:
        return {"id": row.id, "name": row.name, **owner(row), "ip_version": row.ip_version,
                "prefixes": list(row.prefixes), "default_prefixlen": row.default_prefixlen,
                "min_prefixlen": row.min_prefixlen, "max_prefixlen": row.max_prefixlen,
                "default_quota": row.default_quota, "shared": row.shared, "is_default": row.is_default,
                "address_scope_id": row.address_scope_id, **std_dict(row)}

    def _pool_visible(self, ctx: RequestContext, row: models.SubnetPool) -> bool:
        return ctx.is_admin or row.shared or row.project_id == ctx.project_id

    def _get_pool_row(self, session: orm.Session, ctx: RequestContext | None, pool_id: str) -> models.SubnetPool:
        row = session.get(models.SubnetPool, pool_id)
        if row is None or (ctx is not None and not self._pool_visible(ctx, row)):
            raise nexc.SubnetPoolNotFound(pool_id)
        return row

    def _default_pool(self, session: orm.Session, version: int) -> models.SubnetPool | None:
        return session.scalars(sa.select(models.SubnetPool).where(models.SubnetPool.is_default.is_(True),
                                                                  models.SubnetPool.ip_version == version)).first()

    def list_subnetpools(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            rows = session.scalars(sa.select(models.SubnetPool).order_by(models.SubnetPool.created_at,
                                                                         models.SubnetPool.id))
            return [self._pool_dict(r) for r in rows if self._pool_visible(ctx, r)]

    def get_subnetpool(self, ctx: RequestContext | None, pool_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return self._pool_dict(self._get_pool_row(session, ctx, pool_id))

    @staticmethod
    def _check_lengths(version: int, default: int | None, low: int | None, high: int | None) -> tuple[int, int, int]:
        top = 32 if version == 4 else 128
        low = 8 if low is None and version == 4 else (64 if low is None else low)
        high = top if high is None else high
        default = low if default is None else default
        if not 0 <= low <= top or not 0 <= high <= top:
            raise nexc.InvalidInput(f"Illegal prefix bounds: min_prefixlen={low}, max_prefixlen={high}")
        if not low <= default <= high:
            raise nexc.errors.BadRequest(f"Illegal prefix bounds: default_prefixlen={default}, min_prefixlen={low}, "
                                         f"max_prefixlen={high}.", error_type="IllegalSubnetPoolPrefixBounds")
        return default, low, high

    def create_subnetpool(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            project = body.get("project_id") or ctx.project_id or ""
            self.check_quota(session, project, "subnetpool")
            prefixes = body["prefixes"]
            versions = {ipam.network(p).version for p in prefixes}
            if len(versions) != 1:
                raise nexc.errors.BadRequest("Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
                                             error_type="PrefixVersionMismatch")
            version = versions.pop()
            default, low, high = self._check_lengths(version, body.get("default_prefixlen"),
                                                     body.get("min_prefixlen"), body.get("max_prefixlen"))
            for prefix in prefixes:
                if ipam.network(prefix).prefixlen > high:
                    raise nexc.errors.BadRequest(f"Illegal prefix bounds: prefix {prefix} is longer than "
                                                 f"max_prefixlen {high}.", error_type="IllegalSubnetPoolPrefixBounds")
            if body.get("is_default") and self._default_pool(session, version) is not None:
                raise nexc.InvalidInput(f"A default subnetpool for IPv{version} already exists")
            row = models.SubnetPool(id=new_id(), project_id=project, name=body.get("name") or "", ip_version=version,
                                    prefixes=collapse(prefixes), default_prefixlen=default, min_prefixlen=low,
                                    max_prefixlen=high, default_quota=body.get("default_quota"),
                                    shared=bool(body.get("shared", False)), is_default=bool(body.get("is_default")),
                                    address_scope_id=body.get("address_scope_id"),
                                    **std_new(body.get("description")))
            session.add(row)
            session.flush()
            return self._pool_dict(row)

        return self.write(work)

    def update_subnetpool(self, ctx: RequestContext, pool_id: str, body: dict[str, Any],
                          revision: int | None = None) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_pool_row(session, ctx, pool_id)
            if not ctx.is_admin and row.project_id != ctx.project_id:
                raise nexc.SubnetPoolNotFound(pool_id)
            self._check_revision(row, revision)
            for key in ("name", "description"):
                if key in body:
                    setattr(row, key, body[key] or "")
            if "prefixes" in body:
                new = collapse(list(row.prefixes) + list(body["prefixes"]))
                old = [ipam.network(p) for p in row.prefixes]
                for prefix in old:
                    if not any(prefix.subnet_of(ipam.network(n)) for n in new):  # type: ignore[arg-type]
                        raise nexc.errors.BadRequest("Existing prefixes must be a subset of the new prefixes",
                                                     error_type="IllegalSubnetPoolPrefixUpdate")
                row.prefixes = new
            if any(k in body for k in ("default_prefixlen", "min_prefixlen", "max_prefixlen")):
                row.default_prefixlen, row.min_prefixlen, row.max_prefixlen = self._check_lengths(
                    row.ip_version, body.get("default_prefixlen", row.default_prefixlen),
                    body.get("min_prefixlen", row.min_prefixlen), body.get("max_prefixlen", row.max_prefixlen))
            if "default_quota" in body:
                row.default_quota = body["default_quota"]
            if "is_default" in body:
                if body["is_default"]:
                    other = self._default_pool(session, row.ip_version)
                    if other is not None and other.id != row.id:
                        raise nexc.InvalidInput(f"A default subnetpool for IPv{row.ip_version} already exists")
                row.is_default = bool(body["is_default"])
            bump(row)
            session.flush()
            return self._pool_dict(row)

        return self.write(work)

    def delete_subnetpool(self, ctx: RequestContext, pool_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = self._get_pool_row(session, ctx, pool_id)
            if not ctx.is_admin and row.project_id != ctx.project_id:
                raise nexc.SubnetPoolNotFound(pool_id)
            if session.scalars(sa.select(models.Subnet.id).where(models.Subnet.subnetpool_id == pool_id)).first():
                raise nexc.SubnetPoolInUse(f"Unable to complete operation on subnetpool {pool_id}. Subnets are "
                                           "allocated from it.")
            session.delete(row)

        self.write(work)

    # -- allocation -----------------------------------------------------------------------------
    def _allocate_from_pool(self, session: orm.Session, pool: models.SubnetPool, cidr: str | None,
                            prefixlen: int | None, project: str) -> str:
        used = [ipam.network(c) for c in session.scalars(sa.select(models.Subnet.cidr).where(
            models.Subnet.subnetpool_id == pool.id))]
        pool_nets = [ipam.network(p) for p in pool.prefixes]
        if cidr is not None:
            wanted = ipam.network(cidr)
            if not any(wanted.version == p.version and wanted.subnet_of(p) for p in pool_nets):  # type: ignore
                raise nexc.errors.BadRequest(f"Cidr {cidr} is not within the subnet pool's prefixes",
                                             error_type="SubnetAllocationError")
            if not pool.min_prefixlen <= wanted.prefixlen <= pool.max_prefixlen:
                raise nexc.errors.BadRequest(f"Prefix length {wanted.prefixlen} is out of the subnet pool's bounds",
                                             error_type="SubnetAllocationError")
            if any(wanted.overlaps(u) for u in used):
                raise nexc.errors.BadRequest(f"Cidr {cidr} overlaps with a subnet allocated from the pool",
                                             error_type="SubnetAllocationError")
            return str(wanted)
        length = pool.default_prefixlen if prefixlen is None else prefixlen
        if not pool.min_prefixlen <= length <= pool.max_prefixlen:
            raise nexc.errors.BadRequest(f"Illegal prefix bounds: prefixlen={length}, min_prefixlen="
                                         f"{pool.min_prefixlen}, max_prefixlen={pool.max_prefixlen}.",
                                         error_type="IllegalSubnetPoolPrefixBounds")
        if pool.default_quota is not None:
            size = 2 ** ((32 if pool.ip_version == 4 else 128) - length)
            used_here = sum(u.num_addresses for u in used)
            if used_here + size > pool.default_quota * (1 if pool.ip_version == 6 else 1):
                raise nexc.errors.Conflict("Per-tenant subnet pool prefix quota exceeded.",
                                           error_type="SubnetPoolQuotaExceeded")
        for prefix in pool_nets:
            if prefix.prefixlen > length:
                continue
            for candidate in prefix.subnets(new_prefix=length):
                if not any(candidate.overlaps(u) for u in used):
                    return str(candidate)
        raise nexc.PrefixPoolExhausted(f"Unable to allocate subnet with prefix length {length}, the subnet pool has "
                                       "no free prefix of that length.")
