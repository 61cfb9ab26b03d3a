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
#
# With SASL_TLS_DIR (a tls.sh directory holding kafka.pem/kafka.key),
# SASL_USER and SASL_PASSWORD_FILE set, the broker gets a second client
# listener, SASL_SSL with SCRAM-SHA-512 only, as Confluent Cloud and MSK
# run it: its keystore is a PKCS12 made here from that certificate, the
# user is created at format time (KRaft: StorageTool --add-scram), and
# DIR/sasl.env names the listener. Inter-broker and controller traffic
# stay on the PLAINTEXT listeners (one node).
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

sasl_on() {
    [ -n "${SASL_TLS_DIR:-}" ]
}

# The broker's keystore: PKCS12 (Java 17 reads OpenSSL 3's PBES2) with a
# random store password, which only server.properties (0600) holds.
sasl_keystore() {
    local dir=$1
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' \
        >"$dir/keystore.pass")
    (umask 077 && openssl pkcs12 -export -name kafka \
        -in "$SASL_TLS_DIR/kafka.pem" -inkey "$SASL_TLS_DIR/kafka.key" \
        -passout "file:$dir/keystore.pass" -out "$dir/keystore.p12")
}

write_config() {
    local dir=$1 port=$2 cport=$3 sport=$4 listeners advertised map
    listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
    advertised="PLAINTEXT://127.0.0.1:$port"
    map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    if sasl_on; then
        listeners="$listeners,SASL_SSL://127.0.0.1:$sport"
        advertised="$advertised,SASL_SSL://127.0.0.1:$sport"
        map="$map,SASL_SSL:SASL_SSL"
    fi
    (umask 077 && : >"$dir/server.properties") # the keystore password
    cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=$map
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
    if sasl_on; then
        cat >>"$dir/server.properties" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$dir/keystore.p12
listener.name.sasl_ssl.ssl.keystore.password=$(cat "$dir/keystore.pass")
listener.name.sasl_ssl.ssl.key.password=$(cat "$dir/keystore.pass")
PROPS
    fi
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

# The SASL_SSL listener as a client sees it: TLS verified against the
# stack's CA, the SCRAM user logged in. kcat -F keeps the password off
# the command line.
sasl_answers() {
    local dir=$1 sport=$2
    (umask 077 && cat >"$dir/sasl-client.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$SASL_USER
sasl.password=$(cat "$SASL_PASSWORD_FILE")
ssl.ca.location=$SASL_TLS_DIR/ca.pem
PROPS
    )
    kcat -F "$dir/sasl-client.properties" -b "127.0.0.1:$sport" -L -m 5 \
        2>"$dir/sasl-check.log" | grep -q '^ 1 brokers:'
}

# StorageTool arguments creating the SCRAM user (KRaft keeps credentials
# in the metadata log: they exist from the first start). The password is
# on the format's command line for a second: a throwaway local stack.
scram_args() {
    sasl_on || return 0
    printf '%s\n' --add-scram \
        "SCRAM-SHA-512=[name=$SASL_USER,password=$(cat "$SASL_PASSWORD_FILE")]"
}

# One attempt on fresh ports; 0 ready, 1 port race (retry), 2 other error.
try_start() {
    local dir=$1 port cport sport cid log4j pid deadline scram
    port=$(free_port)
    cport=$(free_port)
    sport=$(free_port)
    rm -rf "$dir/data"
    write_config "$dir" "$port" "$cport" "$sport"
    # a random base64url id; one that starts with '-' reads as an option
    # to the storage tool (1 start in 64 failed so): draw again
    while cid=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=') &&
        [[ $cid == -* ]]; do :; done
    log4j="-Dlog4j.configuration=file:$dir/log4j.properties"
    mapfile -t scram < <(scram_args)
    java -Xmx256m "$log4j" -cp "$LIBS/*" kafka.tools.StorageTool format \
        -t "$cid" -c "$dir/server.properties" "${scram[@]}" \
        >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; return 2; }
    java -Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true "$log4j" -cp "$LIBS/*" kafka.Kafka \
        "$dir/server.properties" >"$dir/broker.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pid"
    deadline=$((SECONDS + 90))
    while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
        if answers_metadata "127.0.0.1:$port"; then
            echo "KAFKA_BROKERS=127.0.0.1:$port" >"$dir/env"
            sasl_on || return 0
            sasl_answers "$dir" "$sport" || break
            echo "KAFKA_SASL_BROKERS=127.0.0.1:$sport" >"$dir/sasl.env"
            return 0
        fi
        sleep 0.5
    done
    stop_pid "$dir/pid" 10
    grep -q 'Address already in use' "$dir/broker.log" && return 1
    tail -n 40 "$dir/broker.log" >&2
    [ -s "$dir/sasl-check.log" ] && tail -n 20 "$dir/sasl-check.log" >&2
    return 2
}

start() {
    local dir=$1 rc attempt
    mkdir -p "$dir"
    fetch
    if sasl_on; then
        sasl_keystore "$dir"
    fi
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
