#!/usr/bin/env bash
# Serves the whole platform: the Dagster webserver and daemon on workspace.yaml, and the REST
# API with uvicorn. Usage: scripts/serve.sh start|stop|status|restart|dev
# (dev runs `dagster dev` in the foreground on the same instance instead).
#
# Each process runs in its own session (setsid), so stop ends it with everything it started
# (code servers, run workers). Pid files go to $DM_DATA_DIR/run, logs to $DM_DATA_DIR/logs.
# The Dagster instance is dagster.yaml in DAGSTER_HOME, by default this repository's, which
# keeps runs, events and schedules in PostgreSQL from the DAGSTER_PG_* variables. The defaults
# below are those of deploy_manager/instance.py, so the deploy-manager command (demo, ingest,
# materialize) uses the same instance. Start creates that database when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

data_dir="${DM_DATA_DIR:-$repo/data}"
run_dir="$data_dir/run"
log_dir="$data_dir/logs"
bin="$repo/.venv/bin"

export DAGSTER_HOME="${DAGSTER_HOME:-$repo}"
export DAGSTER_PG_USERNAME="${DAGSTER_PG_USERNAME:-postgres}"
export DAGSTER_PG_PASSWORD="${DAGSTER_PG_PASSWORD:-}"
export DAGSTER_PG_HOST="${DAGSTER_PG_HOST:-127.0.0.1}"
export DAGSTER_PG_PORT="${DAGSTER_PG_PORT:-5432}"
export DAGSTER_PG_DB="${DAGSTER_PG_DB:-dagster}"
export DAGSTER_STORAGE_DIR="${DAGSTER_STORAGE_DIR:-$data_dir/dagster-storage}"
# The daemon creates the scheduled runs, so it needs the settings of
# deploy_manager/instance_env.py that keep run set-up linear in the partitions.
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS="${DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS:-1}"
export DAGSTER_EVENT_BATCH_SIZE="${DAGSTER_EVENT_BATCH_SIZE:-1000}"
webserver_host="${DM_DAGSTER_HOST:-127.0.0.1}"
webserver_port="${DM_DAGSTER_PORT:-3000}"
api_host="${DM_API_HOST:-127.0.0.1}"
api_port="${DM_API_PORT:-8000}"
stop_seconds="${DM_SERVE_STOP_SECONDS:-30}"
services=(webserver daemon api)

command_of() {
    case "$1" in
        webserver)
            echo "$bin/dagster-webserver -w workspace.yaml -h $webserver_host -p $webserver_port" ;;
        daemon)
            echo "$bin/dagster-daemon run -w workspace.yaml" ;;
        api)
            echo "$bin/deploy-manager serve-api --host $api_host --port $api_port" ;;
    esac
}

running_pid() {
    local pid_file="$run_dir/$1.pid"
    [ -f "$pid_file" ] || return 1
    local pid
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
        return 0
    fi
    rm -f "$pid_file"
    return 1
}

wait_for_http() {
    local name="$1" url="$2"
    for _ in $(seq 1 120); do
        if "$bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
            "$url" 2>/dev/null; then
            echo "serve: $name responds at $url"
            return 0
        fi
        if ! running_pid "$name" >/dev/null; then
            echo "serve: $name exited during start-up: see $log_dir/$name.log" >&2
            return 1
        fi
        sleep 1
    done
    echo "serve: $name did not respond at $url within 120 s: see $log_dir/$name.log" >&2
    return 1
}

check_port() {
    local name="$1" value="$2"
    if ! [[ "$value" =~ ^[0-9]+$ ]] || [ "$value" -lt 1 ] || [ "$value" -gt 65535 ]; then
        echo "serve: $name=$value is not a TCP port: set it to a whole number from 1 to 65535" >&2
        exit 2
    fi
}

prepare() {
    check_port DM_DAGSTER_PORT "$webserver_port"
    check_port DM_API_PORT "$api_port"
    mkdir -p "$run_dir" "$log_dir" "$DAGSTER_STORAGE_DIR"
    # migrate also creates the instance database of dagster.yaml when it is missing.
    "$bin/deploy-manager" migrate
}

start() {
    prepare
    for name in "${services[@]}"; do
        if pid="$(running_pid "$name")"; then
            echo "serve: $name already running (pid $pid)"
            continue
        fi
        # shellcheck disable=SC2046
        setsid $(command_of "$name") >>"$log_dir/$name.log" 2>&1 < /dev/null &
        echo $! > "$run_dir/$name.pid"
        echo "serve: started $name (pid $!), log $log_dir/$name.log"
    done
    wait_for_http webserver "http://$webserver_host:$webserver_port/server_info"
    wait_for_http api "http://$api_host:$api_port/api/health"
}

stop_one() {
    local name="$1" pid
    if ! pid="$(running_pid "$name")"; then
        echo "serve: $name not running"
        return 0
    fi
    # The pid leads its own session and process group, so the group contains its children.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 "$stop_seconds"); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "serve: $name did not stop within $stop_seconds s: killing it" >&2
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$run_dir/$name.pid"
    echo "serve: stopped $name"
}

stop() {
    for name in api daemon webserver; do
        stop_one "$name"
    done
}

status() {
    local down=0
    for name in "${services[@]}"; do
        if pid="$(running_pid "$name")"; then
            echo "serve: $name running (pid $pid)"
        else
            echo "serve: $name not running"
            down=1
        fi
    done
    return "$down"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart) stop && start ;;
    dev)
        prepare
        exec "$bin/dagster" dev -w workspace.yaml -h "$webserver_host" -p "$webserver_port"
        ;;
    *)
        echo "usage: $0 start|stop|status|restart|dev" >&2
        exit 2
        ;;
esac
