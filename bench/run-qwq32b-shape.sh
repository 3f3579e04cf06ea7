#!/bin/sh
# run-qwq32b-shape.sh - qwq-bench on random-weight models of the QwQ-32B shape
# (4 layers) in q4_0, q4_K_M and q8_0, next to the llama.cpp baseline of
# ../shared/design/PERFORMANCE.md, and optionally on the full 64-layer
# q4_K_M model (about 20 GB).
#
#   sh bench/run-qwq32b-shape.sh [options] [-- extra qwq-bench options]
#
#   -p N        prefill batch (default 512)
#   -n N        decoded tokens (default 128)
#   -r N        timed repetitions (default 5)
#   -t N        threads of the main runs (default 2)
#   --types L   space-separated list of types (default "q4_0 q4_K_M q8_0")
#   --no-1t     skip the 1-thread q4_K_M run
#   --full      also run the 64-layer QwQ-32B q4_K_M (load time, RSS, decode)
#   --full-n N  decoded tokens of the full-model run (default 16)
#   --keep      keep the full model file afterwards (default: delete it)
#   --out DIR   where the JSON results go (default build/bench)
#   --cached    leave the page cache alone (default: before each run, drop
#               the model file from it and run qwq-bench with --no-warm, so
#               the weights arrive in 2 MiB folios; see bench/README.md,
#               "Page size of the weights": a file just written by qwq-gen
#               sits in 4 KiB pages, and decode reads those 15-30% slower)
#
# Models go to build/models/ and are generated only when missing. Each run's
# JSON is kept in the output directory; the summary is printed at the end.
# Run it from the repository root (it changes there itself).
set -eu

cd "$(dirname "$0")/.."
BUILD=build
MODELS=$BUILD/models
OUT=$BUILD/bench
P=512
N=128
R=5
T=2
TYPES="q4_0 q4_K_M q8_0"
ONE_THREAD=1
FULL=0
FULL_N=16
KEEP=0
CACHED=0
EXTRA=""

usage() {
    sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case $1 in
    -p) P=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    -r) R=$2; shift 2 ;;
    -t) T=$2; shift 2 ;;
    --types) TYPES=$2; shift 2 ;;
    --no-1t) ONE_THREAD=0; shift ;;
    --full) FULL=1; shift ;;
    --full-n) FULL_N=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --cached) CACHED=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA="$*"; break ;;
    *) echo "run-qwq32b-shape.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

make -s all >/dev/null
mkdir -p "$MODELS" "$OUT"

# llama.cpp baseline (PERFORMANCE.md): pp512 tok/s, tg128 tok/s, GB read per token
baseline() {
    case $1 in
    q4_0) echo "80 20.1 1.736" ;;
    q4_K_M) echo "77 20.3 1.812" ;;
    q8_0) echo "63 11.4 2.900" ;;
    q4_K_M-1t) echo "28.3 8.4 1.812" ;;
    full-q4_K_M) echo "- 1.48 -" ;;
    *) echo "- - -" ;;
    esac
}

