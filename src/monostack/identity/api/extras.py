"""Routes of the extras area (see identity/service/extras.py): one module per API,
gathered under this one router so that api/__init__.py registers a single router."""

from __future__ import annotations

from fastapi import APIRouter

from monostack.identity.api import domain_config, endpoint_filter, federation, limits, oauth1, policies_blob

router = APIRouter(prefix="/v3", tags=["extras"])
for _module in (endpoint_filter, policies_blob, domain_config, oauth1, limits, federation):
    router.include_router(_module.router)
