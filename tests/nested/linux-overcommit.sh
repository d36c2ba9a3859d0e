#!/bin/bash
# (f) A Linux guest whose memory was evicted keeps running and checks its own
# data. The guest writes 24 MiB of random bytes to a tmpfs and prints their
# checksum every 2 s. Once it has, the VM is parked over the REST API
# (foldctl vm park): its pages go to the tiers (random bytes to the swap
# file). Then it is unparked, and each read of the file faults its pages
# back through the pager. Every checksum the guest prints, before and after,
# must be the same, and the pager must have served faults. (While parked, a
# busy guest crawls: the governor evicts what it faults back at every tick.)
source "$(dirname "$0")/lib.sh"
need_linux_boot
"$FOLDVM" run --help 2>&1 | grep -q -- '--mem-budget' || skip "this foldvm has no 'run --mem-budget'"

sock=$PWD/api.sock
mkdir -p swap
work='sh -c "mount -t tmpfs -o size=100% tmpfs /mnt; dd if=/dev/urandom of=/mnt/data bs=1M count=24 2>/dev/null; while true; do echo sum $(md5sum /mnt/data | cut -c1-32); sleep 2; done"'
# Boot alone takes about two minutes at this level (TCG under L1).
FOLDVM_TIMEOUT=480 foldvm_linux_bg run.out run.err --mem 256M --dedup builtin --mem-budget 2G --swap-dir "$PWD/swap" \
    --api-sock "$sock" -- "$work"
pid=$VMM_PID
wait_for run.out '^sum [0-9a-f]{32}' 300 "$pid" || { show run.out; show run.err; die "the guest printed no checksum"; }
grep -q 'no userfaultfd' run.err && skip "foldvm's pager has no userfaultfd on L1's kernel"
pass "the guest wrote 24 MiB and printed its checksum"

id=$("$FOLDCTL" --sock "$sock" --json vm ls | grep -o '"id": *"\{0,1\}[0-9a-z-]*' | sed -n '1s/.*: *"\{0,1\}//p')
[ -n "$id" ] || die "no VM id from foldctl vm ls"
# mem_field NAME: a number from GET /vms/{id}/memory.
mem_field() {
    "$FOLDCTL" --sock "$sock" --json vm memory "$id" 2>/dev/null |
        grep -o "\"$1\": *[0-9]*" | sed -n '1s/.*: *//p'
}
"$FOLDCTL" --sock "$sock" vm park "$id" >park.out 2>&1 || { show park.out; die "foldctl vm park $id failed"; }
resident=$(mem_field resident_pages) evicted=$(( $(mem_field swapped_pages) + $(mem_field compressed_pages) + $(mem_field zero_pages) ))
echo "info: parked: resident_pages=$resident evicted_pages=$evicted"
if [ "$evicted" -ge 6144 ]; then pass "parking moved >= 24 MiB to the tiers ($evicted pages)"; else
    fail "parking moved only $evicted pages to the tiers (want >= 6144: the guest's random data)"; fi
"$FOLDCTL" --sock "$sock" vm unpark "$id" >unpark.out 2>&1 || { show unpark.out; die "foldctl vm unpark $id failed"; }

# Two more checksums, read back through the pager.
n=$(grep -c '^sum ' run.out)
t0=$(now_ms)
while [ "$(grep -c '^sum ' run.out)" -lt $((n + 2)) ] && [ $(( $(now_ms) - t0 )) -lt 150000 ]; do
    kill -0 "$pid" 2>/dev/null || { show run.err; die "foldvm exited after the park"; }
    sleep 1
done
after=$(grep -c '^sum ' run.out)
if [ "$after" -ge $((n + 2)) ]; then pass "the guest kept running ($((after - n)) more checksums)"; else
    fail "the guest printed $((after - n)) checksums in 150 s after unpark (want 2)"; fi
sums=$(grep '^sum ' run.out | sort -u | wc -l)
if [ "$sums" -eq 1 ]; then pass "every checksum is the same ($after of them)"; else
    fail "$sums different checksums: data changed under eviction"; grep '^sum ' run.out | sed 's/^/    | /'; fi
faults=$(( $(mem_field faults_swap) + $(mem_field faults_compressed) ))
if [ "$faults" -gt 0 ]; then pass "the pager served $faults faults from the tiers"; else
    fail "no faults from the tiers"; fi
"$FOLDCTL" --sock "$sock" vm memory "$id" 2>&1 | sed 's/^/    | /'
kill "$pid" 2>/dev/null || true
finish
