#!/usr/bin/env bash
# karapace.sh -- Aiven's Karapace 3.15.2, a Confluent-compatible Schema
# Registry (tests/vendor/README.md; installed into build/karapace-venv by
# deps.sh), against a Kafka broker, on a free 127.0.0.1 port.
#
#   karapace.sh start DIR BROKERS   start and wait until it takes writes;
#                                   writes DIR/env (STACK_SCHEMA_REGISTRY_URL)
#   karapace.sh stop DIR            TERM, KILL after 20 s
#
# Its storage is a Kafka topic: a second start on the same DIR reuses
# DIR/config.json, so the same port and schemas topic, and every subject
# and id is back. For the first start of a DIR, KARAPACE_TOPIC names the
# schemas topic (default _schemas; ids are per topic and start at 1), and
# KARAPACE_AUTHFILE a file of users (karapace_mkpasswd) that makes every
# call need HTTP Basic auth. Compatibility is BACKWARD, Confluent's default.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

VENV=${KARAPACE_VENV:-$ROOT/build/karapace-venv}

write_config() {
    local dir=$1 brokers=$2 topic=${KARAPACE_TOPIC:-_schemas}
    # The group follows the topic: one primary election per registry.
    # A 3 s session (the broker allows 1 s) lets a restart take over from
    # the stopped process quickly.
    python3 - "$dir/config.json" "$brokers" "$(free_port)" "$topic" \
        "${KARAPACE_AUTHFILE:-}" "$dir/runtime" <<'PY'
import json, sys
path, brokers, port, topic, authfile, runtime = sys.argv[1:]
json.dump({
    "bootstrap_uri": brokers, "host": "127.0.0.1", "port": int(port),
    "advertised_hostname": "127.0.0.1", "karapace_registry": True,
    "karapace_rest": False, "topic_name": topic, "group_id": topic + "-sr",
    "replication_factor": 1, "compatibility": "BACKWARD",
    "session_timeout_ms": 3000, "log_level": "INFO",
    "registry_authfile": authfile or None,
    "protobuf_runtime_directory": runtime,
}, open(path, "w"), indent=1)
PY
}

port_of() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' \
        "$1/config.json"
}

# ready URL: it answers, has read its topic and is the primary (writes
# sent before the election get HTTP 500).
ready() {
    local health
    health=$(curl -fsS "$1/_health" 2>/dev/null) || return 1
    [[ $health == *'"schema_registry_ready":true'* &&
        $health == *'"schema_registry_is_primary":true'* ]]
}

# port_taken DIR OFFSET: the log from OFFSET on says the port was taken
# (Karapace keeps running then, without listening).
port_taken() {
    grep -q 'address already in use' < <(tail -c +$(($2 + 1)) "$1/karapace.log")
}

start() {
    local dir=$1 brokers=$2 attempt pid url deadline logged
    [ -x "$VENV/bin/karapace" ] || die "karapace: $VENV missing (make deps)"
    mkdir -p "$dir/runtime"
    for attempt in 1 2 3; do
        [ -f "$dir/config.json" ] || write_config "$dir" "$brokers"
        url=http://127.0.0.1:$(port_of "$dir")
        logged=$(stat -c %s "$dir/karapace.log" 2>/dev/null || echo 0)
        "$VENV/bin/karapace" "$dir/config.json" >>"$dir/karapace.log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/pid"
        deadline=$((SECONDS + 60))
        while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
            if ready "$url"; then
                echo "STACK_SCHEMA_REGISTRY_URL=$url" >"$dir/env"
                return 0
            fi
            port_taken "$dir" "$logged" && break
            sleep 0.2
        done
        stop_pid "$dir/pid" 5
        # Only a port taken meanwhile is worth another try (a new port,
        # unless a restart must keep it).
        port_taken "$dir" "$logged" || break
        [ -f "$dir/env" ] || rm -f "$dir/config.json"
        say "karapace: port taken on $url, retrying ($attempt)"
    done
    die "karapace: did not start (see $dir/karapace.log)"
}

case "${1:-}" in
start) start "${2:?usage: karapace.sh start DIR BROKERS}" "${3:?usage: karapace.sh start DIR BROKERS}" ;;
stop) stop_pid "${2:?usage: karapace.sh stop DIR}/pid" 20 ;;
*) die "usage: karapace.sh start DIR BROKERS | stop DIR" ;;
esac
