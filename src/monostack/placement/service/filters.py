"""SQL conditions shared by the provider list and the allocation candidates: capacity for an
amount of a class, required/forbidden traits, required/forbidden aggregates."""

from __future__ import annotations

from typing import Any, Iterable

import sqlalchemy as sa

from monostack.placement.models import Inventory, ProviderAggregate, ProviderTrait

INV = Inventory.__table__
PT = ProviderTrait.__table__
PA = ProviderAggregate.__table__


def fits(inv: Any, class_id: int, amount: int) -> sa.ColumnElement[bool]:
    """The inventory row `inv` is of this class and can take `amount` more: within min_unit,
    max_unit and step_size, and (total - reserved) * allocation_ratio >= used + amount."""
    amount_ = sa.literal(amount, sa.BigInteger)
    return sa.and_(inv.c.resource_class_id == class_id, inv.c.min_unit <= amount_, inv.c.max_unit >= amount_,
                   amount_ % inv.c.step_size == 0,
                   inv.c.used + amount_ <= (inv.c.total - inv.c.reserved) * inv.c.allocation_ratio)


def with_traits(id_col: Any, required: Iterable[Iterable[int]], forbidden: Iterable[int]) -> list[Any]:
    """Conditions on a provider id column: for each set of required trait ids at least one of
    them (any-traits: an OR inside a set, an AND across sets), none of the forbidden ones."""
    conditions: list[Any] = []
    for any_of in required:
        conditions.append(id_col.in_(sa.select(PT.c.resource_provider_id)
                                     .where(PT.c.trait_id.in_(list(any_of)))))
    forbidden = list(forbidden)
    if forbidden:
        conditions.append(id_col.not_in(sa.select(PT.c.resource_provider_id)
                                        .where(PT.c.trait_id.in_(forbidden))))
    return conditions


def in_aggregates(id_col: Any, member_of: Iterable[Iterable[str]], forbidden: Iterable[str],
                  root_col: Any = None) -> list[Any]:
    """Conditions on a provider id column: in at least one aggregate of each set, in none of
    the forbidden.  With `root_col`, membership through the tree's root counts too (the
    unsuffixed group of allocation candidates)."""
    conditions: list[Any] = []
    for any_of in member_of:
        members = sa.select(PA.c.resource_provider_id).where(PA.c.aggregate_uuid.in_(list(any_of)))
        condition = id_col.in_(members)
        if root_col is not None:
            condition = sa.or_(condition, root_col.in_(members))
        conditions.append(condition)
    forbidden = list(forbidden)
    if forbidden:
        conditions.append(id_col.not_in(sa.select(PA.c.resource_provider_id)
                                        .where(PA.c.aggregate_uuid.in_(forbidden))))
    return conditions
