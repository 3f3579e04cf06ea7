#!/bin/sh
# Runs every test program in BUILD/tests and adds up their summary lines
# ("N passed, M failed, K skipped"). A program that crashes or prints no
# summary counts as one failure. Ends with the total line; exits non-zero on
# any failure.
#
# A second phase runs the aarch64 binaries that `make cross-aarch64` built
# into BUILD/aarch64/tests under qemu-user (see that phase below); their
# summary lines count in the same total. `run.sh --aarch64-only BUILD` (make
# test-aarch64) runs only that phase.
phase1=true
if [ "${1:-}" = --aarch64-only ]; then phase1=false; shift; mkdir -p "${1:-build}/tests"; fi
build=${1:-build}
total_p=0; total_f=0; total_s=0
log=$build/tests/last-run.log
: > "$log"
# count LABEL EXIT SECONDS SUMMARY-LINE: prints the program's line and adds
# it to the totals; no summary line (a crash) is one failure, and so is a
# non-zero exit with no failure counted.
count() {
    if [ -z "$4" ]; then
        echo "$1: crashed or printed no summary (exit $2); see $log"
        echo "FAIL $1: crashed or printed no summary (exit $2)" >> "$log"
        total_f=$((total_f + 1))
        return
    fi
    p=$(echo "$4" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$4" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$4" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    echo "$1: $4 ($3 s)"
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
}
for t in "$build"/tests/test_*; do
    $phase1 || break
    [ -x "$t" ] || continue
    name=$(basename "$t")
    start=$(date +%s)
    out=$("$t" 2>>"$log"); rc=$?
    end=$(date +%s)
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    count "$name" "$rc" "$((end - start))" "$line"
done
# ---- phase 2: aarch64 under qemu-user ----------------------------------------
# Three passes over the cross-built tests: the default CPU (it has the dot
# product, so the dotprod level is selected): every test; the same CPU capped
# to the plain NEON level by QWQ_MAX_SIMD=neon, and a Cortex-A53 (no dot
# product: detection must say neon): the kernel tests. test_reference runs in
# the first pass only: under emulation it takes minutes, almost all of them
# in the f16 gemm, which is the same code at both levels. The first pass runs
# beside the other two. Without the cross-built tests (no
# aarch64-linux-gnu-gcc) or without qemu-aarch64 the passes' test runs are
# reported as skipped, and as failures under CI=true. An aarch64 host ran the
# ARM kernels natively above, so it has no second phase.
a64=$build/aarch64
a64_all="test_ops test_quant test_kernels_arm test_attn test_reference"
a64_kernels="test_ops test_kernels_arm test_attn"
a64_qemu=${QEMU_AARCH64:-qemu-aarch64}
a64_root=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
a64_pass() { # label cpu "env assignments" tests: results to $a64/pass-label.out
    : > "$a64/pass-$1.out"
    : > "$a64/pass-$1.log"
    for name in $4; do
        [ -x "$a64/tests/$name" ] || continue
        start=$(date +%s)
        out=$(env $3 "$a64_qemu" -L "$a64_root" ${2:+-cpu "$2"} "$a64/tests/$name" 2>>"$a64/pass-$1.log"); rc=$?
        end=$(date +%s)
        line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
        echo "$name|$rc|$((end - start))|$line" >> "$a64/pass-$1.out"
    done
}
if [ "$(uname -m)" != aarch64 ]; then
    a64_missing=""
    command -v "$a64_qemu" >/dev/null 2>&1 || a64_missing="$a64_qemu not found"
    [ -x "$a64/tests/test_kernels_arm" ] || a64_missing="${a64_missing:+$a64_missing; }no cross-built tests in $a64/tests (aarch64-linux-gnu-gcc missing?)"
    if [ -n "$a64_missing" ]; then
        set -- $a64_all; n=$#; set -- $a64_kernels; n=$((n + 2 * $#)) # the three passes' runs
        if [ "${CI:-}" = true ]; then
            echo "aarch64 (qemu): $a64_missing: $n test runs failed (CI=true)"
            echo "FAIL aarch64 phase: $a64_missing" >> "$log"
            total_f=$((total_f + n))
        else
            echo "aarch64 (qemu): $a64_missing: $n test runs skipped"
            total_s=$((total_s + n))
        fi
    else
        a64_pass dotprod "" "QWQ_MAX_SIMD= QWQ_EXPECT_SIMD=dotprod" "$a64_all" &
        a64_pid=$!
        a64_pass neon "" "QWQ_MAX_SIMD=neon QWQ_EXPECT_SIMD=dotprod" "$a64_kernels"
        a64_pass a53 cortex-a53 "QWQ_MAX_SIMD= QWQ_EXPECT_SIMD=neon" "$a64_kernels"
        wait "$a64_pid"
        for pass in dotprod neon a53; do
            sed -E "s#^(FAIL|not ok|SKIP) #\1 [aarch64/$pass] #" "$a64/pass-$pass.log" >> "$log"
            while IFS='|' read -r name rc secs line; do
                count "aarch64/$pass $name" "$rc" "$secs" "$line"
            done < "$a64/pass-$pass.out"
        done
    fi
fi

if [ "$total_f" -ne 0 ]; then
    echo "--- failures (from $log) ---"
    grep -E '^(FAIL|not ok)' "$log" | head -n 60
fi
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
