#!/usr/bin/env bash
# conformance/run.sh -- run Tempest (the OpenStack conformance suite) against
# a Monostack cloud and print passed/failed/skipped counts.
#
# Usage:
#   conformance/run.sh [options] [-- extra `tempest run` arguments]
#
# Options (each also settable by the environment variable in brackets):
#   --clouds-yaml PATH   use an already running cloud described by PATH
#                        [CLOUDS_YAML]; without it a cloud is started:
#                        `monostack up --data-dir RUN/cloud --bind 127.0.0.1:PORT`
#                        on a free port, and stopped at the end.
#   --include FILE       include list, one regex per line [INCLUDE]
#                        default: the lines of the interop list
#                        (../shared/conformance/tempest-interop.txt) that
#                        match --interop-filter
#   --interop-filter RE  which interop lines make the default list: an ERE
#                        matched against each line with its backslashes
#                        removed [INTEROP_FILTER, default 'tempest\.api\.identity\.'];
#                        '.' takes the whole interop list
#   --regex RE           select tests by regex instead of the default list
#                        (ORed with --include when both are given)
#   --exclude FILE       exclude list, one regex per line [EXCLUDE]
#   --concurrency N      parallel workers [CONCURRENCY, default 2]
#   --workspace DIR      where to keep this run [WORKSPACE]; default
#                        data/conformance/run-YYYYmmdd-HHMMSS (+ "latest" link)
#   --list               only list (and count, with skip reasons) the tests
#                        that would run; no cloud is needed or started
#                        (services assumed available: OFFLINE_SERVICES,
#                        comma-separated catalog types, default "identity")
#   --set S.O=V          override a tempest.conf option (repeatable)
#   --extra-conf FILE    INI merged into tempest.conf (repeatable) [TEMPEST_EXTRA_CONF]
#   --up-timeout SEC     how long to wait for clouds.yaml [UP_TIMEOUT, default 300]
#   -h, --help
#
# Other environment: TEMPEST_VERSION (default 47.0.0), TEMPEST_VENV (default
# .venv-tempest), PYTHON (interpreter for the Tempest venv, default python3),
# MONOSTACK (default .venv/bin/monostack), MONOSTACK_UP_ARGS (extra args
# for `monostack up`), INTEROP_LIST.
#
# Output (in the workspace): tempest/etc/tempest.conf, selected-tests.txt,
# results.subunit, results.xml (JUnit), failing.txt, summary.json,
# tempest/logs/tempest.log, tempest-run.log, cloud/ + cloud.log (own cloud).
# Exit status: Tempest's (non-zero when a test failed), 2 for usage errors,
# 3 when the cloud did not come up.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONF_DIR="$REPO/conformance"

TEMPEST_VERSION=${TEMPEST_VERSION:-47.0.0}
TEMPEST_VENV=${TEMPEST_VENV:-$REPO/.venv-tempest}
PYTHON=${PYTHON:-python3}
MONOSTACK=${MONOSTACK:-$REPO/.venv/bin/monostack}
MONOSTACK_UP_ARGS=${MONOSTACK_UP_ARGS:-}
PROJECT_PY=${PROJECT_PY:-$REPO/.venv/bin/python}
INTEROP_LIST=${INTEROP_LIST:-$REPO/../shared/conformance/tempest-interop.txt}
INTEROP_FILTER=${INTEROP_FILTER:-'tempest\.api\.identity\.'}
CLOUDS_YAML=${CLOUDS_YAML:-}
INCLUDE=${INCLUDE:-}
EXCLUDE=${EXCLUDE:-}
REGEX=""
CONCURRENCY=${CONCURRENCY:-2}
WORKSPACE=${WORKSPACE:-}
UP_TIMEOUT=${UP_TIMEOUT:-300}
LIST_ONLY=0
CONF_ARGS=()
EXTRA_TEMPEST_ARGS=()
if [[ -n "${TEMPEST_EXTRA_CONF:-}" ]]; then
    for f in $TEMPEST_EXTRA_CONF; do CONF_ARGS+=(--extra-conf "$f"); done
