"""Allocation candidates: the ways a request's resources can be allocated.

The database does the filtering: one query per request group returns only the (provider, class)
pairs that have room for the group's amounts and pass its filters (tree, aggregates, traits of
a suffixed group's provider, forbidden traits and trees holding the required ones for the
unsuffixed group, root traits), restricted to trees that can serve every class of the group.
When the request is the common one (one unsuffixed group, no required traits to check across
providers, candidates in provider order) the `limit` goes into that query too, so a scheduler asking for
a few candidates out of thousands of hosts reads a few rows.

Python then combines, per provider tree:
  - the unsuffixed group: any provider of the tree for each class (a product across classes),
    whose providers together have the required traits and none of the forbidden ones;
  - each suffixed group: one provider of the tree with all of the group's classes (or, for a
    group with no resources named in `same_subtree`, one that matches its traits/aggregates);
  - group_policy=isolate: suffixed groups on different providers; same_subtree: one of the
    named groups' providers is an ancestor (or itself) of the others;
  - the sum of what the groups take from one inventory must still fit it.
Provider summaries cover every provider of the trees in the answer (as Placement's do).
Sharing providers (MISC_SHARES_VIA_AGGREGATE) are not offered to other trees.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import random
from typing import Any, Iterator, NamedTuple

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.db import Database
from monostack.placement.models import Inventory, ProviderTrait, ResourceProvider, Trait
from monostack.placement.service import filters
from monostack.placement.service.names import Names

RP = ResourceProvider.__table__
INV = Inventory.__table__
PT = ProviderTrait.__table__
CHUNK = 500  # ids per IN list


@dataclasses.dataclass
class RequestGroup:
    suffix: str = ""
    resources: dict[str, int] = dataclasses.field(default_factory=dict)
    required: list[set[str]] = dataclasses.field(default_factory=list)  # AND of ORs
    forbidden: set[str] = dataclasses.field(default_factory=set)
    member_of: list[set[str]] = dataclasses.field(default_factory=list)  # AND of ORs
    forbidden_aggs: set[str] = dataclasses.field(default_factory=set)
    in_tree: str | None = None

    @property
    def same_provider(self) -> bool:
        return bool(self.suffix)


@dataclasses.dataclass
class CandidateRequest:
    groups: dict[str, RequestGroup]
    limit: int | None = None
    group_policy: str | None = None
    root_required: set[str] = dataclasses.field(default_factory=set)
    root_forbidden: set[str] = dataclasses.field(default_factory=set)
    same_subtrees: list[set[str]] = dataclasses.field(default_factory=list)
    nested_aware: bool = True  # microversion 1.29: before it, trees of several providers are left out
    randomize: bool = False


class _Fit(NamedTuple):
    """One inventory that has room for a group's amount of its class (a tuple: thousands a request)."""
    provider: int
    root: int
    rc: int
    capacity: float  # (total - reserved) * allocation_ratio
    used: int
    max_unit: int


