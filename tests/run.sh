#!/bin/sh
# Runs every test program in BUILD/tests and adds up their summary lines
# ("N passed, M failed, K skipped"). A program that crashes or prints no
# summary counts as one failure. Ends with the total line; exits non-zero on
# any failure.
build=${1:-build}
total_p=0; total_f=0; total_s=0
log=$build/tests/last-run.log
: > "$log"
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    start=$(date +%s)
    out=$("$t" 2>>"$log"); rc=$?
    end=$(date +%s)
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: crashed or printed no summary (exit $rc); see $log"
        total_f=$((total_f + 1))
        continue
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    echo "$name: $line ($((end - start)) s)"
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
done
if [ "$total_f" -ne 0 ]; then
    echo "--- failures (from $log) ---"
    grep -E '^(FAIL|not ok)' "$log" | head -n 60
fi
echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ]
