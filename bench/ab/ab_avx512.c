/*
 * ab_avx512 - two builds of lib/kernels/x86/kernels_avx512.c side by side.
 *
 * bench/ab/run.sh compiles the two sources into var_a and var_b (one weight
 * type's GEMM each) and links them here. This program checks that both give
 * the same output bits on one random matrix, then times them call by call,
 * alternating which goes first, and prints each side's best and median rate
 * and the median (and quartiles) of the per-round speed ratios B/A.
 *
 * Why: the development VM's speed drifts by tens of percent within minutes,
 * so two benchmark runs minutes apart cannot be compared; two calls a
 * fraction of a second apart can.
 *
 *   ab_avx512 TYPE ROWS N_IN TOKENS ROUNDS THREADS
 *
 * TYPE is a quantized weight type (q4_0, q8_0, q4_K, q6_K, ...); TOKENS 1-3
 * is the decode path and then the rate is GB/s of weights, else GOP/s. The
 * rows are split over THREADS like qwq-bench-kernels does (bench_common.h).
 * The weights are bench_fill_weights' random blocks, in 4 KiB pages unless
 * AB_HUGE is set in the environment (then MADV_HUGEPAGE). Decode runs over
 * as many copies of the matrix as make 512 MiB, one call per copy, so that
 * it reads from memory: a single matrix of 150 MB still hit the L3 often
 * enough to report 86-90 GB/s on two threads where memory gives 60-68.
 * AB_ONE_COPY in the environment keeps one copy (a small matrix then stays
 * in the caches, as long as the kernel's prefetches are not non-temporal:
 * lines fetched with prefetchnta skip the L2 and L3 on their way out).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "../bench_common.h"
#include "kernels/quant.h"

void var_a(const uint8_t *, size_t, const uint8_t *, size_t, int64_t, int64_t, int64_t, int32_t, float *, int64_t);
void var_b(const uint8_t *, size_t, const uint8_t *, size_t, int64_t, int64_t, int64_t, int32_t, float *, int64_t);

/* one call per copy of the matrix (copies at w + c * stride) */
static double timed_call(thread_pool *pool, bench_gemm_job job, int copies, size_t stride) {
    const uint8_t *w0 = job.w;
    const double t0 = now_s();
    for (int c = 0; c < copies; c++) {
        job.w = w0 + (size_t)c * stride;
        pool_run(pool, bench_gemm_work, &job);
    }
    return now_s() - t0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: ab_avx512 TYPE ROWS N_IN TOKENS ROUNDS THREADS\n");
        return 2;
    }
    int type = -1;
    for (uint32_t id = 0; id < QTYPE_COUNT && type < 0; id++) {
        const qtype_info *qi = qtype_get(id);
        if (qi && qi->name && qi->supported && qi->n_scales && !strcasecmp(qi->name, argv[1])) type = (int)id;
    }
    const int64_t rows = atoll(argv[2]), n_in = atoll(argv[3]);
    const int n_tok = atoi(argv[4]), rounds = atoi(argv[5]), threads = atoi(argv[6]);
    const qtype_info *qi = type < 0 ? NULL : qtype_get((uint32_t)type);
    thread_pool *pool = NULL;
    if (!qi || rows < 16 || n_in <= 0 || n_in % (int64_t)quant_kernels_scalar((uint32_t)type)->row_align || n_tok < 1 ||
        rounds < 1 || rounds > 1000 || threads < 1 || threads > 64) {
        fprintf(stderr, "ab_avx512: bad arguments (TYPE a quantized weight type such as q4_0 or q4_K; N_IN a "
                        "multiple of its block)\n");
        return 2;
    }
    if (pool_new(threads, &pool) != QWQ_OK) return fprintf(stderr, "ab_avx512: cannot start %d threads\n", threads), 1;
    const size_t wrb = (size_t)n_in / qi->block_elems * qi->block_bytes, arb = quant_act_row_size((uint32_t)type, n_in);
    const size_t wbytes = wrb * (size_t)rows, huge = (size_t)2 << 20, stride = (wbytes + huge - 1) / huge * huge;
    int copies = n_tok < 4 && stride < ((size_t)512 << 20) ? (int)((((size_t)512 << 20) + stride - 1) / stride) : 1;
    if (getenv("AB_ONE_COPY")) copies = 1; /* e.g. to time a matrix that stays in the caches */
    uint8_t *w = aligned_alloc(huge, stride * (size_t)copies);
    uint8_t *act = malloc(arb * (size_t)n_tok);
    float *x = malloc(sizeof(float) * (size_t)n_in);
    float *ya = malloc(sizeof(float) * (size_t)rows * (size_t)n_tok), *yb = malloc(sizeof(float) * (size_t)rows * (size_t)n_tok);
    double *ra = malloc(sizeof(double) * (size_t)rounds * 3), *rb = ra + rounds, *ratio = rb + rounds;
    if (!w || !act || !x || !ya || !yb || !ra) return fprintf(stderr, "ab_avx512: out of memory\n"), 1;
    if (getenv("AB_HUGE")) (void)madvise(w, stride * (size_t)copies, MADV_HUGEPAGE);

    /* random weights with small scales; activations quantized from random
     * floats in [-1, 1) by the scalar level */
    uint64_t rng = 1;
    bench_fill_weights(w, wbytes, (uint32_t)type, &rng);
    for (int c = 1; c < copies; c++) memcpy(w + (size_t)c * stride, w, wbytes);
    for (int t = 0; t < n_tok; t++) {
        for (int64_t i = 0; i < n_in; i++) x[i] = (float)((double)(rng_next(&rng) >> 11) / 4503599627370496.0 - 1.0);
        kernels_level(QWQ_SIMD_SCALAR)->quantize[type](x, act + (size_t)t * arb, n_in);
    }

    const bench_gemm_job ja = {var_a, w, wrb, act, arb, n_in, rows, n_tok, ya}, jb = {var_b, w, wrb, act, arb, n_in, rows, n_tok, yb};
    timed_call(pool, ja, 1, stride);
    timed_call(pool, jb, 1, stride);
    double maxd = 0;
    for (size_t i = 0; i < (size_t)rows * (size_t)n_tok; i++) maxd = fmax(maxd, fabs((double)ya[i] - (double)yb[i]));
    const int same = !memcmp(ya, yb, sizeof(float) * (size_t)rows * (size_t)n_tok);
    printf("%s %lldx%lld, %d token(s), %d thread(s), %s pages, %d cop%s: outputs %s (max difference %g)\n", qi->name,
           (long long)rows, (long long)n_in, n_tok, threads, getenv("AB_HUGE") ? "2 MiB" : "4 KiB", copies,
           copies == 1 ? "y" : "ies",
           same ? "bit-identical" : "DIFFER", maxd);

    const int decode = n_tok < 4;
    const double work = decode ? (double)wbytes * copies : 2.0 * (double)rows * (double)n_in * (double)n_tok;
    for (int i = 0; i < rounds; i++) {
        double ta, tb;
        if (i % 2 == 0) ta = timed_call(pool, ja, copies, stride), tb = timed_call(pool, jb, copies, stride);
        else tb = timed_call(pool, jb, copies, stride), ta = timed_call(pool, ja, copies, stride);
        ra[i] = work / ta / 1e9, rb[i] = work / tb / 1e9, ratio[i] = ta / tb;
    }
    const stats sa = summarize(ra, rounds), sb = summarize(rb, rounds);
    (void)summarize(ratio, rounds); /* sorts the ratios for the quartiles */
    const char *unit = decode ? "GB/s" : "GOP/s";
    printf("A: best %.1f median %.1f %s | B: best %.1f median %.1f %s | B/A median %.3f (quartiles %.3f %.3f, %d rounds)\n",
           sa.max, sa.med, unit, sb.max, sb.med, unit, ratio[rounds / 2], ratio[rounds / 4], ratio[3 * rounds / 4], rounds);
    pool_free(pool);
    return same ? 0 : 3;
}
