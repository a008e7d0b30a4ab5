"""The [placement] options (registered when the Placement service is imported)."""

from monostack.common.config import BOOL, Opt, register

register(
    "placement",
    Opt("connection", "", "SQLAlchemy URL of the Placement database; empty: [database] connection."),
    Opt("randomize_allocation_candidates", False,
        "Return a random sample of the allocation candidates when a request names a limit (else the first "
        "ones, in provider creation order), so that schedulers on several hosts spread their claims.", BOOL),
    Opt("incomplete_consumer_project_id", "00000000-0000-0000-0000-000000000000",
        "Project recorded for allocations written with microversions before 1.8 (which carry none)."),
    Opt("incomplete_consumer_user_id", "00000000-0000-0000-0000-000000000000",
        "User recorded for allocations written with microversions before 1.8 (which carry none)."),
)
