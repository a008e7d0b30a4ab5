#!/usr/bin/env python3
"""Count which Tempest tests a tempest.conf lets run, without any cloud.

Run it with the Tempest venv's python::

    .venv-tempest/bin/python conformance/count_tests.py \\
        --config-file WS/etc/tempest.conf --regex '^tempest\\.api\\.identity\\.'
    .venv-tempest/bin/python conformance/count_tests.py \\
        --config-file WS/etc/tempest.conf --include-list conformance/identity-all.txt

For every selected test it evaluates, with the given configuration, what
Tempest evaluates before any API call:

* the class's ``skip_checks()`` (feature flags, extensions, credentials), and
* ``testtools.skipIf/skipUnless`` decorators on the test method.

Tests that pass both are "runnable".  Some tests can still skip themselves
inside the test body (``raise self.skipException``) depending on
configuration; those are listed with their condition so the total can be
checked by hand (for the identity tests: lockout attempts/duration > 0 and
access_rules).

Output: per-module counts (runnable/skipped) and the skip reasons; ``--json``
prints a machine-readable report instead.
"""

from __future__ import annotations

import argparse
import collections
import configparser
import inspect
import json
import os
import re
import sys
import unittest


def _load_conf(config_file: str) -> None:
    """Point tempest.config at ``config_file`` (before tempest is imported)."""
    path = os.path.abspath(config_file)
    if not os.path.isfile(path):
        sys.exit(f"count_tests: no such config file: {path}")
    os.environ["TEMPEST_CONFIG_DIR"] = os.path.dirname(path)
    os.environ["TEMPEST_CONFIG"] = os.path.basename(path)
    # tempest opens [DEFAULT] log_dir/log_file when it loads the config.
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    log_dir = parser.defaults().get("log_dir")
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)


def _iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _iter_tests(item)
        else:
            yield item


def _read_filters(include_list: str | None, regexes: list[str]) -> list[re.Pattern]:
    pats = [re.compile(r) for r in regexes]
    if include_list:
        with open(include_list, encoding="utf-8") as fh:
            for line in fh:
                line = line.split("#", 1)[0].strip()
                if line:
                    pats.append(re.compile(line))
    return pats


def _body_skip_conditions(method) -> list[str]:
    """Source lines just before ``raise self.skipException`` in a test body."""
    try:
        src = inspect.getsource(method)
    except (OSError, TypeError):
        return []
    out = []
    lines = src.splitlines()
    for i, line in enumerate(lines):
        if "skipException(" in line and "raise" in line:
            # Walk back to the governing "if" statement.
            for j in range(i - 1, -1, -1):
                stripped = lines[j].strip()
                if stripped.startswith("if "):
                    cond = stripped
                    k = j + 1
                    while not cond.endswith(":") and k < i:
                        cond += " " + lines[k].strip()
                        k += 1
                    out.append(cond)
                    break
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config-file", required=True)
    ap.add_argument("--regex", action="append", default=[],
                    help="select tests whose id matches (repeatable; ORed with the list)")
    ap.add_argument("--include-list", help="file of regexes, one per line")
    ap.add_argument("--start-dir", default=None,
                    help="tempest package dir to discover from (default: tempest/api)")
    ap.add_argument("--json", action="store_true", help="print a JSON report")
    ap.add_argument("--tests", action="store_true", help="also list every test and its state")
    args = ap.parse_args(argv)

    _load_conf(args.config_file)
    # tempest.config reads TEMPEST_CONFIG_DIR/TEMPEST_CONFIG lazily, on the
    # first CONF access (skipIf decorators already access it at import time).
    import tempest  # noqa: E402  (after the env is set)

    pats = _read_filters(args.include_list, args.regex)
    if not pats:
        pats = [re.compile(r"^tempest\.api\.identity\.")]

    top = os.path.dirname(os.path.dirname(tempest.__file__))
    start = args.start_dir or os.path.join(os.path.dirname(tempest.__file__), "api")
    loader = unittest.TestLoader()
    suite = loader.discover(start, pattern="test_*.py", top_level_dir=top)

    class_state: dict[type, str | None] = {}
    per_module = collections.OrderedDict()
    reasons = collections.Counter()
    body_skips = []
    tests_out = []
    load_errors = []
    for test in _iter_tests(suite):
        tid = test.id()
        if tid.startswith("unittest.loader"):
            load_errors.append(tid)
            continue
        if not any(p.search(tid) for p in pats):
            continue
        cls = type(test)
        if cls not in class_state:
            reason = None
            try:
                cls.skip_checks()
            except (unittest.SkipTest, getattr(cls, "skipException", unittest.SkipTest)) as exc:
                reason = f"class skip_checks: {exc}"
            except Exception as exc:  # e.g. InvalidConfiguration
                reason = f"class skip_checks raised {type(exc).__name__}: " + \
                    " ".join(str(exc).split())
            class_state[cls] = reason
        reason = class_state[cls]
        name = getattr(test, "_testMethodName", "")
        method = getattr(cls, name, None)
        if reason is None and getattr(method, "__unittest_skip__", False):
            reason = "decorator: " + str(getattr(method, "__unittest_skip_why__", ""))
        module = cls.__module__
        stats = per_module.setdefault(module, {"runnable": 0, "skipped": 0})
        if reason:
            stats["skipped"] += 1
            reasons[reason] += 1
        else:
            stats["runnable"] += 1
            for cond in _body_skip_conditions(method):
                body_skips.append((tid.split("[")[0], cond))
        tests_out.append((tid, reason or "runnable"))

    total_run = sum(s["runnable"] for s in per_module.values())
    total_skip = sum(s["skipped"] for s in per_module.values())
    if args.json:
        json.dump({
            "config_file": os.path.abspath(args.config_file),
            "total": total_run + total_skip,
            "runnable": total_run,
            "skipped": total_skip,
            "modules": per_module,
            "skip_reasons": dict(reasons),
            "runtime_skip_conditions": body_skips,
            "tests": tests_out if args.tests else None,
            "load_errors": load_errors,
        }, sys.stdout, indent=2)
        print()
        return 0

    width = max((len(m) for m in per_module), default=10)
    print(f"{'module':<{width}}  runnable  skipped")
    for module, s in per_module.items():
        print(f"{module:<{width}}  {s['runnable']:>8}  {s['skipped']:>7}")
    print(f"{'TOTAL':<{width}}  {total_run:>8}  {total_skip:>7}   ({total_run + total_skip} selected)")
    if reasons:
        print("\nskip reasons:")
        for r, n in reasons.most_common():
            print(f"  {n:>4}  {r}")
    if body_skips:
        print("\nrunnable tests that may still skip in their body, depending on config:")
        for tid, cond in body_skips:
            print(f"  {tid}\n        {cond}")
    if load_errors:
        print(f"\n{len(load_errors)} modules failed to import (not counted): "
              + ", ".join(load_errors[:5]))
    if args.tests:
        print()
        for tid, state in tests_out:
            print(f"{state:<10} {tid}" if state == "runnable" else f"SKIP {tid}  <- {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