fi

log() { printf '[conformance] %s\n' "$*" >&2; }
die() { log "error: $*"; exit "${2:-1}"; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --clouds-yaml) CLOUDS_YAML=$2; shift 2 ;;
        --include) INCLUDE=$2; shift 2 ;;
        --interop-filter) INTEROP_FILTER=$2; shift 2 ;;
        --regex) REGEX=$2; shift 2 ;;
        --exclude) EXCLUDE=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --workspace) WORKSPACE=$2; shift 2 ;;
        --list) LIST_ONLY=1; shift ;;
        --set) CONF_ARGS+=(--set "$2"); shift 2 ;;
        --extra-conf) CONF_ARGS+=(--extra-conf "$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"); shift 2 ;;
        --up-timeout) UP_TIMEOUT=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; EXTRA_TEMPEST_ARGS=("$@"); break ;;
        *) usage >&2; die "unknown argument: $1" 2 ;;
    esac
done

[[ "$CONCURRENCY" =~ ^[0-9]+$ && "$CONCURRENCY" -ge 1 ]] || die "--concurrency wants a positive integer" 2
abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
if [[ -n "$INCLUDE" ]]; then
    [[ -f "$INCLUDE" ]] || die "include list not found: $INCLUDE" 2
    INCLUDE=$(abspath "$INCLUDE")
fi
if [[ -n "$EXCLUDE" ]]; then
    [[ -f "$EXCLUDE" ]] || die "exclude list not found: $EXCLUDE" 2
    EXCLUDE=$(abspath "$EXCLUDE")
fi
if [[ -n "$CLOUDS_YAML" ]]; then
    [[ -f "$CLOUDS_YAML" ]] || die "clouds.yaml not found: $CLOUDS_YAML" 2
    CLOUDS_YAML=$(abspath "$CLOUDS_YAML")
fi

