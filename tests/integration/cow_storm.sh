#!/usr/bin/env bash
# A small copy-on-write storm on real guests: 4 memfill VMs converge under
# dedup, then all rewrite every page with unique data inside a budget of half
# their RAM. foldvm-bench runs it in its own memory cgroup and restores every
# host setting it touches. No VM may die and no write may be lost.
source "$(dirname "$0")/lib.sh"
BENCH="${FOLDVM_BENCH:?FOLDVM_BENCH must point at build/foldvm-bench}"
if [ "$(id -u)" -ne 0 ] || [ ! -d /sys/fs/cgroup/memory ]; then
    echo "SKIP: needs root and the cgroup v1 memory controller"; exit 77
fi
if ! [ -e /dev/userfaultfd ]; then echo "SKIP: /dev/userfaultfd is missing"; exit 77; fi

expect_rc storm 0 "$BENCH" overcommit --scenario cow-storm --engines foldvm --storm-vms 4 \
    --storm-mem 64M --converge-timeout 60 --storm-timeout 120 --outer-limit 2G
json=$(grep '^{' "$TMP/storm.out" | tail -1)
check() { # check NAME PYTHON-EXPR (over s, the foldvm result)
    if python3 -c "import json,sys; s=json.loads(sys.argv[1])['scenarios']['cow-storm']['foldvm']; sys.exit(0 if ($2) else 1)" "$json"; then
        pass "$1"; else fail "$1: $(echo "$json" | head -c 1500)"; fi
}
check "the guests converged under dedup first (>= 60% saved)" "s['converged']"
check "every VM rode the storm out" "s['rode_out'] and s['vms_killed'] == 0 and s['vms_completed'] == 4"
check "no lost write in the storm's verify round or at the end" \
    "s['storm_verify_mismatches'] == 0 and s['verify_mismatches'] == 0"
check "peak memory within the budget + 5%" "0 < s['peak_over_budget'] <= 1.05"
check "pages left memory (the budget was below the storm's need)" \
    "s['overcommit']['governor']['pages_swapped'] + s['overcommit']['governor']['pages_compressed'] > 0"
finish
