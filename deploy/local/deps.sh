#!/usr/bin/env bash
# deps.sh -- installs what building, testing and `make dev` need on Debian:
# -dev packages, redis-server, kcat, clang with libFuzzer, a JRE and Maven,
# the Python test tools (build/venv), the Karapace schema registry
# (build/karapace-venv, from tests/vendor) and the Kafka broker jars
# (build/kafka/libs). Idempotent and quiet when everything is there.
# --lint adds the linters.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

pkgs=(gcc make pkg-config librdkafka-dev libavro-dev libssl-dev
      libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev
      redis-server kcat curl valgrind clang libclang-rt-14-dev)
[ "${1:-}" = --lint ] && pkgs+=(clang-format cppcheck shellcheck systemd)
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

# Python tools, pinned; a venv is rebuilt only when its pins change.
make_venv() { # DIR REQUIREMENTS
    local want
    want=$(sha256sum "$2" | cut -c1-16)
    [ "$(cat "$1/.stamp" 2>/dev/null)" = "$want" ] && return
    say "deps: creating $1"
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install -q --disable-pip-version-check -r "$2"
    echo "$want" >"$1/.stamp"
}
make_venv build/venv tests/requirements.txt
[ "${1:-}" = --lint ] && make_venv build/lint-venv tests/lint-requirements.txt

# Karapace (tests/vendor/README.md): its own venv, its pins from PyPI
# except the unreachable avro fork (PyPI's avro stands in), then the
# package from a copy (its setup.py writes karapace/version.py into the
# tree it builds). Rebuilt when any vendored file changes.
KARAPACE_SRC=tests/vendor/karapace-3.15.2
make_karapace() { # DIR
    local want tmp
    want=$(find "$KARAPACE_SRC" -type f -print0 | sort -z | xargs -0 sha256sum |
        sha256sum | cut -c1-16)
    [ "$(cat "$1/.stamp" 2>/dev/null)" = "$want" ] && return
    say "deps: creating $1 (Karapace)"
    rm -rf "$1"
    python3 -m venv "$1"
    "$1/bin/pip" install -q --disable-pip-version-check avro==1.11.3 \
        -r <(grep -v -e '^ *#' -e '^avro @' -e '^$' \
            "$KARAPACE_SRC/requirements/requirements.txt")
    tmp=$(mktemp -d)
    cp -r "$KARAPACE_SRC" "$tmp/src"
    KARAPACE_VERSION=3.15.2 "$1/bin/pip" install -q --disable-pip-version-check \
        --no-deps "$tmp/src"
    rm -rf "$tmp"
    "$1/bin/karapace" --version >/dev/null 2>&1 || die "deps: karapace does not run"
    echo "$want" >"$1/.stamp"
}
make_karapace build/karapace-venv

deploy/local/kafka.sh fetch