class Candidates:
    def __init__(self, db: Database, names: Names):
        self.db = db
        self.names = names

    def find(self, request: CandidateRequest) -> dict[str, Any]:
        groups = request.groups
        rc_prefix = "Invalid resource class in resources parameter: "
        class_ids = self.names.class_ids({rc for g in groups.values() for rc in g.resources}, rc_prefix)
        trait_names = ({t for g in groups.values() for any_of in g.required for t in any_of}
                       | {t for g in groups.values() for t in g.forbidden}
                       | request.root_required | request.root_forbidden)
        trait_ids = self.names.trait_ids(trait_names)
        with self.db.reader() as session:
            trees = self._in_tree_roots(session, groups)
            if trees is None:  # an in_tree provider that does not exist: nothing can match
                return _empty()
            pushdown = (request.limit is not None and not request.randomize and set(groups) == {""}
                        and not groups[""].required)
            fits = {suffix: self._fits(session, request, group, class_ids, trait_ids, trees.get(suffix),
                                       request.limit if pushdown else None)
                    for suffix, group in groups.items()}
            roots = set.intersection(*({f.root for f in group_fits} for group_fits in fits.values()))
            if not roots:
                return _empty()
            providers = self._tree_providers(session, roots)
            traits = self._traits(session, {f.provider for group_fits in fits.values() for f in group_fits}
                                  if any(g.required or g.forbidden for g in groups.values() if not g.suffix)
                                  else set())
            requests = list(self._combine(request, fits, roots, providers, traits, class_ids, trait_ids))
            if request.limit is not None and len(requests) > request.limit:
                requests = (random.sample(requests, request.limit) if request.randomize
                            else requests[:request.limit])
            used_roots = {providers[rp]["root"] for req in requests
                          for rp in itertools.chain(req["allocations"], *req["mappings"].values())}
            summaries = self._summaries(session, used_roots, providers)
        uuid_of = {id_: p["uuid"] for id_, p in providers.items()}
        class_name = {id_: name for name, id_ in class_ids.items()}
        return {"allocation_requests": [
                    {"allocations": {uuid_of[rp]: {"resources": {class_name[rc]: amount for rc, amount in res.items()}}
                                     for rp, res in req["allocations"].items()},
                     "mappings": {suffix: [uuid_of[rp] for rp in rps] for suffix, rps in req["mappings"].items()}}
                    for req in requests],
                "provider_summaries": summaries}

    # -- the queries ---------------------------------------------------------------------------
    @staticmethod
    def _in_tree_roots(session: orm.Session, groups: dict[str, RequestGroup]) -> dict[str, int] | None:
        wanted = {g.in_tree for g in groups.values() if g.in_tree}
        found = dict(session.execute(sa.select(RP.c.uuid, RP.c.root_provider_id)
                                     .where(RP.c.uuid.in_(wanted))).all()) if wanted else {}
        if wanted - set(found):
            return None
        return {suffix: found[g.in_tree] for suffix, g in groups.items() if g.in_tree}

    def _fits(self, session: orm.Session, request: CandidateRequest, group: RequestGroup,
              class_ids: dict[str, int], trait_ids: dict[str, int], tree: int | None,
              limit: int | None) -> list[_Fit]:
        """The inventories with room for the group, in trees that can serve all its classes (for a
        suffixed group: on providers that can serve them all); a group without resources yields
        one row per matching provider (rc -1)."""
        inv = INV.alias("inv")
        rp = RP.alias("rp")
        where: list[Any] = []
        if tree is not None:
            where.append(rp.c.root_provider_id == tree)
        if group.suffix:
            where += filters.with_traits(rp.c.id, [{trait_ids[t] for t in any_of} for any_of in group.required],
                                         {trait_ids[t] for t in group.forbidden})
            where += filters.in_aggregates(rp.c.id, group.member_of, group.forbidden_aggs)
        else:
            where += filters.in_aggregates(rp.c.id, group.member_of, group.forbidden_aggs, rp.c.root_provider_id)
            # The group's traits are checked on each combination of providers later; what the
            # database can do first: no provider with a forbidden trait serves, and only trees
            # that have each required trait somewhere are read.
            where += filters.with_traits(rp.c.id, [], {trait_ids[t] for t in group.forbidden})
            member = RP.alias("member")
            for any_of in group.required:
                where.append(rp.c.root_provider_id.in_(
                    sa.select(member.c.root_provider_id).join(PT, PT.c.resource_provider_id == member.c.id)
                    .where(PT.c.trait_id.in_([trait_ids[t] for t in any_of]))))
        if request.root_required or request.root_forbidden:
            where += filters.with_traits(rp.c.root_provider_id,
                                         [{trait_ids[t]} for t in request.root_required],
                                         {trait_ids[t] for t in request.root_forbidden})
        if not request.nested_aware:  # trees of one provider only
            child = RP.alias("child")
            where.append(rp.c.root_provider_id.not_in(sa.select(child.c.root_provider_id)
                                                      .where(child.c.parent_provider_id.is_not(None))))
        if not group.resources:
            rows = session.execute(sa.select(rp.c.id, rp.c.root_provider_id).where(*where)
                                   .order_by(rp.c.id)).all()
            return [_Fit(provider, root, -1, 0.0, 0, 0) for provider, root in rows]
        where.append(sa.or_(*(filters.fits(inv, class_ids[rc], amount) for rc, amount in group.resources.items())))
        joined = inv.join(rp, rp.c.id == inv.c.resource_provider_id)
        # Only the trees (suffixed group: the providers) that have room for every class.
        key = rp.c.id if group.suffix else rp.c.root_provider_id
        complete = (sa.select(key.label("key")).select_from(joined).where(*where).group_by(key)
                    .having(sa.func.count(sa.distinct(inv.c.resource_class_id)) == len(group.resources)))
        if limit is not None:
            complete = complete.order_by(key).limit(limit)
        complete_keys = complete.subquery("complete")
        query = (sa.select(inv.c.resource_provider_id, rp.c.root_provider_id, inv.c.resource_class_id,
                           ((inv.c.total - inv.c.reserved) * inv.c.allocation_ratio).label("capacity"),
                           inv.c.used, inv.c.max_unit)
                 .select_from(joined).where(*where, key.in_(sa.select(complete_keys.c.key)))
                 .order_by(rp.c.root_provider_id, inv.c.resource_provider_id, inv.c.resource_class_id))
        return list(map(_Fit._make, session.execute(query).all()))

    @staticmethod
    def _tree_providers(session: orm.Session, roots: set[int]) -> dict[int, dict[str, Any]]:
        """Every provider of these trees: uuid, parent, root."""
        providers: dict[int, dict[str, Any]] = {}
        ordered = sorted(roots)
        for start in range(0, len(ordered), CHUNK):
            rows = session.execute(sa.select(RP.c.id, RP.c.uuid, RP.c.parent_provider_id, RP.c.root_provider_id)
                                   .where(RP.c.root_provider_id.in_(ordered[start:start + CHUNK]))
                                   .order_by(RP.c.id)).all()
            for id_, uuid, parent, root in rows:
                providers[id_] = {"uuid": uuid, "parent": parent, "root": root}
        return providers

    @staticmethod
    def _traits(session: orm.Session, provider_ids: set[int]) -> dict[int, set[int]]:
        traits: dict[int, set[int]] = collections.defaultdict(set)
        ordered = sorted(provider_ids)
        for start in range(0, len(ordered), CHUNK):
            for rp, trait in session.execute(sa.select(PT.c.resource_provider_id, PT.c.trait_id)
                                             .where(PT.c.resource_provider_id.in_(ordered[start:start + CHUNK]))):
                traits[rp].add(trait)
        return traits

    def _summaries(self, session: orm.Session, roots: set[int], providers: dict[int, dict[str, Any]]
                   ) -> dict[str, dict[str, Any]]:
        """Every provider of the answer's trees: its inventories (capacity, used), traits, parent and root."""
        in_trees = [id_ for id_, p in providers.items() if p["root"] in roots]
        summaries: dict[str, dict[str, Any]] = {}
        for id_ in in_trees:
            p = providers[id_]
            summaries[p["uuid"]] = {"resources": {}, "traits": [],
                                    "parent_provider_uuid": providers[p["parent"]]["uuid"] if p["parent"] else None,
                                    "root_provider_uuid": providers[p["root"]]["uuid"]}
        names: dict[int, str] = {}
        for start in range(0, len(in_trees), CHUNK):
            chunk = in_trees[start:start + CHUNK]
            for rp, rc, total, reserved, ratio, used in session.execute(
                    sa.select(INV.c.resource_provider_id, INV.c.resource_class_id, INV.c.total, INV.c.reserved,
                              INV.c.allocation_ratio, INV.c.used)
                    .where(INV.c.resource_provider_id.in_(chunk))
                    .order_by(INV.c.resource_provider_id, INV.c.resource_class_id)).all():
                name = names.get(rc) or names.setdefault(rc, self.names.classes.name(rc))
                summaries[providers[rp]["uuid"]]["resources"][name] = {
                    "capacity": int((total - reserved) * ratio), "used": used}
            for rp, name in session.execute(sa.select(PT.c.resource_provider_id, Trait.name)
                                            .join(Trait, Trait.id == PT.c.trait_id)
                                            .where(PT.c.resource_provider_id.in_(chunk))
                                            .order_by(PT.c.resource_provider_id, Trait.name)).all():
                summaries[providers[rp]["uuid"]]["traits"].append(name)
        return summaries

    # -- the combinations ----------------------------------------------------------------------
    def _combine(self, request: CandidateRequest, fits: dict[str, list[_Fit]], roots: set[int],
                 providers: dict[int, dict[str, Any]], traits: dict[int, set[int]], class_ids: dict[str, int],
                 trait_ids: dict[str, int]) -> Iterator[dict[str, Any]]:
        """Every product of the groups' options, tree by tree (each is distinct: the mappings say
        which provider serves which group)."""
        groups = request.groups
        by_root: dict[str, dict[int, list[_Fit]]] = {
            suffix: _group_by(group_fits, lambda f: f.root) for suffix, group_fits in fits.items()}
        inventories = {(f.provider, f.rc): f for group_fits in fits.values() for f in group_fits}
        wanted = None if request.randomize else request.limit
        produced = 0
        for root in sorted(roots):
            choices = []  # per group: its options, each (suffix, [(provider, rc, amount)], providers)
            for suffix, group in groups.items():
                options = list(self._group_options(group, by_root[suffix].get(root, []), class_ids, traits,
                                                   trait_ids))
                if not options:
                    break
                choices.append(options)
            else:
                for combination in itertools.product(*choices):
                    candidate = self._candidate(request, combination, inventories, providers)
                    if candidate is None:
                        continue
                    yield candidate
                    produced += 1
                    if wanted is not None and produced >= wanted:
                        return

    @staticmethod
    def _group_options(group: RequestGroup, fits: list[_Fit], class_ids: dict[str, int],
                       traits: dict[int, set[int]], trait_ids: dict[str, int]
                       ) -> Iterator[tuple[str, list[tuple[int, int, int]], tuple[int, ...]]]:
        """The ways one group can be served in one tree."""
        if not group.resources:  # resourceless (same_subtree): any matching provider
            for fit in fits:
                yield group.suffix, [], (fit.provider,)
            return
        amounts = [(class_ids[rc], amount) for rc, amount in group.resources.items()]
        if group.suffix:  # one provider with room for all the group's classes (the query made sure)
            for provider in dict.fromkeys(f.provider for f in fits):
                yield group.suffix, [(provider, rc, amount) for rc, amount in amounts], (provider,)
            return
        # Unsuffixed: any provider of the tree for each class; together they carry the traits.
        by_class = _group_by(fits, lambda f: f.rc)
        per_class = [[(f.provider, rc, amount) for f in by_class.get(rc, ())] for rc, amount in amounts]
        required = [{trait_ids[t] for t in any_of} for any_of in group.required]
        forbidden = {trait_ids[t] for t in group.forbidden}
        if all(len(options) == 1 for options in per_class):  # the usual case: one way
            products: Any = [tuple(options[0] for options in per_class)]
        else:
            products = itertools.product(*per_class)
        for parts in products:
            used = tuple(sorted({rp for rp, _, _ in parts}))
            if required or forbidden:
                have = set().union(*(traits.get(rp, set()) for rp in used))
                if have & forbidden or not all(any_of & have for any_of in required):
                    continue
            yield "", list(parts), used

    @staticmethod
    def _candidate(request: CandidateRequest, combination: tuple[Any, ...], inventories: dict[tuple[int, int], _Fit],
                   providers: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
        if len(combination) > 1:
            if request.group_policy == "isolate":
                chosen = [used[0] for suffix, _, used in combination if suffix]
                if len(chosen) != len(set(chosen)):
                    return None
            if request.same_subtrees:
                first = {suffix: used[0] for suffix, _, used in combination}
                for suffixes in request.same_subtrees:
                    if not _same_subtree([first[s] for s in suffixes if s in first], providers):
                        return None
        allocations: dict[int, dict[int, int]] = {}
        merged = False
        for _, parts, _ in combination:
            for rp, rc, amount in parts:
                resources = allocations.setdefault(rp, {})
                if rc in resources:
                    resources[rc] += amount
                    merged = True
                else:
                    resources[rc] = amount
        if merged:  # what several groups take from one inventory must fit it together
            for rp, resources in allocations.items():
                for rc, amount in resources.items():
                    fit = inventories[(rp, rc)]
                    if fit.used + amount > fit.capacity or amount > fit.max_unit:
                        return None
        return {"allocations": allocations, "mappings": {suffix: used for suffix, _, used in combination}}


def _group_by(items: list[Any], key: Any) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = {}
    for item in items:
        grouped.setdefault(key(item), []).append(item)
    return grouped


def _same_subtree(chosen: list[int], providers: dict[int, dict[str, Any]]) -> bool:
    """One of the chosen providers is an ancestor (or itself) of all the others."""
    def ancestors(rp: int) -> set[int]:
        found = {rp}
        while providers[rp]["parent"] is not None:
            rp = providers[rp]["parent"]
            found.add(rp)
        return found
    lines = [ancestors(rp) for rp in chosen]
    return any(all(candidate in line for line in lines) for candidate in chosen)


def _empty() -> dict[str, Any]:
    return {"allocation_requests": [], "provider_summaries": {}}