# --------------------------------------------------------------------------
# 1. Tempest in its own venv (idempotent; pinned so test counts are stable)
# --------------------------------------------------------------------------
install_tempest() {
    local marker="$TEMPEST_VENV/.tempest-version" want="$TEMPEST_VERSION junitxml"
    if [[ -x "$TEMPEST_VENV/bin/tempest" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        return 0
    fi
    log "installing tempest==$TEMPEST_VERSION into $TEMPEST_VENV"
    if [[ ! -x "$TEMPEST_VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$TEMPEST_VENV"
    fi
    # junitxml: what subunit2junitxml needs for results.xml
    "$TEMPEST_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "tempest==$TEMPEST_VERSION" junitxml
    "$TEMPEST_VENV/bin/tempest" --version >/dev/null
    printf '%s\n' "$want" >"$marker"
}
install_tempest
TPY="$TEMPEST_VENV/bin/python"
# make_tempest_conf.py needs only PyYAML: prefer the project venv, else Tempest's.
[[ -x "$PROJECT_PY" ]] || PROJECT_PY=$TPY

# --------------------------------------------------------------------------
# 2. Workspace
# --------------------------------------------------------------------------
if [[ -z "$WORKSPACE" ]]; then
    base="$REPO/data/conformance"
    WORKSPACE="$base/run-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$WORKSPACE"
    ln -sfn "$(basename "$WORKSPACE")" "$base/latest"
fi
mkdir -p "$WORKSPACE"
WORKSPACE=$(cd "$WORKSPACE" && pwd)
TWS="$WORKSPACE/tempest"          # tempest working dir (.stestr, etc/, logs/)
mkdir -p "$TWS/etc"
# stestr keeps its results repository in $TWS/.stestr (`--list-tests` needs it).
[[ -d "$TWS/.stestr" ]] || (cd "$TWS" && "$TEMPEST_VENV/bin/stestr" init >/dev/null)
log "workspace: $WORKSPACE"

# The test selection
SELECT_ARGS=()
if [[ -n "$INCLUDE" ]]; then
    SELECT_ARGS+=(--include-list "$INCLUDE")
elif [[ -z "$REGEX" ]]; then
    [[ -f "$INTEROP_LIST" ]] || die "interop list not found: $INTEROP_LIST (give --include or --regex)" 2
    INCLUDE="$WORKSPACE/include-list.txt"
    # Match the filter against each regex line with its backslashes removed
    # (the list holds "^tempest\.api\.identity\..."), keep the line as is.
    RE="$INTEROP_FILTER" awk '/^[[:space:]]*(#|$)/ {next}
        { plain = $0; gsub(/\\/, "", plain); if (plain ~ ENVIRON["RE"]) print }' \
        "$INTEROP_LIST" >"$INCLUDE"
    [[ -s "$INCLUDE" ]] || die "no line of $INTEROP_LIST matches '$INTEROP_FILTER'" 2
    SELECT_ARGS+=(--include-list "$INCLUDE")
    log "default selection: $(wc -l <"$INCLUDE") lines of $(basename "$INTEROP_LIST") matching '$INTEROP_FILTER'"
fi
[[ -n "$REGEX" ]] && SELECT_ARGS+=(--regex "$REGEX")
[[ -n "$EXCLUDE" ]] && SELECT_ARGS+=(--exclude-list "$EXCLUDE")

TEMPEST_CONF="$TWS/etc/tempest.conf"
list_tests() {  # writes selected-tests.txt
    (cd "$TWS" && "$TEMPEST_VENV/bin/tempest" run --config-file "$TEMPEST_CONF" \
        --list-tests "${SELECT_ARGS[@]}") >"$WORKSPACE/list-tests.out" 2>&1 \
        || { cat "$WORKSPACE/list-tests.out" >&2; die "tempest run --list-tests failed"; }
    grep '^tempest\.' "$WORKSPACE/list-tests.out" | sort >"$WORKSPACE/selected-tests.txt" || true
}

# --------------------------------------------------------------------------
# --list: offline config, list + static skip count, no cloud
# --------------------------------------------------------------------------
if [[ "$LIST_ONLY" == 1 ]]; then
    sample="$WORKSPACE/clouds.sample.yaml"
    if [[ -z "$CLOUDS_YAML" ]]; then
        cat >"$sample" <<'EOF'
clouds:
  monostack-admin:
    auth: {auth_url: 'http://127.0.0.1:9/identity', username: admin, password: unused,
           project_name: admin, user_domain_id: default, project_domain_id: default}
    region_name: RegionOne
    identity_api_version: 3
    interface: public
EOF
    fi
    "$PROJECT_PY" "$CONF_DIR/make_tempest_conf.py" --clouds-yaml "${CLOUDS_YAML:-$sample}" \
        --offline --services "${OFFLINE_SERVICES:-identity}" --workspace "$TWS" \
        --output "$TEMPEST_CONF" "${CONF_ARGS[@]}"
    list_tests
    cat "$WORKSPACE/selected-tests.txt"
    count_args=(--config-file "$TEMPEST_CONF")
    [[ -n "$INCLUDE" ]] && count_args+=(--include-list "$INCLUDE")
    [[ -n "$REGEX" ]] && count_args+=(--regex "$REGEX")
    echo
    "$TPY" "$CONF_DIR/count_tests.py" "${count_args[@]}"
    log "$(wc -l <"$WORKSPACE/selected-tests.txt") tests selected (services assumed: ${OFFLINE_SERVICES:-identity})"
    exit 0
fi

# --------------------------------------------------------------------------
# 3. The cloud: given, or started here (and stopped on exit)
# --------------------------------------------------------------------------
CLOUD_PID=""
stop_cloud() {
    stop_web_server
    [[ -n "$CLOUD_PID" ]] || return 0
    if kill -0 "$CLOUD_PID" 2>/dev/null; then
        log "stopping the cloud (pid $CLOUD_PID)"
        # monostack runs in its own process group (setsid): signal the group.
        kill -TERM -- "-$CLOUD_PID" 2>/dev/null || kill -TERM "$CLOUD_PID" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$CLOUD_PID" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$CLOUD_PID" 2>/dev/null; then
            log "cloud did not stop in 30 s; killing it"
            kill -KILL -- "-$CLOUD_PID" 2>/dev/null || kill -KILL "$CLOUD_PID" 2>/dev/null || true
        fi
    fi
    wait "$CLOUD_PID" 2>/dev/null || true
    CLOUD_PID=""
    kill_guests
    clean_network
}
# The Networking agent leaves its bridges, namespaces, dnsmasq and rules when it
# stops (by design: guests keep their network): those of our own cloud go here.
clean_network() {
    [[ -n "${DATA_DIR:-}" && -d "$DATA_DIR/network" ]] || return 0
    "$PROJECT_PY" - "$DATA_DIR/network" <<'PY' >/dev/null 2>&1 || log "could not clean the cloud's data plane"
import asyncio, sys
from monostack.network.dataplane.agent import Agent, AgentConfig
from monostack.network.dataplane.desired import HostState

async def clean() -> None:
    agent = Agent(AgentConfig(state_dir=sys.argv[1]))
    try:
        await agent.apply(HostState())
    finally:
        await agent.close()

asyncio.run(clean())
PY
    local link
    # Compute's taps of the guests killed above and their bridges: down now (a running guest's
    # tap, of another cloud on this host, is up and stays).
    for link in $(ip -o link show 2>/dev/null | grep 'state DOWN' | grep -oE '(tap|brq)[0-9a-f-]{11}' | sort -u); do
        ip link del dev "$link" 2>/dev/null || true
    done
}
# QEMU guests outlive the cloud process by design (as under Nova): kill those
# of our own cloud (their command line names its data directory).
kill_guests() {
    [[ -n "${DATA_DIR:-}" ]] || return 0
    local pid
    for pid in $(pgrep -f "qemu-system.*$DATA_DIR/" 2>/dev/null); do
        log "killing leftover guest (pid $pid)"
        kill -KILL "$pid" 2>/dev/null || true
    done
}
# An own cloud's web-download imports (Tempest's [image] http_qcow2_image) come from
# a small qcow2 served here on 127.0.0.1, the one URL the cloud is told to allow:
# Tempest's default (download.cirros-cloud.net) needs the internet.
WEB_PID=""
start_web_server() {
    local dir="$WORKSPACE/web" port
    mkdir -p "$dir"
    qemu-img create -q -f qcow2 "$dir/web-download.qcow2" 64M
    port=$(free_port)
    "$TPY" -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >"$WORKSPACE/web.log" 2>&1 &
    WEB_PID=$!
    export MONOSTACK_IMAGE__WEB_DOWNLOAD_ALLOWED_URLS="http://127.0.0.1:$port/"
    # First: a --set of the caller's still wins.
    CONF_ARGS=(--set "image.http_qcow2_image=http://127.0.0.1:$port/web-download.qcow2" "${CONF_ARGS[@]}")
}
stop_web_server() {
    [[ -n "$WEB_PID" ]] || return 0
    kill "$WEB_PID" 2>/dev/null || true
    wait "$WEB_PID" 2>/dev/null || true
    WEB_PID=""
}
trap stop_cloud EXIT
trap 'exit 130' INT TERM

free_port() {
    "$TPY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

if [[ -z "$CLOUDS_YAML" ]]; then
    [[ -x "$MONOSTACK" ]] || die "$MONOSTACK not found (run the project setup first, or give --clouds-yaml)" 2
    PORT=$(free_port)
    DATA_DIR="$WORKSPACE/cloud"
    mkdir -p "$DATA_DIR"
    start_web_server
    log "starting: monostack up --data-dir $DATA_DIR --bind 127.0.0.1:$PORT (log: $WORKSPACE/cloud.log)"
    # shellcheck disable=SC2086
    setsid "$MONOSTACK" up --data-dir "$DATA_DIR" --bind "127.0.0.1:$PORT" $MONOSTACK_UP_ARGS \
        >"$WORKSPACE/cloud.log" 2>&1 </dev/null &
    CLOUD_PID=$!
    CLOUDS_YAML="$DATA_DIR/clouds.yaml"
    deadline=$((SECONDS + UP_TIMEOUT))
    until [[ -s "$CLOUDS_YAML" ]]; do
        if ! kill -0 "$CLOUD_PID" 2>/dev/null; then
            tail -n 30 "$WORKSPACE/cloud.log" >&2 || true
            CLOUD_PID=""
            die "monostack up exited before writing clouds.yaml (see $WORKSPACE/cloud.log)" 3
        fi
        if (( SECONDS >= deadline )); then
            tail -n 30 "$WORKSPACE/cloud.log" >&2 || true
            die "no clouds.yaml after ${UP_TIMEOUT}s (see $WORKSPACE/cloud.log)" 3
        fi
        sleep 0.5
    done
    sleep 0.5  # clouds.yaml is written last; let the write finish
    log "cloud is up on port $PORT"
fi

# --------------------------------------------------------------------------
# 4. tempest.conf from clouds.yaml (+ the catalog)
# --------------------------------------------------------------------------
"$PROJECT_PY" "$CONF_DIR/make_tempest_conf.py" --clouds-yaml "$CLOUDS_YAML" \
    --workspace "$TWS" --output "$TEMPEST_CONF" "${CONF_ARGS[@]}"
log "tempest.conf: $TEMPEST_CONF ($(grep -E '^(nova|glance|neutron|cinder|swift) = True' "$TEMPEST_CONF" | cut -d' ' -f1 | tr '\n' ' ')identity)"

list_tests
NSEL=$(wc -l <"$WORKSPACE/selected-tests.txt")
[[ "$NSEL" -gt 0 ]] || die "the selection matches no test"
log "running $NSEL tests with concurrency $CONCURRENCY"

# --------------------------------------------------------------------------
# 5. Run
# --------------------------------------------------------------------------
RUN_ARGS=(--config-file "$TEMPEST_CONF" "${SELECT_ARGS[@]}")
if [[ "$CONCURRENCY" -gt 1 ]]; then
    RUN_ARGS+=(--parallel --concurrency "$CONCURRENCY")
else
    RUN_ARGS+=(--serial)
fi
set +e
(cd "$TWS" && "$TEMPEST_VENV/bin/tempest" run "${RUN_ARGS[@]}" "${EXTRA_TEMPEST_ARGS[@]}") \
    2>&1 | tee "$WORKSPACE/tempest-run.log"
RC=${PIPESTATUS[0]}
set -e

# --------------------------------------------------------------------------
# 6. Results: subunit, JUnit XML, counts
# --------------------------------------------------------------------------
if (cd "$TWS" && "$TEMPEST_VENV/bin/stestr" last --subunit) >"$WORKSPACE/results.subunit" 2>/dev/null; then
    "$TEMPEST_VENV/bin/subunit2junitxml" <"$WORKSPACE/results.subunit" >"$WORKSPACE/results.xml" 2>/dev/null || true
    echo
    "$TPY" "$CONF_DIR/summarize_subunit.py" "$WORKSPACE/results.subunit" \
        --selected "$WORKSPACE/selected-tests.txt" \
        --failing-out "$WORKSPACE/failing.txt" --json-out "$WORKSPACE/summary.json"
else
    log "no subunit stream recorded (tempest exit $RC)"
    [[ "$RC" -ne 0 ]] || RC=1
    echo "conformance: 0 passed, $NSEL failed, 0 skipped"
fi
log "artifacts in $WORKSPACE (tempest log: $TWS/logs/tempest.log)"
exit "$RC"
