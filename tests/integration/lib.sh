# Shared helpers for integration scripts: skip (exit 77) without KVM, and
# assertion helpers that name what failed.
set -u
FOLDVM="${FOLDVM:?FOLDVM must point at build/foldvm}"
GUESTS="${GUESTS:?GUESTS must point at build/guest-kernels}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
passes=0

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "SKIP: /dev/kvm is missing or not accessible"
    exit 77
fi

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; passes=$((passes + 1)); }

# expect_rc NAME WANT CMD...: runs CMD, stdout+stderr to $TMP/NAME.out
expect_rc() {
    local name=$1 want=$2
    shift 2
    "$@" >"$TMP/$name.out" 2>&1
    local rc=$?
    if [ "$rc" -eq "$want" ]; then pass "$name (exit $rc)"; else
        fail "$name: exit $rc, expected $want"; sed 's/^/    /' "$TMP/$name.out" | tail -20; fi
}
expect_grep() {
    local name=$1 pattern=$2
    if grep -qE -- "$pattern" "$TMP/$name.out"; then pass "$name output has /$pattern/"; else
        fail "$name output lacks /$pattern/"; sed 's/^/    /' "$TMP/$name.out" | tail -20; fi
}
expect_count() {
    local name=$1 pattern=$2 want=$3
    local got
    got=$(grep -cE -- "$pattern" "$TMP/$name.out")
    if [ "$got" -eq "$want" ]; then pass "$name: $want lines /$pattern/"; else
        fail "$name: $got lines /$pattern/, expected $want"; fi
}
finish() {
    echo "$passes passed, $failures failed"
    [ "$failures" -eq 0 ]
}