# Flattens qwq-bench's JSON (one key per line, as it prints it) into
# "path value" lines, e.g. "decode.tok_s.median 20.1", then picks one.
jget() { # file path
    awk -v want="$2" '
    function flush_inline(prefix, body,   n, i, kv, k, v) {
        n = split(body, kv, /, "/)
        for (i = 1; i <= n; i++) {
            k = kv[i]; sub(/^"/, "", k); v = k
            sub(/".*/, "", k); sub(/^[^:]*: */, "", v)
            if (prefix "." k == want) { print v; found = 1 }
        }
    }
    {
        line = $0; sub(/^ */, "", line); sub(/,$/, "", line)
        if (line ~ /^"[^"]*": \{$/) {            # "key": {
            k = line; sub(/^"/, "", k); sub(/".*/, "", k); stack[++depth] = k; next
        }
        if (line ~ /^\}/) { depth--; next }
        if (line !~ /^"/) next
        k = line; sub(/^"/, "", k); sub(/".*/, "", k)
        v = line; sub(/^"[^"]*": */, "", v)
        path = ""
        for (i = 1; i <= depth; i++) path = path (path == "" ? "" : ".") stack[i]
        full = path (path == "" ? "" : ".") k
        if (v ~ /^\{.*\}$/) { sub(/^\{/, "", v); sub(/\}$/, "", v); flush_inline(full, v); next }
        if (full == want) { gsub(/^"|"$/, "", v); print v; found = 1 }
    }
    END { if (!found) print "-" }' "$1"
}

ratio() { # ours theirs
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

fmt() { # printf format, value (or "-")
    awk -v f="$1" -v v="$2" 'BEGIN { if (v == "-" || v == "") print "-"; else printf f, v }'
}

. bench/models.sh

RESULTS=""
bench() { # label model threads p n
    json=$OUT/$1.json
    warm=""
    if [ "$CACHED" = 0 ]; then
        model_drop "$2"
        warm=--no-warm
    fi
    echo "== $1: qwq-bench -m $2 -t $3 -p $4 -n $5 -r $R $warm $EXTRA" >&2
    # shellcheck disable=SC2086
    $BUILD/bin/qwq-bench -m "$2" -t "$3" -p "$4" -n "$5" -r "$R" --json $warm $EXTRA >"$json"
    RESULTS="$RESULTS $1"
}

for ty in $TYPES; do
    f=$MODELS/qwq32b-4l-$ty.gguf
    model_gen "$ty" 4 "$f"
    bench "$ty" "$f" "$T" "$P" "$N"
    if [ "$ty" = q4_K_M ] && [ "$ONE_THREAD" = 1 ]; then
        bench "$ty-1t" "$f" 1 "$P" "$N"
    fi
done

if [ "$FULL" = 1 ]; then
    f=$MODELS/qwq32b-q4_K_M.gguf
    existed=0
    [ -f "$f" ] && existed=1
    model_gen q4_K_M 64 "$f"
    bench full-q4_K_M "$f" "$T" 0 "$FULL_N"
    if [ "$KEEP" = 0 ] && [ "$existed" = 0 ]; then
        rm -f "$f"
        echo "deleted $f (use --keep to keep it)" >&2
    fi
fi

# ---- summary --------------------------------------------------------------
first=$(echo "$RESULTS" | awk '{ print $1 }')
j=$OUT/$first.json
echo
echo "qwq-bench $(jget "$j" version), $(jget "$j" cpu.model), simd $(jget "$j" simd), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "QwQ-32B shape, random weights; llama.cpp figures from PERFORMANCE.md (llama-bench -t 2 -p 512 -n 128 -r 5)"
echo "tok/s are medians of $R runs; probe = mean of the best passes before and after decode, same threads;"
echo "amid = median over the runs of each run's GB/s over the probe passes run between its tokens"
echo
printf '| %-12s | %-3s | %-8s | %-8s | %-9s | %-9s | %-8s | %-8s | %-11s | %-9s | %-10s | %-7s | %-9s | %-9s |\n' \
    run thr test "tok/s" llama.cpp ratio test "tok/s" llama.cpp ratio "GB read/tok" "GB/s" "of probe" "amid"
printf '| %s |\n' "--- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | ---"
for r in $RESULTS; do
    j=$OUT/$r.json
    set -- $(baseline "$r")
    bpp=$1 btg=$2
    pp=$(jget "$j" prefill.tok_s.median)
    tg=$(jget "$j" decode.tok_s.median)
    np=$(jget "$j" prefill.n_tokens)
    ng=$(jget "$j" decode.n_tokens)
    [ "$np" = 0 ] && pp=-
    [ "$ng" = 0 ] && tg=-
    # the baseline is pp512/tg128: a ratio against another size is only indicative
    printf '| %-12s | %-3s | %-8s | %-8s | %-9s | %-9s | %-8s | %-8s | %-11s | %-9s | %-10s | %-7s | %-9s | %-9s |\n' \
        "$r" "$(jget "$j" threads)" "pp$np" "$(fmt %.2f "$pp")" "$bpp" "$(ratio "$pp" "$bpp")" \
        "tg$ng" "$(fmt %.2f "$tg")" "$btg" "$(ratio "$tg" "$btg")" \
        "$(fmt %.3f "$(awk -v b="$(jget "$j" decode.read_per_token_bytes)" 'BEGIN { print b / 1e9 }')")" \
        "$(fmt %.2f "$(jget "$j" decode.gb_s)")" \
        "$(awk -v e="$(jget "$j" decode.efficiency)" -v g="$(jget "$j" probe.gb_s)" \
            'BEGIN { if (e == "-" || e + 0 == 0) print "-"; else printf "%.1f%% of %.1f", e * 100, g }')" \
        "$(awk -v e="$(jget "$j" decode.efficiency_interleaved.median)" \
            'BEGIN { if (e == "-" || e + 0 == 0) print "-"; else printf "%.1f%%", e * 100 }')"
done
echo
printf '| %-12s | %-10s | %-10s | %-12s | %-12s | %-12s | %-10s | %-17s |\n' run "file GB" "load ms" "RSS load GB" \
    "RSS runs GB" "RSS peak GB" "anon GB" "others' CPU pp/tg"
printf '| %s |\n' "--- | --- | --- | --- | --- | --- | --- | ---"
for r in $RESULTS; do
    j=$OUT/$r.json
    gb() { awk -v b="$1" 'BEGIN { if (b == "-") print "-"; else printf "%.3f", b / 1e9 }'; }
    pct() { awk -v v="$1" 'BEGIN { if (v == "-" || v < 0) print "-"; else printf "%.0f%%", v * 100 }'; }
    o_pp=$(pct "$(jget "$j" prefill.cpu_others)")
    o_tg=$(pct "$(jget "$j" decode.cpu_others)")
    [ "$(jget "$j" prefill.runs)" = 0 ] && o_pp=-
    [ "$(jget "$j" decode.runs)" = 0 ] && o_tg=-
    printf '| %-12s | %-10s | %-10s | %-12s | %-12s | %-12s | %-10s | %-17s |\n' "$r" \
        "$(gb "$(jget "$j" model.file_bytes)")" "$(fmt %.1f "$(jget "$j" load.ms.median)")" \
        "$(gb "$(jget "$j" rss.after_load_bytes)")" "$(gb "$(jget "$j" rss.after_runs_bytes)")" \
        "$(gb "$(jget "$j" rss.peak_bytes)")" "$(gb "$(jget "$j" rss.after_runs_anon_bytes)")" "$o_pp / $o_tg"
done
echo "others' CPU: the share of the machine's CPUs other processes used during the timed runs;"
echo "above ~10% the figures are not reliable (the 2-thread runs wait for a preempted thread)"
if [ "$(jget "$OUT/$first.json" simd)" = scalar ]; then
    echo
    echo "note: the scalar kernels ran (no SIMD level in use)"
fi
if [ "$P" != 512 ] || [ "$N" != 128 ]; then
    echo "note: pp$P/tg$N, not the baseline's pp512/tg128: ratios are indicative"
fi
echo "JSON of each run: $OUT/<run>.json"
