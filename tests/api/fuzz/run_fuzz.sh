#!/usr/bin/env bash
# Builds tests/api/fuzz/fuzz_request.cpp with clang's libFuzzer (+ASan/UBSan)
# against the project's static libraries and fuzzes the API request path for
# a bounded time. Exit 77 (skip) when clang/libFuzzer or /dev/kvm is missing.
#
# usage: run_fuzz.sh SOURCE_ROOT BUILD_ROOT SECONDS GUEST_ELF LIB...
set -euo pipefail
src=$1 build=$2 secs=$3 guest=$4
shift 4
libs=("$@")

skip() { echo "SKIP: $*"; exit 77; }
command -v clang++ >/dev/null || skip "clang++ is not installed (the fuzz target needs libFuzzer)"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not available (handlers run on a real Host)"
out=$build/tests/api/fuzz
mkdir -p "$out"
probe=$out/probe.cpp
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe"
clang++ -fsanitize=fuzzer "$probe" -o "$out/probe" 2>/dev/null ||
    skip "clang++ cannot link -fsanitize=fuzzer (libFuzzer runtime missing)"

sources=("$src"/tests/api/fuzz/fuzz_request.cpp "$src"/vmm/api/router.cpp
         "$src"/vmm/api/json_input.cpp "$src"/vmm/api/json_output.cpp
         "$src"/vmm/api/host_memory.cpp "$src"/vmm/api/vm_lookup.cpp
         "$src"/vmm/api/resource_*.cpp "$src"/vmm/api/memory_*.cpp)
bin=$out/fuzz_request
rebuild=0
[ -x "$bin" ] || rebuild=1
if [ $rebuild -eq 0 ]; then
    for f in "${sources[@]}" "${libs[@]}" "$src"/vmm/api/*.hpp "$src"/vmm/config/*.hpp "$0"; do
        [ "$f" -nt "$bin" ] && rebuild=1 && break
    done
fi
if [ $rebuild -eq 1 ]; then
    echo "building $bin"
    # Same layout-affecting flags as the meson build of the libraries.
    clang++ -std=c++20 -O1 -g -fno-omit-frame-pointer -D_FILE_OFFSET_BITS=64 -DBOOST_ALL_NO_LIB \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$src" "${sources[@]}" -Wl,--start-group "${libs[@]}" -Wl,--end-group \
        -lxxhash -lmimalloc -llz4 -lzstd -lsodium -pthread -o "$bin.tmp"
    mv "$bin.tmp" "$bin"
fi

corpus=$out/corpus
mkdir -p "$corpus"
cp -n "$src"/tests/api/fuzz/seeds/* "$corpus"/
# Seeds that reach VM creation need the guest's real path.
body="{\"kernel\":\"$guest\",\"mem_mib\":8}"
printf 'POST /vms HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    ${#body} "$body" >"$corpus/create-vm"
printf 'POST /vms HTTP/1.1\r\nContent-Length: %d\r\n\r\n%sPUT /vms/1/state HTTP/1.1\r\nContent-Length: 18\r\n\r\n{"state":"paused"}GET /vms/1 HTTP/1.1\r\n\r\nDELETE /vms/1 HTTP/1.1\r\n\r\n' \
    ${#body} "$body" >"$corpus/vm-lifecycle"
body="{\"kernel\":\"$guest\",\"mem_mib\":8,\"balloon\":{\"amount_mib\":2,\"stats_polling_interval_s\":1}}"
printf 'POST /vms HTTP/1.1\r\nContent-Length: %d\r\n\r\n%sPATCH /vms/1/balloon HTTP/1.1\r\nContent-Length: 16\r\n\r\n{"amount_mib":4}GET /vms/1/balloon/statistics HTTP/1.1\r\n\r\nDELETE /vms/1 HTTP/1.1\r\n\r\n' \
    ${#body} "$body" >"$corpus/vm-balloon"

echo "fuzzing the API request path for ${secs}s"
# libFuzzer's own error exit code is 77, which meson reads as "skipped":
# a crash must fail the test, so it exits 1 and the pipeline is checked by hand.
set +e
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin" -error_exitcode=1 -max_total_time="$secs" -max_len=8192 -timeout=20 -rss_limit_mb=4096 \
    -dict="$src/tests/api/fuzz/http.dict" -print_final_stats=1 "$corpus" 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || { echo "fuzzer found a problem (exit $status); see crash-* in $(pwd)"; exit 1; }
echo "no crashes in ${secs}s"
