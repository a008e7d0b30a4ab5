"""The proxy's middlewares (Swift's pipeline, asynchronous); `pipeline.build` assembles them."""
