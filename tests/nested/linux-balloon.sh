#!/bin/bash
# (c) The real Linux virtio_balloon driver inflates against foldvm's balloon
# device and foldvm's resident memory drops. The guest first dirties most of
# its RAM (fills a tmpfs, then deletes the file), so the pages the balloon
# takes are backed on the host; then the target is raised through the REST
# API (PATCH /vms/{id}/balloon via foldctl) and foldvm's VmRSS must fall.
source "$(dirname "$0")/lib.sh"
need_linux_boot
"$FOLDVM" run --help 2>&1 | grep -q -- '--balloon' || skip "this foldvm has no 'run --balloon'"

sock=$PWD/api.sock
# Fill all but 16 MiB of what the guest has available, report the size, idle.
fill='sh -c "mount -t tmpfs -o size=100% tmpfs /mnt; n=$(awk '"'"'/MemAvailable/ { print int($2 / 1024) - 16 }'"'"' /proc/meminfo); dd if=/dev/zero of=/mnt/fill bs=1M count=$n 2>/dev/null; rm /mnt/fill; echo filled $n; sleep 300"'
foldvm_linux_bg run.out run.err --mem 256M --dedup off --balloon amount_mib=0,deflate_on_oom=1 \
    --api-sock "$sock" -- "$fill"
pid=$VMM_PID
wait_for run.out '^filled [0-9]+' 150 "$pid" || { show run.out; show run.err; die "the guest did not report 'filled'"; }
filled=$(sed -n 's/^filled \([0-9]*\)$/\1/p' run.out)
pass "guest dirtied $filled MiB and freed it again"
vmm=$pid
sleep 1
before=$(rss_kib "$vmm")
target=$((filled - 16))
echo "info: foldvm VmRSS ${before} KiB before inflating to $target MiB"

id=$("$FOLDCTL" --sock "$sock" --json vm ls | grep -o '"id": *"\{0,1\}[0-9a-z-]*' | sed -n '1s/.*: *"\{0,1\}//p')
[ -n "$id" ] || die "no VM id from foldctl vm ls"
if "$FOLDCTL" --sock "$sock" vm balloon "$id" --amount-mib "$target" >patch.out 2>&1; then
    pass "PATCH balloon target $target MiB (vm $id)"
else
    show patch.out; die "foldctl vm balloon $id --amount-mib $target failed"
fi

# Wait until at least 60% of the target has left foldvm's RSS (90 s at most).
want=$((target * 1024 * 6 / 10)) t0=$(now_ms) after=$before
while [ $(( $(now_ms) - t0 )) -lt 90000 ]; do
    after=$(rss_kib "$vmm")
    [ $((before - after)) -ge "$want" ] && break
    sleep 0.5
done
secs=$(( ($(now_ms) - t0) / 1000 ))
echo "info: foldvm VmRSS ${after} KiB after ${secs} s (dropped $(( (before - after) / 1024 )) MiB)"
if [ $((before - after)) -ge "$want" ]; then pass "RSS dropped by >= $((want / 1024)) MiB"; else
    fail "RSS dropped by only $(( (before - after) / 1024 )) MiB, expected >= $((want / 1024)) MiB"
    "$FOLDCTL" --sock "$sock" vm balloon-stats "$id" 2>&1 | sed 's/^/    | /'
fi
"$FOLDCTL" --sock "$sock" --json vm balloon "$id" >balloon.json 2>&1 || true
echo "info: balloon: $(cat balloon.json)"
kill "$pid" 2>/dev/null || true
finish
