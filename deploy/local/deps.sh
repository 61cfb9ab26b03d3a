#!/usr/bin/env bash
# deps.sh -- installs what building, testing and `make dev` need on Debian:
# -dev packages, redis-server, kcat, clang with libFuzzer, a JRE and Maven,
# the Python test tools (build/venv) and the Kafka broker jars
# (build/kafka/libs). Idempotent and quiet when everything is there.
# --lint adds the linters.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

pkgs=(gcc make pkg-config librdkafka-dev libavro-dev libssl-dev
      libcurl4-openssl-dev libhiredis-dev libmicrohttpd-dev libjansson-dev
      redis-server kcat curl valgrind clang libclang-rt-14-dev)
[ "${1:-}" = --lint ] && pkgs+=(clang-format cppcheck shellcheck)
command -v java >/dev/null || pkgs+=(default-jre-headless)
command -v mvn >/dev/null || pkgs+=(maven)
command -v python3 >/dev/null || pkgs+=(python3)
python3 -m venv --help >/dev/null 2>&1 || pkgs+=(python3-venv)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "deps: installing ${missing[*]}"
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python test tools, pinned; reinstalled only when the pins change.
venv=build/venv
want=$(sha256sum tests/requirements.txt | cut -c1-16)
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
    say "deps: creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        -r tests/requirements.txt
    echo "$want" >"$venv/.stamp"
fi

deploy/local/kafka.sh fetch
