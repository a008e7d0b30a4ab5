"""The proxy pipeline, outermost first (Swift's order, with Keystone and S3):

    bulk, tempurl, formpost, s3api, keystoneauth, copy, container quotas,
    account quotas, slo, dlo, versioned writes, proxy server

(the health check, gatekeeper and catch_errors live in the ASGI entry, CORS and
listing formats in the controllers).  Each layer is `async (Request) -> Response`
and makes its sub-requests through the layers below it.
"""

from __future__ import annotations

from typing import Any

from monostack.object.proxy.http import Handler
from monostack.object.proxy.server import ProxyApp


def build(proxy: ProxyApp, conf: Any, validator: Any, identity: Any) -> Handler:
    from monostack.object.middleware.account_quotas import AccountQuotas
    from monostack.object.middleware.bulk import Bulk
    from monostack.object.middleware.container_quotas import ContainerQuotas
    from monostack.object.middleware.copy import Copy
    from monostack.object.middleware.dlo import DynamicLargeObject
    from monostack.object.middleware.formpost import FormPost
    from monostack.object.middleware.keystoneauth import KeystoneAuth
    from monostack.object.middleware.slo import StaticLargeObject
    from monostack.object.middleware.tempurl import TempURL
    from monostack.object.middleware.versioned_writes import VersionedWrites
    from monostack.object.s3.middleware import S3Api

    app: Any = proxy
    app = VersionedWrites(app, proxy, conf)
    app = DynamicLargeObject(app, proxy, conf)
    app = StaticLargeObject(app, proxy, conf)
    app = AccountQuotas(app, proxy, conf)
    app = ContainerQuotas(app, proxy, conf)
    app = Copy(app, proxy, conf)
    app = KeystoneAuth(app, proxy, validator, conf)
    app = S3Api(app, proxy, conf, identity)
    app = FormPost(app, proxy, conf)
    app = TempURL(app, proxy, conf)
    app = Bulk(app, proxy, conf)
    return app
