#!/usr/bin/env bash
# The database-heavy suites again on PostgreSQL and on MariaDB, both at once (each has its own
# database server, and every cloud a test starts takes free ports), so that CI stays within its
# time on two cores.  Each run's output is shown when both are done; fails if either failed.
# Usage: scripts/test-databases.sh PYTEST SUITE...
set -u
cd "$(dirname "$0")/.."
pytest=$1
shift
logs=$(mktemp -d)
pids=()
for db in postgresql mysql; do
    MONOSTACK_TEST_DB=$db "$pytest" -q -p no:cacheprovider -m "not qemu and not root" "$@" >"$logs/$db.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
for db in postgresql mysql; do
    echo "== $db"
    cat "$logs/$db.log"
done
rm -rf "$logs"
exit $status
