#!/usr/bin/env bash
# tls.sh -- the local stack's certificate authority: one CA per stack, made
# at stack start, and server certificates it signs for 127.0.0.1 and
# localhost, so every border (Kafka, Redis, hms-sim) is tested with
# certificate verification on, as production runs it.
#
#   tls.sh ca DIR            DIR/ca.pem (+ ca.key, 0600), once per stack
#   tls.sh cert DIR NAME [HOST...]
#                            DIR/NAME.pem + DIR/NAME.key, signed by the CA
#                            (subjectAltName IP:127.0.0.1, DNS:localhost,
#                            and DNS:HOST for each HOST: a compose service)
#
# Keys are EC P-256 (fast to make); certificates live TLS_DAYS (2) days: a
# stack is never older (docker-compose.yml asks for more).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DAYS=${TLS_DAYS:-2}

ca() {
    local dir=$1
    mkdir -p "$dir"
    [ -s "$dir/ca.pem" ] && return 0
    (umask 077 && openssl ecparam -name prime256v1 -genkey -noout \
        -out "$dir/ca.key")
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$DAYS" \
        -subj "/CN=hms-worker local stack CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/ca.pem" 2>/dev/null
}

cert() {
    local dir=$1 name=$2 san="IP:127.0.0.1,DNS:localhost" host
    shift 2
    for host in "$@"; do san="$san,DNS:$host"; done
    [ -s "$dir/ca.pem" ] || die "tls.sh: no CA in $dir (tls.sh ca $dir first)"
    (umask 077 && openssl ecparam -name prime256v1 -genkey -noout \
        -out "$dir/$name.key")
    openssl req -new -key "$dir/$name.key" -subj "/CN=localhost" \
        -out "$dir/$name.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" \
        -CAkey "$dir/ca.key" -CAcreateserial -days "$DAYS" -sha256 \
        -extfile <(printf '%s\n' \
            "subjectAltName=$san" \
            "extendedKeyUsage=serverAuth,clientAuth") \
        -out "$dir/$name.pem" 2>/dev/null
    rm -f "$dir/$name.csr"
}

case "${1:-}" in
ca) ca "${2:?usage: tls.sh ca DIR}" ;;
cert) cert "${2:?usage: tls.sh cert DIR NAME [HOST...]}" \
    "${3:?usage: tls.sh cert DIR NAME [HOST...]}" "${@:4}" ;;
*) die "usage: tls.sh ca DIR | cert DIR NAME [HOST...]" ;;
esac
