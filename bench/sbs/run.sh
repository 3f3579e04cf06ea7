#!/bin/sh
# run.sh - libqwq and llama.cpp side by side on the same GGUF files, in
# alternating runs (the speed of this kind of VM drifts by tens of percent
# within minutes, so only ratios measured in the same minutes mean much).
#
#   sh bench/sbs/run.sh [options]
#
#   --types L    space-separated model types (default "q4_0 q4_K_M q8_0"): the
#                4-layer QwQ-32B-shape files build/models/qwq32b-4l-TYPE.gguf,
#                generated with qwq-gen when missing (as run-qwq32b-shape.sh)
#   --tests L    "pp", "tg" or both (default "pp tg"): pp512 and tg128
#   --rounds N   alternating rounds per type and test (default 3); each round
#                is one qwq-bench and one llama.cpp call of 3 timed runs
#                (median) after a warm-up run
#   -t N         threads of both engines (default 2)
#   --llama DIR  where node-llama-cpp is installed (default build/llama-node)
#   --install    first install it there: npm install node-llama-cpp@3.22.1
#                (needs node and npm; the package ships prebuilt CPU builds
#                of llama.cpp, so nothing is compiled)
#   --cached     leave the page cache alone (default: drop each model file
#                from it once before its first run, so that the library's
#                MADV_HUGEPAGE mapping faults it back in as 2 MiB folios;
#                see bench/README.md, "Page size of the weights")
#   --no-probe   no bandwidth probe around the decode rounds (default: one
#                before and one after each tg round, qwq-bench's probe of 3
#                passes; both engines' decode is then also given as a share
#                of the probe: weights read per token x tok/s / the mean of
#                the two probes' best passes, as qwq-bench computes it)
#
# llama.cpp is not a dependency of libqwq: this script is only for
# measuring the ratios the speed targets are stated in
# (../shared/design/PERFORMANCE.md). Output: one line per round, then a
# table of the median ratio per type and test. Run it on a quiet machine.
set -eu

cd "$(dirname "$0")/../.."
BUILD=build
TYPES="q4_0 q4_K_M q8_0"
TESTS="pp tg"
ROUNDS=3
T=2
LLAMA=$BUILD/llama-node
INSTALL=0
CACHED=0
PROBE=1

while [ $# -gt 0 ]; do
    case $1 in
    --types) TYPES=$2; shift 2 ;;
    --tests) TESTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -t) T=$2; shift 2 ;;
    --llama) LLAMA=$2; shift 2 ;;
    --install) INSTALL=1; shift ;;
    --cached) CACHED=1; shift ;;
    --no-probe) PROBE=0; shift ;;
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$INSTALL" = 1 ]; then
    mkdir -p "$LLAMA"
    npm install --prefix "$LLAMA" --no-audit --no-fund node-llama-cpp@3.22.1 >&2
fi
if [ ! -d "$LLAMA/node_modules/node-llama-cpp" ]; then
    echo "run.sh: node-llama-cpp not found in $LLAMA (run with --install, or --llama DIR)" >&2
    exit 2
fi
# an ES module resolves bare imports from its own folder upwards (not
# NODE_PATH): run a copy of the script placed beside the install
cp bench/sbs/llama_bench.mjs "$LLAMA/llama_bench.mjs"

make -s all >/dev/null
mkdir -p $BUILD/models
. bench/models.sh

