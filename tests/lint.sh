#!/usr/bin/env bash
# lint.sh -- `make lint`: formatting, banned functions, braces on every
# block, cppcheck, shellcheck, and the deploy files (tests/lint_deploy.py:
# compose schema, Kubernetes manifests, Dockerfile, systemd unit). Exit 1
# on any finding.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
# deps/: third-party sources as released upstream, not ours to format
C_FILES=$(git ls-files '*.c' '*.h' ':!:deps/')
SH_FILES=$(git ls-files '*.sh' .ci/run ':!:deps/')
rc=0
fail() { echo "lint: $*"; rc=1; }

# shellcheck disable=SC2086 # word splitting of file lists is intended
clang-format --dry-run -Werror $C_FILES || fail "clang-format (fix: clang-format -i FILE)"

banned='\b(sprintf|vsprintf|strcpy|strcat|gets|strncpy|strncat|atoi|atol|atoll|sscanf|strtok|strerror|localtime|signal|system|popen)[[:space:]]*\('
# shellcheck disable=SC2086
if grep -nE "$banned" $C_FILES; then
    fail "banned functions (docs/c-style.md section 18)"
fi

# Braces on every block: after if/for/while/else (...), the next token
# must be "{" (clang-format 14 has no InsertBraces).
# shellcheck disable=SC2086
python3 - $C_FILES <<'PY' || fail "a control statement without braces"
import re, sys
bad = 0
for path in sys.argv[1:]:
    src = open(path, encoding="utf-8").read()
    src = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group()), src, flags=re.S)
    src = re.sub(r'"(\\.|[^"\\\n])*"', '""', src)
    for m in re.finditer(r"\b(if|for|while|switch)\s*\(", src):
        if src[:m.start()].rstrip().endswith("#define") or "#" in src[src.rfind("\n", 0, m.start()):m.start()]:
            continue
        depth, i = 1, m.end()
        while depth and i < len(src):
            depth += {"(": 1, ")": -1}.get(src[i], 0)
            i += 1
        rest = src[i:].lstrip()
        if m.group(1) == "while" and src[:m.start()].rstrip().endswith("}"):
            continue  # do { } while (...);
        if not rest.startswith("{") and not (m.group(1) in ("for", "while") and rest.startswith(";")):
            line = src.count("\n", 0, m.start()) + 1
            print(f"{path}:{line}: {m.group(1)} without braces")
            bad += 1
    for m in re.finditer(r"\belse\b(?!\s*(\{|if\b))", src):
        print(f"{path}:{src.count(chr(10), 0, m.start()) + 1}: else without braces")
        bad += 1
sys.exit(1 if bad else 0)
PY

# shellcheck disable=SC2086
cppcheck -q --error-exitcode=1 --enable=warning,portability --inline-suppr \
    --suppress=missingIncludeSystem -Iservice/src -Iservice/sim \
    -D__GNUC__ $C_FILES || fail "cppcheck"

# shellcheck disable=SC2086
shellcheck -x -P SCRIPTDIR $SH_FILES || fail "shellcheck"

build/lint-venv/bin/python tests/lint_deploy.py || fail "deploy files"

[ "$rc" -eq 0 ] && echo "lint: clean"
exit "$rc"
