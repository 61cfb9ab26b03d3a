#!/usr/bin/env bash
# kafka.sh -- a real single-node Apache Kafka 3.9 broker (KRaft, combined
# broker + controller) from Maven Central jars, without Docker.
#
#   kafka.sh fetch        resolve the jars into build/kafka/libs (cached)
#   kafka.sh start DIR    format DIR, start on free 127.0.0.1 ports, wait
#                         until it answers metadata; writes DIR/env
#   kafka.sh stop DIR     controlled shutdown (TERM), KILL after 30 s
#
# Recipe and pitfalls: docs/kafka-local.md. Auto topic creation
# is off, as in production: stack.sh creates every topic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KAFKA_VERSION=3.9.1
LIBS="$ROOT/build/kafka/libs"

fetch() {
    [ "$(cat "$LIBS/.version" 2>/dev/null)" = "$KAFKA_VERSION" ] && return 0
    say "kafka: fetching Apache Kafka $KAFKA_VERSION jars with mvn"
    rm -rf "$LIBS"
    local args=(-B -q -f "$ROOT/deploy/local/pom.xml"
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies
        -DincludeScope=runtime "-DoutputDirectory=$LIBS")
    mvn -o "${args[@]}" >/dev/null 2>&1 || mvn "${args[@]}" ||
        die "kafka: mvn could not resolve the broker jars"
    echo "$KAFKA_VERSION" >"$LIBS/.version"
}

write_config() {
    local dir=$1 port=$2 cport=$3
    cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.partitions=1
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
PROPS
    cat >"$dir/log4j.properties" <<'PROPS'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
PROPS
}

answers_metadata() {
    kcat -b "$1" -L -m 1 2>/dev/null | grep -q '^ 1 brokers:'
}

# One attempt on fresh ports; 0 ready, 1 port race (retry), 2 other error.
try_start() {
    local dir=$1 port cport cid log4j pid deadline
    port=$(free_port)
    cport=$(free_port)
    rm -rf "$dir/data"
    write_config "$dir" "$port" "$cport"
    # a random base64url id; one that starts with '-' reads as an option
    # to the storage tool (1 start in 64 failed so): draw again
    while cid=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=') &&
        [[ $cid == -* ]]; do :; done
    log4j="-Dlog4j.configuration=file:$dir/log4j.properties"
    java -Xmx256m "$log4j" -cp "$LIBS/*" kafka.tools.StorageTool format \
        -t "$cid" -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
        { cat "$dir/format.log" >&2; return 2; }
    java -Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true "$log4j" -cp "$LIBS/*" kafka.Kafka \
        "$dir/server.properties" >"$dir/broker.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pid"
    deadline=$((SECONDS + 90))
    while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
        if answers_metadata "127.0.0.1:$port"; then
            echo "KAFKA_BROKERS=127.0.0.1:$port" >"$dir/env"
            return 0
        fi
        sleep 0.5
    done
    stop_pid "$dir/pid" 10
    grep -q 'Address already in use' "$dir/broker.log" && return 1
    tail -n 40 "$dir/broker.log" >&2
    return 2
}

start() {
    local dir=$1 rc attempt
    mkdir -p "$dir"
    fetch
    for attempt in 1 2 3; do
        rc=0
        try_start "$dir" || rc=$?
        [ "$rc" -eq 0 ] && return 0
        [ "$rc" -eq 1 ] || break
        say "kafka: port taken, retrying ($attempt)"
    done
    die "kafka: broker did not become ready (see $dir/broker.log)"
}

case "${1:-}" in
fetch) fetch ;;
start) start "${2:?usage: kafka.sh start DIR}" ;;
stop) stop_pid "${2:?usage: kafka.sh stop DIR}/pid" 30 ;;
*) die "usage: kafka.sh fetch | start DIR | stop DIR" ;;
esac
