"""Property-based fuzzing of the Identity API from its own OpenAPI document
(/identity/openapi.json) with schemathesis: every operation, with an admin
token, a bounded number of examples per operation, schema-conforming and
schema-violating; the only property checked is "no 5xx" (not_a_server_error).

Why not `schemathesis.pytest.from_fixture(...)` + `@schema.parametrize()`: the
schema exists only once the session cloud runs, and from_fixture in
schemathesis 4.32 sets `request.node._nodeid`, which pytest 9 no longer has
(AttributeError).  So the test loads the schema at run time and drives each
operation's Hypothesis strategy (`APIOperation.as_strategy`) itself.

The run has a cloud of its own (`private_cloud`): it creates random projects,
domains, regions... which would show up in the listings of the tests sharing
the session cloud (and a single bad value can break a collection for
everyone, see test_bad_input.py).  No operation is excluded: path ids are
generated at random, so the fuzzer cannot name the bootstrap admin user,
project or domain, and ids seen in responses are not fed back into requests,
so the admin token stays valid for the whole run (checked below)."""

from __future__ import annotations

import collections
import time

import hypothesis
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

# Examples per operation: schema-conforming ones for every operation, schema-violating ones where
# there is a body to violate (path and query values here are free-form strings: nothing to negate).
POSITIVE_EXAMPLES = 25
NEGATIVE_EXAMPLES = 15
BUDGET_SECONDS = 170


def test_no_server_errors(private_cloud):
    cloud = private_cloud
    token = cloud.token("monostack-admin")
    config = schemathesis.Config.from_dict({"base-url": cloud.auth_url, "request-timeout": 30})
    schema = schemathesis.openapi.from_url(f"{cloud.auth_url}/openapi.json", config=config)
    operations = []
    for result in schema.get_all_operations():
        operations.append(result.ok())  # an operation the loader cannot read is a failure too
    assert len(operations) > 100, [op.label for op in operations]

    headers = {"X-Auth-Token": token}
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    started = time.monotonic()
    with requests.Session() as session:
        for operation in operations:
            modes = [(GenerationMode.POSITIVE, POSITIVE_EXAMPLES)]
            if operation.body:
                modes.append((GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES))
            for mode, examples in modes:
                strategy = operation.as_strategy(generation_mode=mode)

                @hypothesis.given(case=strategy)
                @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                                     phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                                     suppress_health_check=list(hypothesis.HealthCheck))
                def exercise(case: schemathesis.Case) -> None:
                    response = case.call_and_validate(base_url=cloud.auth_url, session=session, headers=headers,
                                                      checks=[not_a_server_error])
                    statuses[response.status_code] += 1

                try:
                    exercise()
                except Exception as exc:  # noqa: BLE001 -- collect every failing operation, then report
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
    elapsed = time.monotonic() - started
    assert not failures, f"{len(failures)} operations failed (5xx or no answer):\n\n" + "\n\n".join(failures)
    # The token worked throughout: the run reached the API, not just the authentication layer.
    assert statuses[200] + statuses[201] + statuses[204] > 50, statuses
    assert statuses[401] < sum(statuses.values()) / 10, statuses
    assert elapsed < BUDGET_SECONDS, f"the fuzzing run took {elapsed:.0f} s"
