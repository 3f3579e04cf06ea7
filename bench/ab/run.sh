#!/bin/sh
# run.sh - A/B timing of two versions of the AVX-512 kernels, alternating call
# by call in one process (bench/ab/ab_avx512.c says why and how).
#
#   sh bench/ab/run.sh [-a OLD.c] [-b NEW.c] [TYPE ROWS N_IN TOKENS ROUNDS THREADS]
#
#   -a FILE   version A (default: lib/kernels/x86/kernels_avx512.c as committed, git HEAD)
#   -b FILE   version B (default: the working tree's)
#   defaults of the rest: q4_0 27648 5120 256 11 1 (prefill; TOKENS 1-3 times decode)
#
# Builds into build/ab/ (the library must be built: make). Exits 3 when the
# two versions' outputs differ in any bit (the timing is printed anyway).
set -eu
cd "$(dirname "$0")/../.."
SRC=lib/kernels/x86/kernels_avx512.c
OUT=build/ab
A=""
B=$SRC
while [ $# -gt 0 ]; do
    case $1 in
    -a) A=$2; shift 2 ;;
    -b) B=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
    esac
done
TYPE=${1:-q4_0} ROWS=${2:-27648} N_IN=${3:-5120} TOKENS=${4:-256} ROUNDS=${5:-11} THREADS=${6:-1}
mkdir -p "$OUT"
[ -n "$A" ] || { git show "HEAD:$SRC" >"$OUT/head.c"; A=$OUT/head.c; }
make -s all >/dev/null
# the type's GEMM in kernels_avx512.c: q4_K -> gemm_Q4_K_avx512
FN=gemm_$(echo "$TYPE" | tr 'a-z' 'A-Z')_avx512
ISA="-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c -mavx2"
for v in a b; do
    src=$A
    [ $v = b ] && src=$B
    # a copy whose table filler is renamed (both objects are linked), plus
    # an exported wrapper around the one static GEMM being measured
    sed "s/kernels_fill_avx512/kernels_fill_avx512_$v/" "$src" >"$OUT/var_$v.c"
    printf '\nvoid var_%s(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,\n    int64_t r1, int32_t n_tok, float *y, int64_t ys);\nvoid var_%s(const uint8_t *w, size_t wrb, const uint8_t *act, size_t arb, int64_t n_in, int64_t r0,\n    int64_t r1, int32_t n_tok, float *y, int64_t ys) { %s(w, wrb, act, arb, n_in, r0, r1, n_tok, y, ys); }\n' \
        $v $v "$FN" >>"$OUT/var_$v.c"
    cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Ilib -ffp-contract=off -DQWQ_BUILDING_LIBRARY \
        $ISA -w -c "$OUT/var_$v.c" -o "$OUT/var_$v.o"
done
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Iinclude -Ilib bench/ab/ab_avx512.c "$OUT/var_a.o" "$OUT/var_b.o" \
    build/libqwq-internal.a -lm -pthread -o "$OUT/ab_avx512"
exec "$OUT/ab_avx512" "$TYPE" "$ROWS" "$N_IN" "$TOKENS" "$ROUNDS" "$THREADS"