size() { # test -> its token count
    if [ "$1" = pp ]; then echo 512; else echo 128; fi
}
ours() { # file test
    n=$(size "$2")
    if [ "$2" = pp ]; then sizes="-p $n -n 0"; else sizes="-p 0 -n $n --interleave 0"; fi
    # shellcheck disable=SC2086
    $BUILD/bin/qwq-bench -m "$1" -t "$T" $sizes -r 3 -q --no-probe --loads 1 $warm | awk -v t="$2$n" '$1 == t { print $2 }'
}
probe() { # file -> "GB/s read_per_token_bytes": the probe's mean best pass
    $BUILD/bin/qwq-bench -m "$1" -t "$T" -p 0 -n 0 -q --loads 1 --probe-passes 3 --json |
        awk -F'[:,]' '/"read_per_token_bytes"/ { rb = $2 + 0 } /"gb_s"/ && !/median|best/ { g = $2 + 0 }
                      END { printf "%.3f %.0f\n", g, rb }'
}
share() { # "probe_before probe_after" tok/s -> percent of the mean probe (probe lines are "GB/s bytes")
    echo "$1 $2" | awk '{ g = ($1 + $3) / 2; printf "%.1f", (g > 0 ? 100 * $5 * $2 / 1e9 / g : 0) }'
}
median_rows() { # lines "NAME1 NAME2 v1 v2 ..." -> "NAME1 NAME2 median min max" (non-numbers "-" skipped)
    awk 'NF > 2 {
        n = 0
        for (i = 3; i <= NF; i++) if ($i != "-") v[++n] = $i + 0
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        if (n == 0) print $1, $2, "-"
        else print $1, $2, v[int((n + 1) / 2)], v[1], v[n]
    }'
}
theirs() { # file test
    node "$LLAMA/llama_bench.mjs" "$1" "$2" "$(size "$2")" 3 "$T" | awk '{ print $3 }'
}

SUMMARY=""
EFFS=""
for ty in $TYPES; do
    f=$BUILD/models/qwq32b-4l-$ty.gguf
    model_gen "$ty" 4 "$f"
    # only the first run after the drop faults the file in (round 1 runs
    # libqwq first): the later ones find it in the page cache
    warm=""
    if [ "$CACHED" = 0 ]; then
        model_drop "$f"
        warm=--no-warm
    fi
    for test in $TESTS; do
        ratios=""
        effs_a=""
        effs_b=""
        i=1
        while [ $i -le "$ROUNDS" ]; do
            p0=""
            if [ "$PROBE" = 1 ] && [ "$test" = tg ]; then p0=$(probe "$f"); fi
            if [ $((i % 2)) = 1 ]; then
                a=$(ours "$f" $test); b=$(theirs "$f" $test)
            else
                b=$(theirs "$f" $test); a=$(ours "$f" $test)
            fi
            warm=""
            r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.3f", a / b; else print "-" }')
            eff=""
            if [ -n "$p0" ]; then
                p1=$(probe "$f")
                ea=$(share "$p0 $p1" "$a"); eb=$(share "$p0 $p1" "$b")
                eff="; probe $(echo "$p0 $p1" | awk '{ printf "%.1f GB/s (%.1f, %.1f)", ($1 + $3) / 2, $1, $3 }'): libqwq $ea%, llama.cpp $eb% of it"
                effs_a="$effs_a $ea"
                effs_b="$effs_b $eb"
            fi
            echo "$ty $test round $i: libqwq $a tok/s, llama.cpp $b tok/s, ratio $r$eff"
            ratios="$ratios $r"
            i=$((i + 1))
        done
        SUMMARY="$SUMMARY
$ty $test$ratios"
        if [ -n "$effs_a" ]; then EFFS="$EFFS
$ty libqwq$effs_a
$ty llama.cpp$effs_b"; fi
    done
done

echo
echo "| model | test | ratio libqwq / llama.cpp: median (min - max) over $ROUNDS rounds |"
echo "| --- | --- | --- |"
echo "$SUMMARY" | median_rows | awk '{
    test = $2 == "pp" ? "pp512" : "tg128"
    if (NF < 5) printf "| %s | %s | - |\n", $1, test
    else printf "| %s | %s | %.2fx (%.2f - %.2f) |\n", $1, test, $3, $4, $5
}'
if [ -n "$EFFS" ]; then
    echo
    echo "| model | engine | tg128 share of the probe: median (min - max) over $ROUNDS rounds |"
    echo "| --- | --- | --- |"
    echo "$EFFS" | median_rows | awk '{ printf "| %s | %s | %.1f%% (%.1f - %.1f) |\n", $1, $2, $3, $4, $5 }'
fi
